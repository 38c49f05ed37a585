"""Answers with checked citations: evidence selection, prompting, streaming.

The flow of one turn: number the retrieved papers with the conversation's stable numbers,
pick the abstract sentences that bear on the question, prompt the model within its
window, stream its text, then keep only citations that an abstract sentence supports
(``rag.citations``) and attribute uncited sentences that one source clearly supports.
A reply that leaves nothing after that is said to have failed, never passed off as "no papers".
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rag.citations import LEXICAL_WEIGHT, check_citations
from rag.conversation import Conversation
from rag.embedders import EmbeddingCache, TextEmbedder, cosine
from rag.llm.base import ChatMessage, ChatModel, GenerationOptions, iterate_async
from rag.prompts import (
    EXCERPT_TEMPLATE,
    NOT_IN_LIBRARY,
    SYSTEM_PROMPT,
    UNUSABLE_REPLY,
    UNUSABLE_REPLY_NOTHING_TO_QUOTE,
    USER_TEMPLATE,
)
from rag.settings import Settings
from rag.text import (
    MARKER,
    append_marker,
    content_words,
    overlap,
    split_sentences,
    strip_markers,
)
from rag.types import Answer, Citation, Hit, Paper, Timings

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


# --- evidence ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """The sentences of one paper's abstract that bear most on the question, in order."""

    paper_id: str
    title: str
    sentences: tuple[str, ...]
    scores: tuple[float, ...]
    paper: Paper | None = None

    @property
    def best(self) -> float:
        return max(self.scores, default=0.0)


def select_evidence(
    question: str,
    hits: Sequence[Hit],
    embedder: TextEmbedder,
    *,
    per_paper: int = 2,
    max_papers: int = 4,
    cache: EmbeddingCache | None = None,
) -> list[Evidence]:
    """For each of the top ``max_papers`` hits, the ``per_paper`` abstract sentences most
    similar to the question (MiniLM cosine plus a small bonus for shared words)."""
    vectors = cache or EmbeddingCache(embedder)
    top = list(hits)[:max_papers]
    all_sentences = [s for h in top for s in split_sentences(h.paper.abstract)]
    qv = vectors.get([question, *all_sentences])[0]
    out: list[Evidence] = []
    for hit in top:
        sentences = split_sentences(hit.paper.abstract)
        if not sentences:
            continue
        scored = [
            (cosine(qv, v) + LEXICAL_WEIGHT * overlap(question, s), i)
            for i, (s, v) in enumerate(zip(sentences, vectors.get(sentences), strict=True))
        ]
        chosen = sorted(sorted(scored, reverse=True)[:per_paper], key=lambda t: t[1])
        out.append(
            Evidence(
                paper_id=hit.paper.paper_id,
                title=hit.paper.title,
                sentences=tuple(sentences[i] for _, i in chosen),
                scores=tuple(round(score, 4) for score, _ in chosen),
                paper=hit.paper,
            )
        )
    return out


# --- model output -----------------------------------------------------------------------

# Where a document model starts inventing the next part of the page.
_INVENTED = re.compile(
    r"(?:^|\s)(?:Question|Excerpts|Answer|Q|Title)\s*:|\n\s*\[\d+\]\s*Title\b"
    r"|<end_of_turn>|<start_of_turn>"
)
# A chat model's label before its answer ("Answer:", "**Answer:**", "Excerpts:"), or an
# echoed "Question: ..." up to the "Answer:" that follows it.
_LEADING_LABEL = re.compile(
    r"^[\s*_#>]*(?:(?:answer|excerpts)\b|question\b[*_\s]*:.*?\banswer\b)[*_\s]*:[*_\s]*",
    re.IGNORECASE | re.DOTALL,
)
_WORD_CHAR = re.compile(r"\w")


def cut_invented(text: str) -> str:
    """``text`` up to where a document model starts writing the next part of the page.

    Only for models that write documents (``ChatModel.writes_documents``): a chat model
    may well begin its reply with "Answer:", and cutting there would leave nothing.
    """
    m = _INVENTED.search(text)
    return text[: m.start()] if m else text


