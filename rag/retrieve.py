"""Hybrid retrieval: dense (Chroma) and BM25 rankings fused per paper.

Fusion is reciprocal-rank fusion at the paper level: each retriever's chunk list is first
collapsed to a paper ranking (a paper's rank is that of its best chunk), then the two
rankings are fused. Fusing chunks before grouping lets a paper with several mediocre chunks
crowd out one with a single excellent chunk. We fuse here rather than with llama-index's
``QueryFusionRetriever`` because that works on nodes (no paper grouping) and runs its
retrievers through an event loop per query, costing more than our whole retrieval budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rag.types import Hit, Paper


@dataclass(frozen=True)
class Filters:
    """Keep only papers matching every given field (case-insensitive substring for text)."""

    source: str | None = None
    year: int | None = None
    author: str | None = None
    category: str | None = None

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None) -> Filters | None:
        if not m:
            return None
        f = cls(**{k: v for k, v in m.items() if v not in (None, "")})
        return f if f.active else None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.source, self.year, self.author, self.category))

    def accepts(self, p: Paper) -> bool:
        if self.source and not any(self.source.lower() in s.lower() for s in p.sources):
            return False
        if self.year is not None and p.year != int(self.year):
            return False
        if self.author and not any(self.author.lower() in a.lower() for a in p.authors):
            return False
        if self.category and not any(self.category.lower() == c.lower() for c in p.categories):
            return False
        return True


def paper_ranking(chunks: list[tuple[str, str, float]]) -> dict[str, tuple[int, float, list[str]]]:
    """paper id -> (rank from 1, best score, its chunk ids in order) from a ranked chunk list."""
    out: dict[str, tuple[int, float, list[str]]] = {}
    for cid, pid, score in chunks:
        if pid in out:
            out[pid][2].append(cid)
        else:
            out[pid] = (len(out) + 1, score, [cid])
    return out


def fuse(
    dense: list[tuple[str, str, float]],
    lexical: list[tuple[str, str, float]],
    *,
    rrf_k: float,
    dense_weight: float,
    bm25_weight: float,
) -> list[tuple[str, float, int | None, int | None, float | None, list[str]]]:
    """Fused paper list: (paper id, score, dense rank, bm25 rank, best cosine, chunk ids)."""
    d, b = paper_ranking(dense), paper_ranking(lexical)
    fused = []
    for pid in dict.fromkeys([*d, *b]):
        dr = d.get(pid)
        br = b.get(pid)
        score = 0.0
        if dr:
            score += dense_weight / (rrf_k + dr[0])
        if br:
            score += bm25_weight / (rrf_k + br[0])
        chunk_ids = list(dict.fromkeys([*(dr[2] if dr else []), *(br[2] if br else [])]))
        fused.append(
            (
                pid,
                score,
                dr[0] if dr else None,
                br[0] if br else None,
                dr[1] if dr else None,
                chunk_ids,
            )
        )
    fused.sort(key=lambda x: (-x[1], x[2] or 10**9))
    return fused


def build_hits(
    fused,
    papers: Mapping[str, Paper],
    chunk_text: Mapping[str, str],
    k: int,
    filters: Filters | None,
) -> list[Hit]:
    hits: list[Hit] = []
    for pid, score, dr, br, cos, cids in fused:
        paper = papers.get(pid)
        if paper is None or (filters and not filters.accepts(paper)):
            continue
        hits.append(
            Hit(
                paper=paper,
                score=score,
                chunks=[chunk_text[c] for c in cids if c in chunk_text],
                dense_rank=dr,
                bm25_rank=br,
                dense_score=cos,
            )
        )
        if len(hits) >= k:
            break
    return hits
