"""Typed values that cross module boundaries: papers, chunks, hits, citations, answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Paper:
    """One paper: a title and its abstract, with whatever metadata the source gave.

    ``paper_id`` is stable across runs and machines (arXiv id, DOI, or a hash of the
    normalised title); ``sources`` names the files/pages the paper was read from.
    """

    paper_id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    year: int | None = None
    arxiv_id: str | None = None
    doi: str | None = None
    url: str | None = None
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    citekey: str | None = None
    bibtex: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Chunk:
    """A piece of one abstract, sized to the embedder's window.

    ``text`` is the abstract piece; ``embed_text`` is what gets embedded and indexed
    (title + piece), so that a chunk is findable on its own.
    """

    chunk_id: str
    paper_id: str
    index: int
    text: str
    embed_text: str
    n_tokens: int


@dataclass
class Hit:
    """One paper found for a query, with the chunks of it that matched."""

    paper: Paper
    score: float
    chunks: list[str] = field(default_factory=list)
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "paper_id": self.paper.paper_id,
            "citekey": self.paper.citekey,
            "title": self.paper.title,
            "score": round(self.score, 6),
            "dense_rank": self.dense_rank,
            "bm25_rank": self.bm25_rank,
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "chunks": self.chunks,
            "sources": list(self.paper.sources),
        }


@dataclass
class Citation:
    """A numbered source of an answer and the evidence that it supports what cites it."""

    n: int
    paper_id: str
    title: str
    evidence: str = ""
    score: float = 0.0
    url: str | None = None
    attributed: bool = False
    citekey: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "citekey": self.citekey,
            "paper_id": self.paper_id,
            "title": self.title,
            "evidence": self.evidence,
            "score": round(self.score, 4),
            "url": self.url,
            "attributed": self.attributed,
        }


SUPPORTED = "supported"
ATTRIBUTED = "attributed"
UNSUPPORTED = "unsupported"


@dataclass
class Sentence:
    """One sentence of an answer and what the check found for it.

    ``supported``: an abstract it cites supports it (``evidence`` is that abstract sentence);
    ``attributed``: it cited nothing that supports it, one source clearly does, and the
    citation was added; ``unsupported``: no source supports it. Unsupported sentences are
    not part of ``Answer.text`` unless the user asked for the raw model text.
    ``origin`` is "model" for the model's words, "abstract" for a sentence quoted from one.
    """

    text: str
    status: str
    citations: list[int] = field(default_factory=list)
    evidence: str = ""
    score: float = 0.0
    origin: str = "model"
    # What stood between the previous sentence and this one in the raw text (a paragraph
    # break, a list bullet), so the shown text keeps the model's layout.
    lead: str = " "

    @property
    def shown_by_default(self) -> bool:
        return self.status != UNSUPPORTED

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "status": self.status,
            "citations": self.citations,
            "evidence": self.evidence,
            "score": round(self.score, 4),
            "origin": self.origin,
        }


@dataclass
class Timings:
    retrieval_ms: float = 0.0
    first_token_ms: float | None = None
    total_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "retrieval_ms": round(self.retrieval_ms, 2),
            "first_token_ms": None
            if self.first_token_ms is None
            else round(self.first_token_ms, 2),
            "total_ms": round(self.total_ms, 2),
        }


@dataclass
class Answer:
    """A checked answer: the raw model text, the final text and its citations."""

    question: str
    text: str
    raw_text: str
    citations: list[Citation]
    sources: list[Hit]
    backend: str
    model: str
    timings: Timings = field(default_factory=Timings)
    declined: bool = False
    standalone_question: str | None = None
    # Every sentence of the answer with its check status, unsupported ones included.
    sentences: list[Sentence] = field(default_factory=list)
    # One line about how the answer was made when that matters to the reader ("the model's
    # text failed the check; these are the abstract sentences closest to the question").
    note: str = ""
    # When the relevance rule declined: the papers closest to the question, shown so the user
    # can rephrase. Not ``sources``: those are the papers the answer may cite, and front-ends
    # number and list them as references.
    closest: list[Hit] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "note": self.note,
            "sentences": [s.to_dict() for s in self.sentences],
            "raw_answer": self.raw_text,
            "citations": [c.to_dict() for c in self.citations],
            "sources": [h.to_dict() for h in self.sources],
            "backend": self.backend,
            "model": self.model,
            "declined": self.declined,
            "closest": [h.to_dict() for h in self.closest],
            "standalone_question": self.standalone_question,
            "timings": self.timings.to_dict(),
        }
