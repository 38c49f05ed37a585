"""Our hybrid search as a llama-index retriever, for any llama-index query engine or agent.

One node per paper found: its best-matching chunk of the abstract (or the abstract), the
paper's metadata alongside, scored by our fused score.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rag.filters import Filters
from rag.retrieve import SearchMode
from rag.types import Hit

__all__ = ["PapersRetriever", "Searchable", "hit_node"]

# What the LLM reads of a node's metadata, before the text: the title says which paper the
# text is from, the year and citekey how to refer to it. Left out of the prompt:
# - abstract: the text is the abstract or a piece of it; as metadata it would repeat it.
# - authors: up to dozens of names per paper, more tokens than most chunks.
# - paper_id, url, sources: ids, links and file names, which the model cannot use to answer
#   and would copy into its reply; they stay on the node for the caller to show.
_NOT_FOR_LLM = ["paper_id", "abstract", "authors", "url", "sources"]
# Were the node embedded again (put into a VectorStoreIndex), title + text is what our own
# store embeds for a chunk (rag.chunking); the rest would only blur the vector.
_NOT_FOR_EMBEDDING = ["paper_id", "abstract", "authors", "url", "sources", "year", "citekey"]


class Searchable(Protocol):
    """What the retriever needs of a library (``rag.Library``): its search."""

    def search(
        self, query: str, *, k: int | None, filters: Filters | None, mode: SearchMode
    ) -> list[Hit]: ...


class PapersRetriever(BaseRetriever):
    """Retrieves papers of a :class:`~rag.library.Library` with its own search.

    Example:
        >>> from llama_index.core.query_engine import RetrieverQueryEngine  # doctest: +SKIP
        >>> retriever = lib.as_retriever(k=5)                               # doctest: +SKIP
        >>> engine = RetrieverQueryEngine.from_args(retriever, llm=llm)     # doctest: +SKIP
        >>> print(engine.query("Which papers quantize LLM weights?"))  # doctest: +SKIP
    """

    def __init__(
        self,
        library: Searchable,
        *,
        k: int = 5,
        filters: Mapping[str, Any] | Filters | None = None,
        mode: SearchMode = "hybrid",
    ) -> None:
        super().__init__()
        self.library = library
        self.k = k
        # Read now, so a year that is no year fails here rather than at the first query.
        self.filters = filters if isinstance(filters, Filters) else Filters.from_mapping(filters)
        self.mode: SearchMode = mode

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.library.search(
            query_bundle.query_str, k=self.k, filters=self.filters, mode=self.mode
        )
        return [hit_node(hit) for hit in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # The search is synchronous (Chroma, BM25, the embedder); keep the loop free.
        return await asyncio.to_thread(self._retrieve, query_bundle)


def hit_node(hit: Hit) -> NodeWithScore:
    """``hit`` as a llama-index node: its best chunk's text (the abstract when no chunk
    matched), the paper's metadata, and the fused search score."""
    paper = hit.paper
    metadata: dict[str, Any] = {
        "paper_id": paper.paper_id,
        "title": paper.title,
        "citekey": paper.citekey,
        "url": paper.url,
        "abstract": paper.abstract,
        "year": paper.year,
        "authors": list(paper.authors),
        "sources": list(paper.sources),
    }
    # A paper without a citekey or year gets no empty "citekey: None" line in the prompt.
    absent = [key for key in ("citekey", "year") if metadata[key] is None]
    node = TextNode(
        # The paper id: one node per paper, stable across runs and machines.
        id_=paper.paper_id,
        text=hit.chunks[0] if hit.chunks else paper.abstract,
        metadata=metadata,
        excluded_llm_metadata_keys=[*_NOT_FOR_LLM, *absent],
        excluded_embed_metadata_keys=list(_NOT_FOR_EMBEDDING),
    )
    return NodeWithScore(node=node, score=hit.score)
