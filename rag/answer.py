"""Answers with checked citations: evidence selection, prompting, streaming, citation checks.

The flow of one turn: number the retrieved papers with the conversation's stable numbers,
pick the abstract sentences that bear on the question, prompt the model within its
window, stream its text, then keep only citations that an abstract sentence supports
(and attribute uncited sentences that one source clearly supports).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import unicodedata
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rag.llm.base import ChatMessage, ChatModel, GenerationOptions, iterate_async
from rag.prompts import (
    CONDENSE_PROMPT,
    EXCERPT_TEMPLATE,
    NOT_IN_LIBRARY,
    SYSTEM_PROMPT,
    USER_TEMPLATE,
)
from rag.settings import Settings
from rag.types import Answer, Citation, Hit, Paper, Timings

__all__ = [
    "ATTRIBUTION_MARGIN",
    "SUPPORT_THRESHOLD",
    "AnswerDone",
    "AnswerEvent",
    "Conversation",
    "EmbeddingCache",
    "Evidence",
    "SourcesReady",
    "TextDelta",
    "acondense_question",
    "answer",
    "astream_answer",
    "check_citations",
    "condense_question",
    "extractive_answer",
    "references_bibtex",
    "references_markdown",
    "select_evidence",
    "split_sentences",
    "stream_answer",
]

# Support score = MiniLM cosine + LEXICAL_WEIGHT * share of the claim's content words found
# in the abstract sentence (best over the title and the abstract's sentences). Measured on
# seed abstracts (the pairs in tests/answer/test_citations.py): paraphrased true claims
# scored 0.67-0.91; claims cited to an unrelated paper 0.20-0.41, and to a same-topic
# paper that says otherwise (binarisation claim cited to AWQ) 0.57. 0.6 sits in the gap.
SUPPORT_THRESHOLD = 0.6
# An uncited sentence is attributed only when its best source is this far ahead of the next.
ATTRIBUTION_MARGIN = 0.1
LEXICAL_WEIGHT = 0.15
# Below this relevance of its best evidence sentence, the extractive answer declines.
EXTRACTIVE_MIN_SCORE = 0.2

# Tokens kept free beyond prompt + answer when sizing num_ctx (tokenizer estimates drift).
_CTX_MARGIN = 64
_CTX_CAP = 8192
# Per-message overhead of a chat template, in tokens.
_MESSAGE_OVERHEAD = 8


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


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


# --- sentences and words ----------------------------------------------------------------

_ABBREVIATIONS = frozenset(
    {"e.g.", "i.e.", "al.", "etc.", "vs.", "cf.", "fig.", "figs.", "eq.", "eqs.", "sec.",
     "no.", "approx.", "resp.", "ref.", "refs.", "dr.", "mr.", "ms.", "st."}
)  # fmt: skip
# End punctuation (and closing quotes/brackets), whitespace, then what can start a sentence.
_BOUNDARY = re.compile(r"[.!?][\"')\]]*(\s+)(?=[\"'(\[]?[A-Z0-9])|\s*\n\s*")
# A citation marker: [1], [1, 2], [1;2], [1-3].
_MARKER = re.compile(r"\[\s*\d+(?:\s*[,;\u2013-]\s*\d+)*\s*\]")
_LEADING_MARKERS = re.compile(r"(?:\s*\[\s*\d+(?:\s*[,;\u2013-]\s*\d+)*\s*\])+[.!?]?")
_WORD = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")
_STOPWORDS = frozenset(
    """a an the and or but if of in on at to for from by with without about into over under
    is are was were be been being do does did doing have has had having can could will would
    shall should may might must this that these those it its they them their there here
    which who whom whose what when where why how than then so such as not no nor only also
    very more most much many some any each all both few other our we us you your i me my
    he she his her paper papers method methods approach model models propose proposed
    show shows shown use uses used using based new work one two get gets""".split()
)
_FOLLOWUP_PRONOUNS = frozenset({"it", "its", "they", "their", "them", "this", "that", "these",
                                "those", "he", "she", "his", "her"})  # fmt: skip
_FOLLOWUP_PHRASES = re.compile(
    r"\bthe (paper|papers|method|methods|approach|model|technique|authors|same|above)\b", re.I
)
# Questions with fewer content words than this are read as follow-ups in a conversation.
_FOLLOWUP_MAX_CONTENT_WORDS = 3


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences; robust to "e.g.", "et al.", initials and decimals."""
    return [text[a:b] for a, b in _sentence_spans(text)]


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace excluded. A citation marker written after
    the full stop ("... fast. [1] Next") stays with the sentence before it."""
    cuts: list[tuple[int, int]] = []  # (end of sentence, start of next)
    for m in _BOUNDARY.finditer(text):
        if m.group(1) is not None:  # a full stop and whitespace
            end = m.start(1)
            word = text[:end].rsplit(None, 1)[-1].lower() if text[:end].strip() else ""
            word = word.lstrip("(\"'")
            if word in _ABBREVIATIONS or re.fullmatch(r"[a-z]\.", word):
                continue  # an abbreviation or an initial, not the end of a sentence
        else:
            end = m.start()
        start = m.end()
        lead = _LEADING_MARKERS.match(text, start)
        # Only on the same line: a marker opening a new line starts something new.
        if lead and m.group(1) is not None and "\n" not in m.group(1):
            end = lead.end()
            start = lead.end()
        cuts.append((end, start))
    spans: list[tuple[int, int]] = []
    pos = 0
    for end, start in cuts:
        if start < pos:
            continue
        spans.append((pos, end))
        pos = start
    spans.append((pos, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


def _content_words(text: str) -> list[str]:
    norm = unicodedata.normalize("NFKC", text).lower()
    return [w for w in _WORD.findall(norm) if w not in _STOPWORDS and len(w) > 1]


def _overlap(sentence: str, other: str) -> float:
    """Share of ``sentence``'s content words that ``other`` contains."""
    words = set(_content_words(sentence))
    if not words:
        return 0.0
    return len(words & set(_content_words(other))) / len(words)


