"""Hybrid retrieval: dense (Chroma) and BM25 rankings fused per paper.

Each retriever's chunk list is first collapsed to papers (a paper keeps its best chunk), then
the two are fused. Fusing chunks before grouping lets a paper with several mediocre chunks
crowd out one with a single excellent chunk. We fuse here rather than with llama-index's
``QueryFusionRetriever`` because that works on nodes (no paper grouping) and runs its
retrievers through an event loop per query, costing more than our whole retrieval budget.

The default fusion is convex over z-scored scores (``fuse_convex``): each retriever's paper
scores are standardised over its own pool, then mixed 0.6 dense / 0.4 BM25. Unlike rank
fusion it keeps *how far* a paper stands out: an acronym that BM25 matches in one title gives
that paper a z-score far above the rest, so it wins even though MiniLM ranks it nowhere,
while a paraphrase that BM25 matches only by common words gives a flat BM25 pool that barely
moves the dense order. Measured with ``python -m eval.fusion_sweep`` (nDCG@10, tune halves;
see README and ``python -m eval.retrieval_eval`` for the held-out halves):

=====================  ==========  =======  ========  ===============
tune half              paraphrase  acronym  dev odd   SciFact odd ids
=====================  ==========  =======  ========  ===============
dense                  0.856       0.917    0.920     0.705
BM25 (stemmed)         0.788       0.984    0.917     0.698
before: RRF 2:1 k20,   0.889       0.968    0.978     0.717
unstemmed BM25
RRF 2:1 k20, stemmed   0.916       0.968    0.941     0.730
convex z, 0.6 dense    0.935       0.984    0.953     0.736
=====================  ==========  =======  ========  ===============

(The old default was tuned on dev, hence its 0.978 there.) On the held-out halves the old
default lost to BM25 on acronyms (nDCG@10 0.813 vs 0.952, recall@1 0.727 vs 0.909); convex
z 0.6 is at least as good as the better part on every set (acronym test 0.977 vs 0.983 BM25,
within 0.01; SciFact even ids 0.704 vs 0.671 dense). Min-max and max normalisation lost to z
on the tune halves (0.926 / 0.898 paraphrase at 0.6).

That setting then lost to BM25 on fresh acronym questions (the 60 of
eval/questions/heldout{,2,3,4}.jsonl, never used for retrieval: nDCG@10 0.926 vs 0.973,
recall@1 0.85 vs 0.93): "What does FDEN do?" scored "what", "doe" and "do" in BM25 as high as
the one rare word, so titles such as "What Do Single-view 3D Reconstruction Networks
Learn?" stood out as much as the FDEN paper. Three changes, chosen on the same tune halves
(same sweep, rule names as it prints them):

========================================  ==========  =======  ========  ===============
tune half                                 paraphrase  acronym  dev odd   SciFact odd ids
========================================  ==========  =======  ========  ===============
convex z 0.6 (before)                     0.935       0.984    0.953     0.736
+ question words stopped (rag/lexical)    0.935       0.984    0.957     0.736
+ BM25 pool padded with zeros             0.935       0.984    0.957     0.735
+ dense share 0.4 for a named question    0.932       1.000    0.957     0.736
(the same at 0.2 / 0.3)                   0.932       0.984    0.957     0.734 / 0.735
all questions at 0.5, padded              0.918       1.000    0.945     0.738
========================================  ==========  =======  ========  ===============

A named question is one with a word of two capitals that at most three papers use
(``rag.detail.names_rare_paper``): MiniLM does not know such names and BM25 finds them.
Measured after the choice by ``python -m eval.retrieval_eval`` on the fresh acronym
questions: nDCG@10 0.988 vs BM25 0.994 (recall@1 0.967 vs 0.983: "What does CARE enforce…",
whose name is a word 14 papers use, and "What does FARMS subsample?", which two papers say).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, SupportsIndex

from rag.detail import names_rare_paper
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
    "fuse_convex",
    "paper_ranking",
    "search",
]

SearchMode = Literal["hybrid", "dense", "bm25"]
# A retriever's ranked chunks: (chunk id, paper id, score), best first.
ChunkRanking = list[tuple[str, str, float]]


@dataclass(frozen=True)
class Candidate:
    """One paper after fusion, before it is read from the catalogue.

    ``dense_rank`` and ``bm25_rank`` count from 1 (None: that retriever did not propose it);
    ``dense_score`` is the best cosine of its chunks, ``bm25_score`` its best BM25 score;
    ``chunk_ids`` are its proposed chunks, dense ones first.
    """

    paper_id: str
    score: float
    dense_rank: int | None
    bm25_rank: int | None
    dense_score: float | None
    chunk_ids: tuple[str, ...]
    bm25_score: float | None = None


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
    if r.fusion == "convex":
        share = r.dense_share
        if names_rare_paper(query, storage.lexical):
            share = r.named_dense_share
        fused = fuse_convex(dense, lexical, dense_share=share, depth=r.candidates)
    else:
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
    return _candidates(
        d,
        b,
        lambda pid: (
            (dense_weight / (rrf_k + d[pid][0]) if pid in d else 0.0)
            + (bm25_weight / (rrf_k + b[pid][0]) if pid in b else 0.0)
        ),
    )


def _zscores(
    ranking: dict[str, tuple[int, float, list[str]]], depth: int, pad_to: int = 0
) -> dict[str, float]:
    """Each paper's best score standardised by the mean and spread of the first ``depth``
    papers (so a deeper pool, as ``k=100`` asks for, does not move the statistics the weights
    were tuned with), the pool counted with zeros up to ``pad_to`` papers."""
    if not ranking:
        return {}
    ranks = [v[0] for v in ranking.values()]
    top = [v[1] for v in ranking.values() if v[0] <= max(1, min(depth, max(ranks)))]
    top += [0.0] * (pad_to - len(top))
    mean = sum(top) / len(top)
    sd = math.sqrt(sum((x - mean) ** 2 for x in top) / len(top)) or 1.0
    return {pid: (v[1] - mean) / sd for pid, v in ranking.items()}


def fuse_convex(
    dense: ChunkRanking, lexical: ChunkRanking, *, dense_share: float, depth: int
) -> list[Candidate]:
    """Fused paper list, best first: ``dense_share`` x dense z-score + the rest x BM25's.

    A paper one retriever did not propose counts as that retriever's average (z = 0): only
    its standing out in the other one moves it. Counting it as the pool's worst instead tied
    on the tune halves (paraphrase 0.935 both, SciFact odd 0.741 vs 0.736) but lost acronym
    questions BM25 alone finds (test half, read after the choice: 0.927 vs 0.977).

    BM25 scores only the chunks holding a query word, so its pool can be a handful of papers
    (one, for "What does FDEN do?" once question words are stopwords); standardised over that
    pool alone the one paper saying FDEN is its own average (z = 0) and dense picks. Its pool
    is padded with zero scores up to the size of dense's, which is what the chunks it did not
    score would have had.
    """
    d, b = paper_ranking(dense), paper_ranking(lexical)
    dz = _zscores(d, depth)
    bz = _zscores(b, depth, pad_to=min(len(d), depth))
    return _candidates(
        d, b, lambda pid: dense_share * dz.get(pid, 0.0) + (1.0 - dense_share) * bz.get(pid, 0.0)
    )


def _candidates(
    d: dict[str, tuple[int, float, list[str]]],
    b: dict[str, tuple[int, float, list[str]]],
    score_of: Callable[[str], float],
) -> list[Candidate]:
    """One candidate per paper either ranking proposed, scored by ``score_of``, best first
    (ties: the better dense rank)."""
    fused = []
    for pid in dict.fromkeys([*d, *b]):
        dr, br = d.get(pid), b.get(pid)
        score = score_of(pid)
        chunk_ids = tuple(dict.fromkeys([*(dr[2] if dr else []), *(br[2] if br else [])]))
        fused.append(
            Candidate(
                paper_id=pid,
                score=score,
                dense_rank=dr[0] if dr else None,
                bm25_rank=br[0] if br else None,
                dense_score=dr[1] if dr else None,
                chunk_ids=chunk_ids,
                bm25_score=br[1] if br else None,
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
