"""Optional second stage: rescore the fused candidates by their single best sentence.

There is no cross-encoder we can ship offline (the only packaged model is the MiniLM
bi-encoder), so the reranker is late interaction at sentence level: the query is compared
with every sentence of each candidate's abstract (and its title), and the candidates are
ranked by their best sentence. That ranking joins the dense and BM25 rankings in the same
reciprocal-rank fusion, with its own weight. A chunk vector averages a whole passage; a
single sentence that states exactly what the question asks is what this stage rewards.

It costs one embedding call over the candidates' sentences (cached across queries), which is
why it is off by default: see the README for what it gains and costs on the dev set
(`python -m eval.rerank_sweep STORE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from rag.types import Hit

if TYPE_CHECKING:
    from rag.embedders import EmbeddingCache

# Sentence vectors kept across queries (an EmbeddingCache of this size) stay under ~80 MB.
SENTENCE_CACHE_SIZE = 50_000


def best_sentence_scores(
    query_vec: Sequence[float], hits: Sequence[Hit], vectors: EmbeddingCache
) -> list[float]:
    """Each hit's highest cosine between the query and one of its title/abstract sentences."""
    import numpy as np

    from rag.text import split_sentences

    units = [[h.paper.title, *split_sentences(h.paper.abstract)] for h in hits]
    flat = [u for us in units for u in us if u]
    if not flat:
        return [0.0] * len(hits)
    mat = np.asarray(vectors.get(flat), dtype=np.float32)
    mat /= np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
    q = np.asarray(query_vec, dtype=np.float32)
    sims = mat @ (q / max(float(np.linalg.norm(q)), 1e-12))
    out, i = [], 0
    for us in units:
        n = sum(1 for u in us if u)
        out.append(float(sims[i : i + n].max()) if n else 0.0)
        i += n
    return out


def rerank(
    query_vec: Sequence[float],
    hits: Sequence[Hit],
    vectors: EmbeddingCache,
    *,
    weight: float,
    rrf_k: float,
) -> list[Hit]:
    """``hits`` (already fused) with a third, sentence-level ranking fused in, best first."""
    if not hits:
        return []
    scores = best_sentence_scores(query_vec, hits, vectors)
    order = sorted(range(len(hits)), key=lambda i: -scores[i])
    rank = {i: r + 1 for r, i in enumerate(order)}
    out = [replace(h, score=h.score + weight / (rrf_k + rank[i])) for i, h in enumerate(hits)]
    return sorted(out, key=lambda h: -h.score)
