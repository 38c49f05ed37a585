"""``Library``: the public face of papers. Open a store, ingest, search, ask."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from rag.catalogue import Catalogue
from rag.chunking import Chunker
from rag.embedders import Embedder, make_embedder
from rag.errors import EmbedderMismatch
from rag.lexical import LexicalIndex
from rag.retrieve import Filters, build_hits, fuse
from rag.settings import Settings
from rag.store import VectorStore
from rag.types import Hit, Paper


class Library:
    """A library of papers on disk (or on a Chroma server).

    Example:
        >>> lib = Library.open("~/papers-store")            # doctest: +SKIP
        >>> lib.ingest(["../shared/seeds"])                 # doctest: +SKIP
        >>> [h.paper.title for h in lib.search("weight quantization of LLMs", k=3)]  # doctest: +SKIP
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store_dir = Path(settings.store).expanduser()
        self._seen_generation: int | None = None

    @classmethod
    def open(
        cls, store: str | Path | None = None, *, settings: Settings | None = None, **overrides: Any
    ) -> Library:
        """Open (or create) the library at ``store``; other settings as keyword overrides."""
        if settings is None:
            settings = Settings.load(store=store, **overrides)
        elif store is not None:
            settings = settings.model_copy(update={"store": Path(store)})
        return cls(settings)

    # -- parts, built lazily so opening a library costs nothing ----------------------
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
    def ingest(
        self, paths: Iterable[str | Path], *, fmt: str | None = None, progress=None, on_problem=None
    ):
        """Add or update papers from files/folders; returns an ``IngestReport``."""
        from rag.ingest import ingest

        return ingest(self, paths, fmt=fmt, progress=progress, on_problem=on_problem)

    def remove(
        self, *, source: str | None = None, paper_ids: list[str] | None = None
    ) -> list[Paper]:
        """Remove papers by id or by source; returns the papers removed."""
        from rag.ingest import remove

        return remove(self, source=source, paper_ids=paper_ids)

    def rebuild(self) -> None:
        """Forget everything stored (used by ``ingest --rebuild``)."""
        import shutil

        self.close()
        for part in (
            "library.sqlite",
            "library.sqlite-wal",
            "library.sqlite-shm",
            "bm25",
            "chroma",
        ):
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

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        filters: Mapping[str, Any] | Filters | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """The ``k`` papers best matching ``query``; ``mode`` is hybrid, dense or bm25."""
        self.refresh()
        r = self.settings.retrieval
        k = k or r.k
        f = filters if isinstance(filters, Filters) else Filters.from_mapping(filters)
        n = max(r.candidates, 4 * k) * (10 if f else 1)
        dense = lexical = []
        if mode in ("hybrid", "dense"):
            self.check_embedder()
            qvec = self.embedder.embed([query])[0]
            dense = [(h.chunk_id, h.paper_id, h.similarity) for h in self.vectors.query(qvec, n)]
        if mode in ("hybrid", "bm25"):
            lexical = self.lexical.query(query, n)
        # Only what the catalogue has committed is visible: a half-written paper is not.
        rows = self.catalogue.chunk_rows({c for c, _, _ in dense} | {c for c, _, _ in lexical})
        dense = [x for x in dense if x[0] in rows]
        lexical = [x for x in lexical if x[0] in rows]
        fused = fuse(
            dense, lexical, rrf_k=r.rrf_k, dense_weight=r.dense_weight, bm25_weight=r.bm25_weight
        )
        # Only the papers that can make the cut are read (their JSON decoding is not free).
        wanted = max(k, r.rerank_candidates if r.rerank else 0) + 5
        papers = self.catalogue.get_papers(
            pid for pid, *_ in fused[: max(4 * k, 50) * 10 if f else wanted]
        )
        texts = {c: t for c, (_, t) in rows.items()}
        if r.rerank and mode != "bm25" and dense:
            from rag.rerank import rerank

            pool = build_hits(fused, papers, texts, max(k, r.rerank_candidates), f)
            return rerank(
                qvec, pool, self._sentence_vectors, weight=r.rerank_weight, rrf_k=r.rrf_k
            )[:k]
        return build_hits(fused, papers, texts, k, f)

    @cached_property
    def _sentence_vectors(self):
        from rag.answer import EmbeddingCache
        from rag.rerank import SENTENCE_CACHE_SIZE

        return EmbeddingCache(self.embedder, size=SENTENCE_CACHE_SIZE)

    def warm(self) -> None:
        """Load the embedder and indexes now, so the first question is not the slow one."""
        if not self.__dict__.get("_warm"):
            self.embedder.embed(["warm up"])
            self.refresh()
            self.__dict__["_warm"] = True

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

    # -- answering --------------------------------------------------------------
    def chat_model(self, llm: str | None = None):
        """The chat model for ``llm`` (auto, ollama[:model], embedded, none), made once."""
        spec = llm or self.settings.llm.backend
        if spec == "none":
            return None
        cache = self.__dict__.setdefault("_chat_models", {})
        if spec not in cache:
            from rag.llm import make_chat_model

            cache[spec] = make_chat_model(self.settings, spec)
        return cache[spec]

    def _floor(self, hits: list[Hit]) -> list[Hit]:
        """Nothing close enough: no sources, so the answer says the library has none."""
        best = max((h.dense_score or 0.0 for h in hits), default=0.0)
        return hits if best >= self.settings.retrieval.min_dense_score else []

    async def astream(
        self,
        question: str,
        *,
        conversation=None,
        llm: str | None = None,
        k: int | None = None,
        filters: Mapping[str, Any] | Filters | None = None,
    ):
        """Answer ``question``: yields ``SourcesReady``, then ``TextDelta``s, then ``AnswerDone``.

        Example:
            >>> async for event in lib.astream("Which papers quantize LLM weights?"):  # doctest: +SKIP
            ...     print(event)
        """
        import asyncio
        import time

        from rag.answer import Conversation, acondense_question, astream_answer

        conversation = conversation if conversation is not None else Conversation()
        chat = await asyncio.to_thread(self.chat_model, llm)
        await asyncio.to_thread(self.warm)
        standalone = await acondense_question(question, conversation, chat)
        t0 = time.perf_counter()
        hits = await asyncio.to_thread(self.search, standalone, k=k, filters=filters)
        hits = self._floor(hits)
        retrieval_ms = (time.perf_counter() - t0) * 1000
        async for event in astream_answer(
            question,
            hits,
            conversation=conversation,
            chat=chat,
            embedder=self.embedder,
            settings=self.settings,
            retrieval_ms=retrieval_ms,
            standalone_question=standalone,
        ):
            yield event

    async def aask(self, question: str, **kwargs: Any):
        """Answer ``question`` and return the checked ``Answer`` (see :meth:`astream`)."""
        from rag.answer import AnswerDone

        answer = None
        async for event in self.astream(question, **kwargs):
            if isinstance(event, AnswerDone):
                answer = event.answer
        return answer

    def stream(self, question: str, **kwargs: Any):
        """Sync twin of :meth:`astream`: an iterator of the same events."""
        from rag.llm.base import iterate_async

        return iterate_async(self.astream(question, **kwargs))

    def ask(self, question: str, **kwargs: Any):
        """Sync twin of :meth:`aask`.

        Example:
            >>> answer = lib.ask("What does AWQ protect?", llm="none")  # doctest: +SKIP
            >>> print(answer.text)                                       # doctest: +SKIP
        """
        from rag.answer import AnswerDone

        answer = None
        for event in self.stream(question, **kwargs):
            if isinstance(event, AnswerDone):
                answer = event.answer
        return answer
