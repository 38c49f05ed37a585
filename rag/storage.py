"""``Storage``: the parts of one store (catalogue, Chroma vectors, BM25 index, embedder,
chunker), built lazily, kept in step with other processes' writes, and forgotten on rebuild."""

from __future__ import annotations

import shutil
from functools import cached_property
from pathlib import Path
from typing import Any

from rag.catalogue import Catalogue
from rag.chunking import Chunker
from rag.embedders import Embedder, EmbeddingCache, make_embedder
from rag.errors import EmbedderMismatch
from rag.lexical import LexicalIndex
from rag.settings import Settings
from rag.store import VectorStore

# What ``rebuild`` deletes: everything the store keeps on disk.
_STORE_PARTS = ("library.sqlite", "library.sqlite-wal", "library.sqlite-shm", "bm25", "chroma")


class Storage:
    """One store's parts. Each is built on first use, so opening a store costs nothing.

    Example:
        >>> storage = Storage(Settings.load(store="~/papers-store"))  # doctest: +SKIP
        >>> storage.catalogue.counts()["papers"]                       # doctest: +SKIP
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store_dir = Path(settings.store).expanduser()
        self._seen_generation: int | None = None
        self._warm = False

    # -- parts, built lazily so opening a store costs nothing ----------------------------
    @cached_property
    def catalogue(self) -> Catalogue:
        return Catalogue(self.store_dir / "library.sqlite")

    @cached_property
    def embedder(self) -> Embedder:
        return make_embedder(
            self.settings.embedder,
            ollama_host=self.settings.ollama_host(),
            batch_size=self.settings.embed_batch_size,
        )

    @cached_property
    def chunker(self) -> Chunker:
        emb = self.embedder
        max_tokens = min(emb.max_tokens, self.settings.chunking.max_tokens - 2)
        return Chunker(
            emb.count_tokens,
            max_tokens=max_tokens,
            overlap_tokens=self.settings.chunking.overlap_tokens,
            count_many=emb.count_many,
        )

    @cached_property
    def vectors(self) -> VectorStore:
        dim = self._recorded_dim() or self.embedder.dim
        ch = self.settings.chroma
        return VectorStore(
            path=self.store_dir / "chroma",
            collection=ch.collection,
            embedder=self.embedder.name,
            dim=dim,
            host=ch.host,
            port=ch.port,
        )

    @cached_property
    def lexical(self) -> LexicalIndex:
        idx = LexicalIndex(self.store_dir / "bm25")
        idx.load()
        return idx

    @cached_property
    def sentence_vectors(self) -> EmbeddingCache:
        """Vectors of abstract sentences, kept across queries for the reranker."""
        from rag.rerank import SENTENCE_CACHE_SIZE

        return EmbeddingCache(self.embedder, size=SENTENCE_CACHE_SIZE)

    def _recorded_dim(self) -> int | None:
        built = self.catalogue.get_meta("embedder")
        dim = self.catalogue.get_meta("dim")
        return int(dim) if built == self.embedder.name and dim else None

    def check_embedder(self, *, write: bool = False) -> None:
        """Raise ``EmbedderMismatch`` if the store was built with another embedder."""
        built = self.catalogue.get_meta("embedder")
        name = self.embedder.name
        if built is None:
            if write:
                self.catalogue.set_meta("embedder", name)
                self.catalogue.set_meta("dim", str(self.embedder.dim))
            return
        if built != name:
            spec = built.split(":", 1)[0] if built.startswith("minilm") else built
            raise EmbedderMismatch(
                f"the store at {self.store_dir} was built with {built}, not {name}; use "
                f"--embedder {spec}, or rebuild with `papers ingest --rebuild --embedder "
                f"{self.settings.embedder} PATH...`"
            )

    # -- writing ----------------------------------------------------------------
    def rebuild(self) -> None:
        """Forget everything stored (used by ``ingest --rebuild``)."""
        self.close()
        for part in _STORE_PARTS:
            p = self.store_dir / part
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        if self.settings.chroma.host:
            try:
                self.vectors.drop()
            except Exception:
                pass
        for attr in ("catalogue", "vectors", "lexical"):
            self.__dict__.pop(attr, None)

    def rebuild_lexical(self) -> None:
        """Rebuild the BM25 index from the catalogue's committed chunks, and save it."""
        ids, pids, texts = self.catalogue.chunk_texts()
        self.lexical.build(ids, pids, texts, self.catalogue.generation())
        self.lexical.save()

    def close(self) -> None:
        if "catalogue" in self.__dict__:
            self.catalogue.close()

    # -- reading ----------------------------------------------------------------
    def refresh(self) -> None:
        """See other processes' writes: reopen Chroma and reload BM25 when the store changed."""
        gen = self.catalogue.generation()
        if gen == self._seen_generation:
            return
        if self._seen_generation is not None and "vectors" in self.__dict__:
            self.vectors.reopen()
        saved = self.lexical.saved_generation()
        if saved != self.lexical.generation and saved >= 0:
            self.lexical.load()
        self._seen_generation = gen

    def warm(self) -> None:
        """Load the embedder and indexes now, so the first question is not the slow one."""
        if not self._warm:
            self.embedder.embed(["warm up"])
            self.refresh()
            self._warm = True

    def stats(self) -> dict[str, Any]:
        """Counts, embedder, where the store is, its size, and the chunk-length distribution."""
        counts = self.catalogue.counts()
        lengths = sorted(self.catalogue.token_lengths())

        def pct(q: float) -> int:
            return lengths[min(len(lengths) - 1, int(q * len(lengths)))] if lengths else 0

        size = (
            sum(f.stat().st_size for f in self.store_dir.rglob("*") if f.is_file())
            if self.store_dir.exists()
            else 0
        )
        return {
            **counts,
            "embedder": self.catalogue.get_meta("embedder") or self.embedder.name,
            "store": str(self.store_dir),
            "chroma": self.settings.chroma.host
            and f"{self.settings.chroma.host}:{self.settings.chroma.port}"
            or "embedded",
            "size_bytes": size,
            "sources": self.catalogue.source_counts(),
            "chunk_tokens": {
                "min": lengths[0] if lengths else 0,
                "p50": pct(0.5),
                "p90": pct(0.9),
                "p99": pct(0.99),
                "max": counts["max_chunk_tokens"],
                "window": self.chunker.max_tokens + 2 if lengths else None,
            },
            "generation": self.catalogue.generation(),
        }