def strip_answer_label(text: str) -> str:
    """``text`` without a chat model's leading "Answer:" (or "Excerpts:") label."""
    while m := _LEADING_LABEL.match(text):
        text = text[m.end() :]
    return text


def clean_model_text(text: str, *, document: bool) -> str:
    """The answer in a model's reply: cut a document model's invented follow-up (or strip
    a chat model's "Answer:" label), then drop repeated sentences and word loops."""
    text = (cut_invented(text) if document else strip_answer_label(text)).strip()
    seen: set[str] = set()
    kept: list[str] = []
    for sentence in split_sentences(text):
        key = " ".join(content_words(strip_markers(sentence))) or sentence.strip().lower()
        if key in seen:
            continue
        seen.add(key)
        kept.append(sentence)
    # A sentence repeating one word ("the the the the") is a loop, not prose.
    text = " ".join(kept)
    return re.sub(r"\b(\w+)(?:\s+\1\b){3,}", r"\1", text, flags=re.I).strip()


def has_words(text: str) -> bool:
    """Whether ``text`` says anything beyond citation markers and punctuation."""
    return bool(_WORD_CHAR.search(strip_markers(text)))


def why_unusable(raw: str) -> str:
    """Why a model reply left no answer after cleaning, in words for the researcher."""
    if not raw.strip():
        return "it was empty"
    if not has_words(raw):
        return "it held only citation numbers" if MARKER.search(raw) else "it held no words"
    start = " ".join(raw.split())
    start = start if len(start) <= 40 else start[:40].rstrip() + "…"
    return f"it held no answer, only {start!r}"


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


