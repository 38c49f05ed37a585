"""Answers with checked citations: evidence selection, prompting, streaming.

The flow of one turn: number the retrieved papers with the conversation's stable numbers,
pick the abstract sentences that bear on the question, prompt the model within its
window, stream its text, then keep only citations that an abstract sentence supports
(``rag.citations``) and attribute uncited sentences that one source clearly supports.
A reply that leaves nothing after that is said to have failed, never passed off as "no papers".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rag.citations import check_sentences, citations_of, compose
from rag.conversation import Conversation
from rag.embedders import EmbeddingCache, TextEmbedder
from rag.evidence import Evidence, select_evidence
from rag.llm.base import ChatMessage, ChatModel, GenerationOptions, iterate_async
from rag.model_text import (
    clean_model_text,
    cut_invented,
    has_words,
    strip_answer_label,
    why_unusable,
)
from rag.prompts import (
    EXCERPT_TEMPLATE,
    NOT_IN_LIBRARY,
    QUOTES_ONLY,
    SYSTEM_PROMPT,
    UNUSABLE_REPLY,
    UNUSABLE_REPLY_NOTHING_TO_QUOTE,
    USER_TEMPLATE,
)
from rag.sentence_gate import SentenceGate, numbers_in
from rag.settings import Settings
from rag.text import (
    append_marker,
)
from rag.types import UNSUPPORTED, Answer, Hit, Sentence, Timings

__all__ = [
    "AnswerDone",
    "AnswerEvent",
    "Evidence",
    "SourcesReady",
    "TextDelta",
    "answer",
    "astream_answer",
    "clean_model_text",
    "cut_invented",
    "extractive_answer",
    "has_words",
    "select_evidence",
    "stream_answer",
    "strip_answer_label",
    "why_unusable",
]

# Below this relevance of its best evidence sentence, the extractive answer declines.
EXTRACTIVE_MIN_SCORE = 0.2

# Tokens kept free beyond prompt + answer when sizing num_ctx (tokenizer estimates drift).
_CTX_MARGIN = 64
# Longest text a quotes-first model (``ChatModel.quotes_first``) adds after the quotes.
QUOTES_FIRST_TOKENS = 80
_CTX_CAP = 8192


# --- events -----------------------------------------------------------------------------


@dataclass
class SourcesReady:
    """The papers the answer may cite, with their citation numbers; sent before any model call."""

    hits: list[Hit]
    numbers: dict[str, int]


@dataclass
class TextDelta:
    """A piece of the model's raw text as it streams."""

    text: str


@dataclass
class AnswerDone:
    """The checked answer; the conversation already holds this turn."""

    answer: Answer


AnswerEvent = SourcesReady | TextDelta | AnswerDone


# --- prompting --------------------------------------------------------------------------


def _build_messages(
    question: str, evidence: Sequence[Evidence], numbers: Mapping[str, int]
) -> list[ChatMessage]:
    excerpts = "\n\n".join(
        EXCERPT_TEMPLATE.format(
            n=numbers[e.paper_id], title=e.title, evidence=" ".join(e.sentences)
        )
        for e in evidence
    )
    return [
        ChatMessage("system", SYSTEM_PROMPT),
        ChatMessage("user", USER_TEMPLATE.format(excerpts=excerpts, question=question)),
    ]


def _fit_prompt(
    chat: ChatModel,
    question: str,
    evidence: list[Evidence],
    numbers: Mapping[str, int],
    max_answer: int,
) -> tuple[list[ChatMessage], int]:
    """The prompt with as many papers' evidence as fit the window, and its size in tokens.

    The lowest-ranked papers go first; the last paper left is cut to its best sentence.
    """
    window = chat.context_window()
    kept = list(evidence)
    while True:
        messages = _build_messages(question, kept, numbers)
        tokens = chat.prompt_tokens(messages)
        if tokens + max_answer + _CTX_MARGIN <= window or not kept:
            return messages, tokens
        if len(kept) > 1:
            kept.pop()
        elif len(kept[0].sentences) > 1:
            e = kept[0]
            i = e.scores.index(max(e.scores))
            kept = [Evidence(e.paper_id, e.title, (e.sentences[i],), (e.scores[i],), e.paper)]
        else:
            return messages, tokens