def _strip_markers(text: str) -> str:
    return re.sub(r"\s+", " ", _MARKER.sub("", text)).strip()


def _marker_numbers(marker: str) -> list[int]:
    numbers: list[int] = []
    for part in re.split(r"\s*[,;]\s*", marker.strip("[] ")):
        bounds = re.split(r"\s*[\u2013-]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            lo, hi = int(bounds[0]), int(bounds[1])
            numbers.extend(range(lo, hi + 1) if 0 <= hi - lo <= 20 else (lo, hi))
        elif part.strip().isdigit():
            numbers.append(int(part))
    return numbers


def _format_marker(numbers: Sequence[int]) -> str:
    return "".join(f"[{n}]" for n in numbers)


# --- embeddings -------------------------------------------------------------------------


class EmbeddingCache:
    """Vectors of texts from an embedder, each text embedded once (per answer, or per eval run)."""

    def __init__(self, embedder: Embedder, *, size: int | None = None) -> None:
        from collections import OrderedDict

        self.embedder = embedder
        self.size = size  # None: unbounded; else least recently used out first
        self.cache: OrderedDict[str, list[float]] = OrderedDict()

    def get(self, texts: Sequence[str]) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            for text, vec in zip(missing, self.embedder.embed(missing), strict=True):
                self.cache[text] = vec
        out = [self.cache[t] for t in texts]
        if self.size is not None:
            for t in texts:
                self.cache.move_to_end(t)
            while len(self.cache) > self.size:
                self.cache.popitem(last=False)
        return out


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def _paper_sentences(paper: Paper) -> list[str]:
    """The title and the sentences of the abstract: the units a claim may be supported by."""
    sentences = split_sentences(paper.abstract)
    return [paper.title, *sentences] if paper.title else sentences


def _support(
    claim: str, paper: Paper, vectors: EmbeddingCache, claim_vec: list[float] | None = None
) -> tuple[float, str]:
    """How well ``paper`` supports ``claim``: the best (score, abstract sentence)."""
    units = _paper_sentences(paper)
    if not units:
        return 0.0, ""
    cv = claim_vec if claim_vec is not None else vectors.get([claim])[0]
    best, best_unit = -1.0, ""
    for unit, uv in zip(units, vectors.get(units), strict=True):
        score = _cosine(cv, uv) + LEXICAL_WEIGHT * _overlap(claim, unit)
        if score > best:
            best, best_unit = score, unit
    return best, best_unit


# --- conversation -----------------------------------------------------------------------


@dataclass
class Conversation:
    """The turns of one conversation and its citation numbers, stable across turns."""

    turns: list[tuple[str, Answer]] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)

    def number_for(self, paper_id: str) -> int:
        """The paper's citation number, assigning the next free one on first sight."""
        if paper_id not in self.numbers:
            self.numbers[paper_id] = max(self.numbers.values(), default=0) + 1
        return self.numbers[paper_id]

    def add_turn(self, question: str, answer: Answer) -> None:
        self.turns.append((question, answer))

    def to_dict(self) -> dict[str, Any]:
        return {
            "numbers": dict(self.numbers),
            "turns": [
                {"question": q, "answer": a.to_dict(), "abstracts": _abstracts(a)}
                for q, a in self.turns
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Conversation:
        turns = [(t["question"], _answer_from_dict(t["answer"], t.get("abstracts", {})))
                 for t in data.get("turns", [])]  # fmt: skip
        return cls(turns=turns, numbers={k: int(v) for k, v in data.get("numbers", {}).items()})


def _abstracts(answer: Answer) -> dict[str, str]:
    return {h.paper.paper_id: h.paper.abstract for h in answer.sources}


def _answer_from_dict(d: Mapping[str, Any], abstracts: Mapping[str, str]) -> Answer:
    timings = d.get("timings") or {}
    return Answer(
        question=d["question"],
        text=d["answer"],
        raw_text=d.get("raw_answer", d["answer"]),
        citations=[Citation(**c) for c in d.get("citations", [])],
        sources=[
            Hit(
                paper=Paper(
                    paper_id=s["paper_id"],
                    title=s["title"],
                    abstract=abstracts.get(s["paper_id"], ""),
                    sources=tuple(s.get("sources", ())),
                ),
                score=s.get("score", 0.0),
                chunks=list(s.get("chunks", [])),
                dense_rank=s.get("dense_rank"),
                bm25_rank=s.get("bm25_rank"),
                dense_score=s.get("dense_score"),
            )
            for s in d.get("sources", [])
        ],
        backend=d.get("backend", ""),
        model=d.get("model", ""),
        timings=Timings(
            retrieval_ms=timings.get("retrieval_ms", 0.0),
            first_token_ms=timings.get("first_token_ms"),
            total_ms=timings.get("total_ms", 0.0),
        ),
        declined=d.get("declined", False),
        standalone_question=d.get("standalone_question"),
    )


# --- follow-up questions ----------------------------------------------------------------


def _is_followup(question: str) -> bool:
    words = re.findall(r"[a-z']+", question.lower())
    if any(w in _FOLLOWUP_PRONOUNS for w in words) or _FOLLOWUP_PHRASES.search(question):
        return True
    return len(_content_words(question)) < _FOLLOWUP_MAX_CONTENT_WORDS


def _heuristic_condense(question: str, conversation: Conversation) -> str:
    previous_question, previous = conversation.turns[-1]
    topic = previous.standalone_question or previous_question
    # Only the previous question's own words: its appended context would snowball.
    topic = topic.split(" (context: ", 1)[0]
    context = [" ".join(dict.fromkeys(_content_words(topic)))]
    titles = [c.title for c in sorted(previous.citations, key=lambda c: c.n)]
    if not titles:
        titles = [h.paper.title for h in previous.sources]
    context.extend(dict.fromkeys(titles[:2]))
    context = [c for c in context if c]
    return f"{question} (context: {'; '.join(context)})" if context else question


def _condense_messages(question: str, conversation: Conversation) -> list[ChatMessage]:
    history = "\n".join(f"Q: {q}\nA: {_strip_markers(a.text)}" for q, a in conversation.turns[-3:])
    return [ChatMessage("user", CONDENSE_PROMPT.format(history=history, question=question))]


def _clean_condensed(text: str) -> str:
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line.strip("\"' ")


async def acondense_question(
    question: str, conversation: Conversation, chat: ChatModel | None = None
) -> str:
    """A follow-up question made standalone, for retrieval.

    Without a model (and with the embedded one, which is bad at it) the previous
    question's words and the titles of the papers it cited are appended to a question
    that looks like a follow-up. Other models are asked to rewrite it.
    """
    question = question.strip()
    if not conversation.turns or not _is_followup(question):
        return question
    if chat is not None and chat.backend != "embedded":
        options = GenerationOptions(max_tokens=64, temperature=0.0, stop=("\n",))
        parts = [
            p async for p in chat.astream_chat(_condense_messages(question, conversation), options)
        ]
        rewritten = _clean_condensed("".join(parts))
        if 3 <= len(rewritten) <= 400:
            return rewritten
    return _heuristic_condense(question, conversation)


def condense_question(
    question: str, conversation: Conversation, chat: ChatModel | None = None
) -> str:
    """Sync twin of :func:`acondense_question`."""
    question = question.strip()
    if not conversation.turns or not _is_followup(question):
        return question
    if chat is None or chat.backend == "embedded":
        return _heuristic_condense(question, conversation)

    async def one() -> AsyncIterator[str]:
        yield await acondense_question(question, conversation, chat)

    return next(iter(iterate_async(one())))


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
    embedder: Embedder,
    *,
    per_paper: int = 2,
    max_papers: int = 4,
    _vectors: EmbeddingCache | None = None,
) -> list[Evidence]:
    """For each of the top ``max_papers`` hits, the ``per_paper`` abstract sentences most
    similar to the question (MiniLM cosine plus a small bonus for shared words)."""
    vectors = _vectors or EmbeddingCache(embedder)
    top = list(hits)[:max_papers]
    all_sentences = [s for h in top for s in split_sentences(h.paper.abstract)]
    qv = vectors.get([question, *all_sentences])[0]
    out: list[Evidence] = []
    for hit in top:
        sentences = split_sentences(hit.paper.abstract)
        if not sentences:
            continue
        scored = [
            (_cosine(qv, v) + LEXICAL_WEIGHT * _overlap(question, s), i)
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


# --- citation check ---------------------------------------------------------------------


def check_citations(
    raw_text: str,
    numbered: Mapping[int, Paper],
    embedder: Embedder,
    *,
    threshold: float = SUPPORT_THRESHOLD,
    margin: float = ATTRIBUTION_MARGIN,
    attribute: bool = True,
    _vectors: EmbeddingCache | None = None,
) -> tuple[str, list[Citation]]:
    """Keep only citations an abstract supports; attribute clearly supported uncited sentences.

    Returns the checked text, in which every ``[n]`` is one of the returned citations.
    """
    vectors = _vectors or EmbeddingCache(embedder)
    spans = _sentence_spans(raw_text)
    claims = [_strip_markers(raw_text[a:b]) for a, b in spans]
    texts = [c for c in claims if c]
    claim_vecs = dict(zip(texts, vectors.get(texts), strict=True))
    found: dict[int, Citation] = {}
    pieces: list[str] = []
    pos = 0

    def note(n: int, score: float, evidence: str, attributed: bool) -> None:
        paper = numbered[n]
        cite = found.get(n)
        if cite is None:
            found[n] = Citation(
                n=n, paper_id=paper.paper_id, title=paper.title, evidence=evidence,
                score=score, url=_paper_url(paper), attributed=attributed,
            )  # fmt: skip
            return
        if score > cite.score:
            cite.score, cite.evidence = score, evidence
        cite.attributed = cite.attributed and attributed

    for (a, b), claim in zip(spans, claims, strict=True):
        pieces.append(raw_text[pos:a])
        pos = b
        sentence = raw_text[a:b]
        cv = claim_vecs.get(claim)
        kept_any = False
        had_marker = False

        def keep(match: re.Match[str], claim: str = claim, cv: list[float] | None = cv) -> str:
            nonlocal kept_any, had_marker
            had_marker = True
            kept: list[int] = []
            for n in dict.fromkeys(_marker_numbers(match.group(0))):
                if n not in numbered or not claim or cv is None:
                    continue
                score, evidence = _support(claim, numbered[n], vectors, cv)
                if score >= threshold:
                    kept.append(n)
                    note(n, score, evidence, attributed=False)
            kept_any = kept_any or bool(kept)
            return _format_marker(kept)

        checked = _MARKER.sub(keep, sentence)
        if had_marker:
            checked = _tidy(checked)
        # A sentence whose every citation failed is treated like an uncited one.
        if not kept_any and (
            attribute
            and cv is not None
            and len(_content_words(claim)) >= 3
            and (NOT_IN_LIBRARY.lower() not in claim.lower())
        ):
            scored = sorted(
                ((*_support(claim, p, vectors, cv), n) for n, p in numbered.items()),
                key=lambda t: t[0],
                reverse=True,
            )
            if (
                scored
                and scored[0][0] >= threshold
                and (len(scored) == 1 or scored[0][0] - scored[1][0] >= margin)
            ):
                score, evidence, n = scored[0]
                note(n, score, evidence, attributed=True)
                checked = _append_marker(checked, n)
        pieces.append(checked)
    pieces.append(raw_text[pos:])
    text = _drop_dangling("".join(pieces), set(found))
    used = {n for m in _MARKER.finditer(text) for n in _marker_numbers(m.group(0))}
    return text, [found[n] for n in sorted(found) if n in used]


def _tidy(sentence: str) -> str:
    sentence = re.sub(r"[ \t]{2,}", " ", sentence)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", sentence).strip()


def _append_marker(sentence: str, n: int) -> str:
    """``sentence`` with ``[n]`` before its final punctuation."""
    m = re.search(r"([.!?][\"')]*)$", sentence)
    if m:
        return f"{sentence[: m.start()].rstrip()} [{n}]{m.group(1)}"
    return f"{sentence} [{n}]"


def _drop_dangling(text: str, allowed: set[int]) -> str:
    """Remove every marker with a number not in ``allowed``; repeated, since removing one
    marker can join brackets around it into a new one ("[[1]2]")."""
    while True:
        changed = False

        def fix(m: re.Match[str]) -> str:
            nonlocal changed
            numbers = list(dict.fromkeys(_marker_numbers(m.group(0))))
            if (
                numbers
                and all(n in allowed for n in numbers)
                and m.group(0) == _format_marker(numbers)
            ):
                return m.group(0)
            changed = True
            return _format_marker([n for n in numbers if n in allowed])

        new = _MARKER.sub(fix, text)
        if not changed:
            return new
        text = new


# --- model output -----------------------------------------------------------------------

# Where a document model starts inventing the next part of the page.
_INVENTED = re.compile(
    r"(?:^|\s)(?:Question|Excerpts|Answer|Q|Title)\s*:|\n\s*\[\d+\]\s*Title\b"
    r"|<end_of_turn>|<start_of_turn>"
)


def _cut_invented(text: str) -> str:
    m = _INVENTED.search(text)
    return text[: m.start()] if m else text


def clean_model_text(text: str) -> str:
    """Cut a tiny model's invented follow-up and drop sentences it repeats."""
    text = _cut_invented(text).strip()
    seen: set[str] = set()
    kept: list[str] = []
    for sentence in split_sentences(text):
        key = " ".join(_content_words(_strip_markers(sentence))) or sentence.strip().lower()
        if key in seen:
            continue
        seen.add(key)
        kept.append(sentence)
    # A sentence repeating one word ("the the the the") is a loop, not prose.
    text = " ".join(kept)
    return re.sub(r"\b(\w+)(?:\s+\1\b){3,}", r"\1", text, flags=re.I).strip()


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


def _prompt_tokens(chat: ChatModel, messages: Sequence[ChatMessage]) -> int:
    if chat.backend == "embedded":
        from rag.llm.embedded import plain_prompt

        return chat.count_tokens(plain_prompt(messages))
    return sum(chat.count_tokens(m.content) + _MESSAGE_OVERHEAD for m in messages)


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
        tokens = _prompt_tokens(chat, messages)
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
    return " ".join(_append_marker(s.strip(), numbers[pid]) for _, _, s, pid in chosen)


async def astream_answer(
    question: str,
    hits: Sequence[Hit],
    *,
    conversation: Conversation,
    chat: ChatModel | None,
    embedder: Embedder,
    settings: Settings,
    retrieval_ms: float = 0.0,
    standalone_question: str | None = None,
) -> AsyncIterator[AnswerEvent]:
    """Answer ``question`` from ``hits``: sources first, then the model's text as it
    streams, then the checked answer. ``chat=None`` answers extractively, without a model.

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
        select_evidence, standalone_question or question, hits, embedder, _vectors=vectors
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
            check_citations, raw, numbered, embedder, attribute=False, _vectors=vectors
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
        stop=_stops(chat),
        num_ctx=min(window, prompt_tokens + max_answer + _CTX_MARGIN, _CTX_CAP),
        timeout_s=settings.llm.timeout_s,
    )
    raw_parts: list[str] = []
    stream = chat.astream_chat(messages, options)
    try:
        async for delta in stream:
            if not delta:
                continue
            if timings.first_token_ms is None:
                timings.first_token_ms = (time.perf_counter() - started) * 1000
            so_far = "".join(raw_parts)
            cut = _cut_invented(so_far + delta)
            if len(cut) < len(so_far) + len(delta):
                # The model began a new "Question:" and the like: stop reading.
                tail = cut[len(so_far) :]
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
    cleaned = clean_model_text(raw)
    if not cleaned or NOT_IN_LIBRARY.lower().rstrip(".") in cleaned.lower():
        yield AnswerDone(finish(NOT_IN_LIBRARY, raw, [], True))
        return
    text, citations = await asyncio.to_thread(
        check_citations, cleaned, numbered, embedder, _vectors=vectors
    )
    yield AnswerDone(finish(text, raw, citations, False))


def _stops(chat: ChatModel) -> tuple[str, ...]:
    if chat.backend == "embedded":
        from rag.llm.embedded import PLAIN_STOPS

        # A document model that finishes its answer goes on to write another excerpt.
        return (*PLAIN_STOPS, "\n\n[")
    return ()


def stream_answer(question: str, hits: Sequence[Hit], **kwargs: Any) -> Iterator[AnswerEvent]:
    """Sync twin of :func:`astream_answer` (same keyword arguments)."""
    yield from iterate_async(astream_answer(question, hits, **kwargs))  # type: ignore[arg-type]


def answer(question: str, hits: Sequence[Hit], **kwargs: Any) -> Answer:
    """The checked answer, without streaming (same keyword arguments as :func:`astream_answer`)."""
    for event in stream_answer(question, hits, **kwargs):
        if isinstance(event, AnswerDone):
            return event.answer
    raise RuntimeError("the answer stream ended without an answer")  # pragma: no cover


# --- references -------------------------------------------------------------------------


def _paper_url(paper: Paper) -> str | None:
    if paper.url:
        return paper.url
    if paper.arxiv_id:
        return f"https://arxiv.org/abs/{paper.arxiv_id}"
    if paper.doi:
        return f"https://doi.org/{paper.doi}"
    return None


def references_markdown(answer: Answer) -> str:
    """The answer's citations as a Markdown list: number, title, paper id and link."""
    papers = {h.paper.paper_id: h.paper for h in answer.sources}
    lines = []
    for c in sorted(answer.citations, key=lambda c: c.n):
        paper = papers.get(c.paper_id)
        url = c.url or (_paper_url(paper) if paper else None)
        line = f"{c.n}. {_md_escape(c.title)} (`{c.paper_id}`)"
        if url:
            line += f" <{url}>"
        lines.append(line)
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>])", r"\\\1", text)