def extractive_answer(evidence: Sequence[Evidence], numbers: Mapping[str, int]) -> str:
    """The 2-4 most relevant evidence sentences, each followed by its citation."""
    ranked = sorted(
        ((score, -i, s, e.paper_id) for i, e in enumerate(evidence)
         for s, score in zip(e.sentences, e.scores, strict=True)),
        key=lambda t: (t[0], t[1]),
        reverse=True,
    )  # fmt: skip
    if not ranked or ranked[0][0] < EXTRACTIVE_MIN_SCORE:
        return NOT_IN_LIBRARY
    best = ranked[0][0]
    chosen: list[tuple[float, int, str, str]] = []
    per_paper: dict[str, int] = {}
    for item in ranked:
        score, _, _, pid = item
        if len(chosen) >= 4 or (len(chosen) >= 2 and score < best - 0.15):
            break
        if per_paper.get(pid, 0) >= 2:
            continue
        per_paper[pid] = per_paper.get(pid, 0) + 1
        chosen.append(item)
    # Keep the reading order: by paper rank, then as the sentences were listed.
    order = {
        (e.paper_id, s): (i, j) for i, e in enumerate(evidence) for j, s in enumerate(e.sentences)
    }
    chosen.sort(key=lambda t: order[(t[3], t[2])])
    return " ".join(append_marker(s.strip(), numbers[pid]) for _, _, s, pid in chosen)


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
) -> AsyncIterator[AnswerEvent]:
    """Answer ``question`` from ``hits``: sources first, then the model's text as it
    streams, then the checked answer. ``chat=None`` answers extractively, without a model.

    ``standalone_question`` (from :func:`condense_question`) picks the evidence sentences;
    the model is asked the question as the user wrote it. The turn is added to
    ``conversation`` just before :class:`AnswerDone` is yielded.

    A reply is never dropped in silence: when nothing of it survives cleaning and checking
    (empty, only citation numbers, only an invented "Question:"), the answer is the
    extractive one after a note saying why (``prompts.UNUSABLE_REPLY``), or, with no
    abstract sentence close enough to quote, that reason alone, declined.
    """
    started = time.perf_counter()
    hits = list(hits)
    numbers = {h.paper.paper_id: conversation.number_for(h.paper.paper_id) for h in hits}
    yield SourcesReady(hits=hits, numbers=dict(numbers))
    backend = chat.backend if chat is not None else "extractive"
    model = (chat.model if chat is not None else "") or "extractive"
    timings = Timings(retrieval_ms=retrieval_ms)

    def finish(text: str, raw: str, citations: list[Citation], declined: bool) -> Answer:
        timings.total_ms = retrieval_ms + (time.perf_counter() - started) * 1000
        done = Answer(
            question=question, text=text, raw_text=raw, citations=citations, sources=hits,
            backend=backend, model=model, timings=timings, declined=declined,
            standalone_question=standalone_question,
        )  # fmt: skip
        conversation.add_turn(question, done)
        return done

    if not hits:
        timings.first_token_ms = (time.perf_counter() - started) * 1000
        yield TextDelta(NOT_IN_LIBRARY)
        yield AnswerDone(finish(NOT_IN_LIBRARY, NOT_IN_LIBRARY, [], True))
        return

    vectors = EmbeddingCache(embedder)
    evidence = await asyncio.to_thread(
        select_evidence, standalone_question or question, hits, embedder, cache=vectors
    )
    numbered = {numbers[h.paper.paper_id]: h.paper for h in hits}

    if chat is None:
        raw = extractive_answer(evidence, numbers)
        timings.first_token_ms = (time.perf_counter() - started) * 1000
        yield TextDelta(raw)
        if raw == NOT_IN_LIBRARY:
            yield AnswerDone(finish(raw, raw, [], True))
            return
        text, citations = await asyncio.to_thread(
            check_citations, raw, numbered, embedder, attribute=False, cache=vectors
        )
        yield AnswerDone(finish(text, raw, citations, False))
        return

    max_answer = settings.llm.max_answer_tokens
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
    raw_parts: list[str] = []
    invented = ""  # what a document model wrote past its answer (a reason may quote it)
    stream = chat.astream_chat(messages, options)
    try:
        async for delta in stream:
            if not delta:
                continue
            if timings.first_token_ms is None:
                timings.first_token_ms = (time.perf_counter() - started) * 1000
            if document:
                so_far = "".join(raw_parts)
                cut = cut_invented(so_far + delta)
                if len(cut) < len(so_far) + len(delta):
                    # The model began a new "Question:" and the like: stop reading.
                    tail = cut[len(so_far) :]
                    invented = delta[len(tail) :]
                    if tail:
                        raw_parts.append(tail)
                        yield TextDelta(tail)
                    break
            raw_parts.append(delta)
            yield TextDelta(delta)
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
    raw = "".join(raw_parts)
    cleaned = clean_model_text(raw, document=document)
    if has_words(cleaned):
        if NOT_IN_LIBRARY.lower().rstrip(".") in cleaned.lower():
            yield AnswerDone(finish(NOT_IN_LIBRARY, raw, [], True))
            return
        text, citations = await asyncio.to_thread(
            check_citations, cleaned, numbered, embedder, cache=vectors
        )
        if has_words(text):
            yield AnswerDone(finish(text, raw, citations, False))
            return
    # Nothing of the reply survived (empty, only citation numbers, only an invented
    # "Question:"). Saying "no papers" would be false: the papers are there, the model
    # failed. The researcher gets the abstract sentences closest to the question, as
    # --llm none would give them, after a note saying why; or, when no sentence is close
    # enough to quote, that reason alone, on one line.
    why = why_unusable(raw + invented)
    fallback = extractive_answer(evidence, numbers)
    if fallback == NOT_IN_LIBRARY:
        note = UNUSABLE_REPLY_NOTHING_TO_QUOTE.format(why=why)
        yield AnswerDone(finish(note, raw, [], True))
        return
    text, citations = await asyncio.to_thread(
        check_citations, fallback, numbered, embedder, attribute=False, cache=vectors
    )
    yield AnswerDone(finish(f"{UNUSABLE_REPLY.format(why=why)}\n\n{text}", raw, citations, False))


def stream_answer(question: str, hits: Sequence[Hit], **kwargs: Any) -> Iterator[AnswerEvent]:
    """Sync twin of :func:`astream_answer` (same keyword arguments)."""
    yield from iterate_async(astream_answer(question, hits, **kwargs))


def answer(question: str, hits: Sequence[Hit], **kwargs: Any) -> Answer:
    """The checked answer, without streaming (same keyword arguments as :func:`astream_answer`)."""
    for event in stream_answer(question, hits, **kwargs):
        if isinstance(event, AnswerDone):
            return event.answer
    raise RuntimeError("the answer stream ended without an answer")  # pragma: no cover
