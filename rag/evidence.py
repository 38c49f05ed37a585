"""Evidence: the sentences of each retrieved abstract that bear most on the question."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.citations import LEXICAL_WEIGHT
from rag.embedders import EmbeddingCache, TextEmbedder, cosine
from rag.text import overlap, split_sentences
from rag.types import Hit, Paper

__all__ = ["Evidence", "select_evidence"]


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
