"""Hybrid retrieval: dense (Chroma) and BM25 rankings fused per paper.

Fusion is reciprocal-rank fusion at the paper level: each retriever's chunk list is first
collapsed to a paper ranking (a paper's rank is that of its best chunk), then the two
rankings are fused. Fusing chunks before grouping lets a paper with several mediocre chunks
crowd out one with a single excellent chunk. We fuse here rather than with llama-index's
``QueryFusionRetriever`` because that works on nodes (no paper grouping) and runs its
retrievers through an event loop per query, costing more than our whole retrieval budget.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, SupportsIndex

from rag.errors import QueryError
from rag.filters import Filters
from rag.types import Hit, Paper

if TYPE_CHECKING:
    from rag.settings import RetrievalSettings
    from rag.storage import Storage

__all__ = [
    "Candidate",
    "SearchMode",
    "build_hits",
    "fuse",
    "paper_ranking",
    "relevance_floor",
    "search",
]

SearchMode = Literal["hybrid", "dense", "bm25"]
# A retriever's ranked chunks: (chunk id, paper id, score), best first.
ChunkRanking = list[tuple[str, str, float]]


@dataclass(frozen=True)
class Candidate:
    """One paper after fusion, before it is read from the catalogue.

    ``dense_rank`` and ``bm25_rank`` count from 1 (None: that retriever did not propose it);
    ``dense_score`` is the best cosine of its chunks; ``chunk_ids`` are its proposed chunks,
    dense ones first.
    """

    paper_id: str
    score: float
    dense_rank: int | None
    bm25_rank: int | None
    dense_score: float | None
    chunk_ids: tuple[str, ...]


def search(
    storage: Storage,
    query: str,
    *,
    k: int | None = None,
    filters: Filters | None = None,
    mode: SearchMode = "hybrid",
    settings: RetrievalSettings | None = None,
) -> list[Hit]:
    """The ``k`` papers of ``storage`` best matching ``query``; ``mode`` is hybrid, dense or bm25.

    ``settings`` defaults to the store's own retrieval settings.

    Raises:
        QueryError: ``query`` is empty or not text, or ``k`` is below 1.
    """
    # Refused rather than guessed at: an empty query ranked five arbitrary papers, and ``k=0``
    # quietly meant the default while ``k=-1`` meant one paper.
    _check_query(query)
    if k is not None:
        k = _checked_k(k)
    storage.refresh()
    r = settings if settings is not None else storage.settings.retrieval
    k = r.k if k is None else k
    n = max(r.candidates, 4 * k) * (10 if filters else 1)
    dense: ChunkRanking = []
    lexical: ChunkRanking = []
    qvec: list[float] = []
    if mode in ("hybrid", "dense"):
        storage.check_embedder()
        qvec = storage.embedder.embed([query])[0]
        dense = [(h.chunk_id, h.paper_id, h.similarity) for h in storage.vectors.query(qvec, n)]
    if mode in ("hybrid", "bm25"):
        lexical = storage.lexical.query(query, n)
    # Only what the catalogue has committed is visible: a half-written paper is not.
    rows = storage.catalogue.chunk_rows({c for c, _, _ in dense} | {c for c, _, _ in lexical})
    dense = [x for x in dense if x[0] in rows]
    lexical = [x for x in lexical if x[0] in rows]
    fused = fuse(
        dense, lexical, rrf_k=r.rrf_k, dense_weight=r.dense_weight, bm25_weight=r.bm25_weight
    )
    # Only the papers that can make the cut are read (their JSON decoding is not free).
    wanted = max(k, r.rerank_candidates if r.rerank else 0) + 5
    papers = storage.catalogue.get_papers(
        c.paper_id for c in fused[: max(4 * k, 50) * 10 if filters else wanted]
    )
    texts = {c: t for c, (_, t) in rows.items()}
    if r.rerank and mode != "bm25" and dense:
        from rag.rerank import rerank

        pool = build_hits(fused, papers, texts, max(k, r.rerank_candidates), filters)
        vectors = storage.sentence_vectors
        return rerank(qvec, pool, vectors, weight=r.rerank_weight, rrf_k=r.rrf_k)[:k]
    return build_hits(fused, papers, texts, k, filters)


def _check_query(query: object) -> None:
    if not isinstance(query, str):
        raise QueryError(f"the query must be text, not {type(query).__name__}")
    if not query.strip():
        raise QueryError("the query is empty: say what the papers should be about")
    try:
        query.encode("utf-8")
    except UnicodeEncodeError:
        # Undecodable bytes from the command line (``surrogateescape``): dropping them would
        # search for something the user did not type.
        raise QueryError(
            "the query holds bytes that are not UTF-8 text; retype it in a UTF-8 terminal"
        ) from None


def _checked_k(k: object) -> int:
    # Any integer, numpy's included; not True, nor 2.0.
    n = operator.index(k) if isinstance(k, SupportsIndex) and not isinstance(k, bool) else 0
    if n < 1:
        raise QueryError(f"k is how many papers to return: a whole number, 1 or more, not {k!r}")
    return n


def relevance_floor(hits: list[Hit], *, min_dense_score: float) -> list[Hit]:
    """Nothing close enough: no sources, so the answer says the library has none."""
    best = max((h.dense_score or 0.0 for h in hits), default=0.0)
    return hits if best >= min_dense_score else []


def paper_ranking(chunks: ChunkRanking) -> dict[str, tuple[int, float, list[str]]]:
    """paper id -> (rank from 1, best score, its chunk ids in order) from a ranked chunk list."""
    out: dict[str, tuple[int, float, list[str]]] = {}
    for cid, pid, score in chunks:
        if pid in out:
            out[pid][2].append(cid)
        else:
            out[pid] = (len(out) + 1, score, [cid])
    return out


def fuse(
    dense: ChunkRanking,
    lexical: ChunkRanking,
    *,
    rrf_k: float,
    dense_weight: float,
    bm25_weight: float,
) -> list[Candidate]:
    """Fused paper list, best first: reciprocal-rank fusion of the two paper rankings."""
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
        chunk_ids = tuple(dict.fromkeys([*(dr[2] if dr else []), *(br[2] if br else [])]))
        fused.append(
            Candidate(
                paper_id=pid,
                score=score,
                dense_rank=dr[0] if dr else None,
                bm25_rank=br[0] if br else None,
                dense_score=dr[1] if dr else None,
                chunk_ids=chunk_ids,
            )
        )
    fused.sort(key=lambda c: (-c.score, c.dense_rank or 10**9))
    return fused


def build_hits(
    candidates: list[Candidate],
    papers: Mapping[str, Paper],
    chunk_text: Mapping[str, str],
    k: int,
    filters: Filters | None,
) -> list[Hit]:
    """The first ``k`` candidates that are in ``papers`` and pass ``filters``, as hits."""
    hits: list[Hit] = []
    for c in candidates:
        paper = papers.get(c.paper_id)
        if paper is None or (filters and not filters.accepts(paper)):
            continue
        hits.append(
            Hit(
                paper=paper,
                score=c.score,
                chunks=[chunk_text[cid] for cid in c.chunk_ids if cid in chunk_text],
                dense_rank=c.dense_rank,
                bm25_rank=c.bm25_rank,
                dense_score=c.dense_score,
            )
        )
        if len(hits) >= k:
            break
    return hits