_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%",
    "$": r"\$", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def _bibtex_escape(text: str) -> str:
    return "".join(_BIBTEX_SPECIAL.get(ch, ch) for ch in " ".join(text.split()))


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def _bibtex_key(paper: Paper) -> str:
    surname = ""
    if paper.authors:
        first = paper.authors[0]
        surname = _ascii_word(
            first.split(",")[0] if "," in first else first.split()[-1] if first.split() else ""
        )
    title_word = next(
        (
            _ascii_word(w)
            for w in paper.title.split()
            if _ascii_word(w) and _ascii_word(w) not in _STOPWORDS
        ),
        "",
    )
    year = str(paper.year or "")
    key = f"{surname}{year}{title_word}" if surname else f"{title_word}{year}"
    return key or f"paper{year}"


def references_bibtex(papers: Sequence[Paper]) -> str:
    """BibTeX entries for ``papers``: @misc for arXiv preprints, @article with a DOI."""
    entries: list[str] = []
    used: dict[str, int] = {}
    for paper in papers:
        key = _bibtex_key(paper)
        if key in used:
            used[key] += 1
            key = f"{key}{chr(ord('a') + used[key] - 2) if used[key] <= 27 else used[key]}"
        else:
            used[key] = 1
        kind = "article" if paper.doi and not paper.arxiv_id else "misc"
        fields = [("title", "{" + _bibtex_escape(paper.title) + "}")]
        if paper.authors:
            fields.append(("author", " and ".join(_bibtex_escape(a) for a in paper.authors)))
        if paper.year:
            fields.append(("year", str(paper.year)))
        if paper.arxiv_id:
            fields += [("eprint", paper.arxiv_id), ("archivePrefix", "arXiv")]
        if paper.doi:
            fields.append(("doi", _bibtex_escape(paper.doi)))
        url = _paper_url(paper)
        if url:
            fields.append(("url", url.replace("{", "%7B").replace("}", "%7D")))
        fields.append(("note", f"papers id: {_bibtex_escape(paper.paper_id)}"))
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        entries.append(f"@{kind}{{{key},\n{body}\n}}")
    return "\n\n".join(entries) + ("\n" if entries else "")