# --- the answer -------------------------------------------------------------------------


def extractive_quotes(
    evidence: Sequence[Evidence], *, paper_gap: float | None = None
) -> list[tuple[str, str]]:
    """The 2-4 most relevant evidence sentences as (sentence, paper id), in reading order;
    empty when none is relevant enough to quote.

    ``paper_gap``: a paper is quoted only when its best sentence is within this of the best
    paper's, so a question about one paper is not padded with true sentences of papers
    beside the point (``settings.answer.paper_gap``; None: no such gate).
    """
    ranked = sorted(
        ((score, -i, s, e.paper_id) for i, e in enumerate(evidence)
         for s, score in zip(e.sentences, e.scores, strict=True)),
        key=lambda t: (t[0], t[1]),
        reverse=True,
    )  # fmt: skip
    if not ranked or ranked[0][0] < EXTRACTIVE_MIN_SCORE:
        return []
    best = ranked[0][0]
    on_target = {e.paper_id for e in evidence if paper_gap is None or e.best >= best - paper_gap}
    chosen: list[tuple[float, int, str, str]] = []
    per_paper: dict[str, int] = {}
    for item in ranked:
        score, _, _, pid = item
        if len(chosen) >= 4 or (len(chosen) >= 2 and score < best - 0.15):
            break
        if per_paper.get(pid, 0) >= 2 or pid not in on_target:
            continue
        per_paper[pid] = per_paper.get(pid, 0) + 1
        chosen.append(item)
    # Keep the reading order: by paper rank, then as the sentences were listed.
    order = {
        (e.paper_id, s): (i, j) for i, e in enumerate(evidence) for j, s in enumerate(e.sentences)
    }
    chosen.sort(key=lambda t: order[(t[3], t[2])])
    return [(s.strip(), pid) for _, _, s, pid in chosen]


def extractive_answer(evidence: Sequence[Evidence], numbers: Mapping[str, int]) -> str:
    """The 2-4 most relevant evidence sentences, each followed by its citation."""
    quotes = extractive_quotes(evidence)
    if not quotes:
        return NOT_IN_LIBRARY
    return " ".join(append_marker(s, numbers[pid]) for s, pid in quotes)


def _backfill(
    shown: Sequence[Sentence], quotes: Sequence[tuple[str, str]], numbers: Mapping[str, int]
) -> str:
    """The quotes the model's shown sentences do not already carry, each with its citation.

    A quote is carried when a shown sentence cites its paper and keeps every figure of it;
    otherwise it follows the model's text, so a checked answer never says less than the
    extractive one (a 270M model's sentences mostly fail the check or drop the figures the
    question asks for), while a capable model that cites each paper with its figures gets
    nothing added.
    """
    cited = [(set(s.citations), numbers_in(s.text)) for s in shown if s.status != UNSUPPORTED]
    out = []
    for sentence, pid in quotes:
        n, need = numbers[pid], numbers_in(sentence)
        if any(n in ns and need <= have for ns, have in cited):
            continue
        out.append(append_marker(sentence, n))
    return " ".join(out)


def _shown_piece(sentences: Sequence[Sentence], show_unsupported: bool, first: bool) -> str:
    text = compose(sentences, show_unsupported=show_unsupported)
    if not text:
        return ""
    lead = next((s.lead for s in sentences if show_unsupported or s.status != UNSUPPORTED), " ")
    return text if first else (lead or " ") + text


async def astream_answer(
    question: str,
    hits: Sequence[Hit],
    *,
    conversation: Conversation,
    chat: ChatModel | None,
    embedder: TextEmbedder,
    settings: Settings,
    retrieval_ms: float = 0.0,
    standalone_question: str | None = None,
    show_unsupported: bool = False,
) -> AsyncIterator[AnswerEvent]:
    """Answer ``question`` from ``hits``: sources first, then the checked answer's text as
    it streams, then the answer. ``chat=None`` answers extractively, without a model.

    Every sentence the model writes is checked before it is shown (``rag.citations``):
    supported and attributed sentences stream; unsupported ones are kept in
    ``Answer.sentences`` but shown only with ``show_unsupported`` (marked). After the model's
    text come the evidence sentences it did not carry (``_backfill``), so the checked answer
    never says less than the extractive one; when nothing of the model's text holds,
    ``Answer.note`` says so.

    ``standalone_question`` (from :func:`condense_question`) picks the evidence sentences;
    the model is asked the question as the user wrote it. The turn is added to
    ``conversation`` just before :class:`AnswerDone` is yielded.
    """
    started = time.perf_counter()
    hits = list(hits)
    numbers = {h.paper.paper_id: conversation.number_for(h.paper.paper_id) for h in hits}
    yield SourcesReady(hits=hits, numbers=dict(numbers))
    backend = chat.backend if chat is not None else "extractive"
    model = (chat.model if chat is not None else "") or "extractive"
    timings = Timings(retrieval_ms=retrieval_ms)
    sentences: list[Sentence] = []

    def first_text() -> None:
        if timings.first_token_ms is None:
            timings.first_token_ms = (time.perf_counter() - started) * 1000

    def finish(text: str, raw: str, declined: bool, note: str = "") -> Answer:
        timings.total_ms = retrieval_ms + (time.perf_counter() - started) * 1000
        done = Answer(
            question=question, text=text, raw_text=raw,
            citations=citations_of(sentences, numbered), sources=hits,
            backend=backend, model=model, timings=timings, declined=declined,
            standalone_question=standalone_question, sentences=list(sentences), note=note,
        )  # fmt: skip
        conversation.add_turn(question, done)
        return done

    numbered = {numbers[h.paper.paper_id]: h.paper for h in hits}
    if not hits:
        first_text()
        yield TextDelta(NOT_IN_LIBRARY)
        yield AnswerDone(finish(NOT_IN_LIBRARY, NOT_IN_LIBRARY, True))
        return

    vectors = EmbeddingCache(embedder)
    evidence = await asyncio.to_thread(
        select_evidence, standalone_question or question, hits, embedder, cache=vectors
    )
    quotes = extractive_quotes(evidence, paper_gap=settings.answer.paper_gap)

    async def quoted(text: str, *, first: bool) -> AsyncIterator[TextDelta]:
        checked = await asyncio.to_thread(
            check_sentences, text, numbered, embedder,
            attribute=False, cache=vectors, origin="abstract",
        )  # fmt: skip
        if checked and not first:
            checked[0].lead = " "
        sentences.extend(checked)
        piece = _shown_piece(checked, False, first)
        if piece:
            first_text()
            yield TextDelta(piece)

    if chat is None:
        if not quotes:
            first_text()
            yield TextDelta(NOT_IN_LIBRARY)
            yield AnswerDone(finish(NOT_IN_LIBRARY, NOT_IN_LIBRARY, True))
            return
        raw = _backfill([], quotes, numbers)
        async for d in quoted(raw, first=True):
            yield d
        yield AnswerDone(finish(compose(sentences), raw, False))
        return

    max_answer = settings.llm.max_answer_tokens
    lead_with_quotes = chat.quotes_first() and bool(quotes)
    if lead_with_quotes:
        # The model only adds checked sentences after the quotes: a sentence or two.
        max_answer = min(max_answer, QUOTES_FIRST_TOKENS)
    messages, prompt_tokens = await asyncio.to_thread(
        _fit_prompt, chat, question, evidence, numbers, max_answer
    )
    window = chat.context_window()
    options = GenerationOptions(
        max_tokens=max_answer,
        temperature=settings.llm.temperature,
        stop=chat.stop_strings(),
        num_ctx=min(window, prompt_tokens + max_answer + _CTX_MARGIN, _CTX_CAP),
        timeout_s=settings.llm.timeout_s,
    )
    # A base model continues the document past its answer; a chat model's reply is the answer.
    document = chat.writes_documents()
    gate = SentenceGate(numbered, embedder, vectors, document=document)
    raw_parts: list[str] = []
    invented = ""  # what a document model wrote past its answer (a reason may quote it)
    shown_any = False
    if lead_with_quotes:
        async for d in quoted(_backfill([], quotes, numbers), first=True):
            yield d
        shown_any = True
        gate.already_shown([q for q, _ in quotes])

    def show(new: list[Sentence]) -> TextDelta | None:
        nonlocal shown_any
        piece = _shown_piece(new, show_unsupported, not shown_any)
        if not piece:
            return None
        shown_any = True
        first_text()
        return TextDelta(piece)

    stream = chat.astream_chat(messages, options)
    try:
        async for delta in stream:
            if not delta:
                continue
            if document:
                so_far = "".join(raw_parts)
                cut = cut_invented(so_far + delta)
                if len(cut) < len(so_far) + len(delta):
                    # The model began a new "Question:" and the like: stop reading.
                    tail = cut[len(so_far) :]
                    invented = delta[len(tail) :]
                    raw_parts.append(tail)
                    break
            raw_parts.append(delta)
            new = await asyncio.to_thread(gate.feed, "".join(raw_parts))
            if new and (piece := show(new)):
                yield piece
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
    raw = "".join(raw_parts)
    new = await asyncio.to_thread(gate.feed, raw, final=True)
    if new and (piece := show(new)):
        yield piece
    sentences.extend(gate.sentences)
    held = [s for s in gate.sentences if s.status != UNSUPPORTED]
    rest = "" if lead_with_quotes else _backfill(held, quotes, numbers)
    if rest:
        async for d in quoted(rest, first=not shown_any):
            yield d
    text = compose(sentences, show_unsupported=show_unsupported)
    if held:
        yield AnswerDone(finish(text, raw, False))
        return
    # Nothing the model wrote holds. Saying "no papers" would be false when there are
    # abstract sentences to quote: the researcher gets them, and the note says why.
    cleaned = clean_model_text(raw, document=document)
    if gate.declined:
        why = "the model found no answer in the excerpts"
    elif not has_words(cleaned):
        why = why_unusable(raw + invented)
    else:
        why = "no sentence of it is supported by the abstracts"
    if not quotes:
        first_text()
        if gate.declined or not has_words(cleaned):
            reason = (
                NOT_IN_LIBRARY if gate.declined else UNUSABLE_REPLY_NOTHING_TO_QUOTE.format(why=why)
            )
        else:
            reason = NOT_IN_LIBRARY
        yield TextDelta(reason)
        yield AnswerDone(finish(reason if not text else text, raw, not text))
        return
    note = (QUOTES_ONLY if lead_with_quotes else UNUSABLE_REPLY).format(why=why)
    yield AnswerDone(finish(text, raw, False, note=note))


def stream_answer(question: str, hits: Sequence[Hit], **kwargs: Any) -> Iterator[AnswerEvent]:
    """Sync twin of :func:`astream_answer` (same keyword arguments)."""
    yield from iterate_async(astream_answer(question, hits, **kwargs))


def answer(question: str, hits: Sequence[Hit], **kwargs: Any) -> Answer:
    """The checked answer, without streaming (same keyword arguments as :func:`astream_answer`)."""
    for event in stream_answer(question, hits, **kwargs):
        if isinstance(event, AnswerDone):
            return event.answer
    raise RuntimeError("the answer stream ended without an answer")  # pragma: no cover
