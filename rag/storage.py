"""``Storage``: the parts of one store (catalogue, Chroma vectors, BM25 index, embedder,
chunker), built lazily, kept in step with other processes' writes, and forgotten on rebuild."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from rag.catalogue import Catalogue
from rag.chunking import Chunker
from rag.embedders import Embedder, EmbeddingCache, make_embedder
from rag.errors import EmbedderMismatch, StoreBusy, StoreError
from rag.lexical import LexicalIndex
from rag.settings import Settings
from rag.store import VectorStore

# What ``rebuild`` deletes, in this order: the catalogue (what says what is whole) goes last,
# and its WAL before it, so a rebuild killed half-way leaves a catalogue whose vectors are
# missing (the next ingest or `papers doctor --repair` re-embeds them), never a fresh
# catalogue beside an old WAL.
_STORE_PARTS = ("chroma", "bm25", "library.sqlite-wal", "library.sqlite-shm", "library.sqlite")


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
        self._lock: Any = None  # a filelock.FileLock, made on the first write

    def _make_dir(self) -> None:
        d = self.store_dir
        if d.exists() and not d.is_dir():
            raise StoreError(f"the store {d} is a file, not a folder; choose another --store")
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store folder {d}: {(exc.strerror or str(exc)).lower()}; "
                f"choose another --store"
            ) from exc

    # -- parts, built lazily so opening a store costs nothing ----------------------------
    @cached_property
    def catalogue(self) -> Catalogue:
        self._make_dir()
        return Catalogue(self.store_dir / "library.sqlite")

    @cached_property
    def identity(self) -> tuple[str | None, str]:
        """(library id, Chroma collection name) of this store (see ``Catalogue.identity``)."""
        lid, name = self.catalogue.identity()
        return lid, self.settings.chroma.collection or name

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
        lid, name = self.identity
        return VectorStore(
            path=self.store_dir / "chroma",
            collection=name,
            embedder=self.embedder.name,
            dim=dim,
            host=ch.host,
            port=ch.port,
            library_id=lid,
        )

    @cached_property
    def lexical(self) -> LexicalIndex:
        """The BM25 index, loaded (or rebuilt) by ``refresh`` to match the catalogue."""
        return LexicalIndex(self.store_dir / "bm25")

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
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store's writer lock: one writer at a time, and a second one refuses at once
        rather than interleaving batches (or deleting the store under a running ingest).
        Re-entrant, so ``ingest(rebuild=True)`` can rebuild inside its own lock."""
        from filelock import FileLock, Timeout

        if self._lock is None:
            self._make_dir()
            self._lock = FileLock(str(self.store_dir / ".ingest.lock"))
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise StoreBusy(
                f"another `papers ingest` is writing to {self.store_dir}; wait for it to finish"
            ) from None
        except OSError as exc:
            raise StoreError(
                f"cannot lock the store {self.store_dir} for writing: "
                f"{(exc.strerror or str(exc)).lower()}; make it writable or choose another --store"
            ) from exc
        try:
            yield
        finally:
            self._lock.release()

    def rebuild(self) -> None:
        """Forget everything stored (``ingest --rebuild``), under the writer lock.

        On a Chroma server the collection is deleted first, and only if it is this library's:
        if the server is down nothing is deleted at all.
        """
        with self.writing():
            if self.settings.chroma.host:
                self.vectors.drop()
            if (self.store_dir / "library.sqlite").exists():
                try:  # a rebuild killed half-way is finished by the next run (see _STORE_PARTS)
                    self.catalogue.set_meta("pending", "1")
                except StoreError:
                    pass  # a catalogue that cannot be written is about to go anyway
            self._forget_parts()  # let go of the files (embedded Chroma's too) before deleting
            try:
                for part in _STORE_PARTS:
                    p = self.store_dir / part
                    if p.is_dir():
                        shutil.rmtree(p)
                    elif p.exists():
                        p.unlink()
            except OSError as exc:
                raise StoreError(
                    f"cannot delete {exc.filename or self.store_dir} to rebuild: "
                    f"{(exc.strerror or str(exc)).lower()}; make the store writable and rerun"
                ) from exc

    def rebuild_lexical(self) -> None:
        """Rebuild the BM25 index from the catalogue's committed chunks, and save it."""
        gen, ids, pids, texts = self.catalogue.chunk_texts_snapshot()
        self.lexical.build(ids, pids, texts, gen, library_id=self.identity[0])
        self.lexical.save()

    def reembed(self, chunk_ids: Sequence[str], *, batch: int = 256) -> int:
        """Embed committed chunks again from the catalogue's texts and store their vectors
        (vectors lost with a Chroma server's data, or a library moved to its own collection)."""
        rows = self.catalogue.embed_rows(chunk_ids)
        for i in range(0, len(rows), batch):
            part = rows[i : i + batch]
            vectors = self.embedder.embed([text for _, _, text in part])
            self.vectors.upsert([c for c, _, _ in part], vectors, [p for _, p, _ in part])
        return len(rows)

    def use_own_collection(self) -> str:
        """Give this library a Chroma collection of its own, named from its library id (when
        the one it had holds another library's vectors). Its vectors must then be re-embedded."""
        if self.settings.chroma.collection:
            raise StoreError(
                f"the Chroma collection is set to '{self.settings.chroma.collection}' "
                f"(chroma.collection); unset it so the library can use its own"
            )
        lid, current = self.catalogue.identity()
        if lid is None:
            raise StoreError(f"the store {self.store_dir} cannot be written; make it writable")
        name = f"papers-{lid}"
        if name == current:
            name = f"papers-{lid}-{secrets.token_hex(3)}"
        self.catalogue.set_meta("collection", name)
        for attr in ("identity", "vectors"):
            self.__dict__.pop(attr, None)
        return name

    def close(self) -> None:
        if "catalogue" in self.__dict__:
            self.catalogue.close()

    def _forget_parts(self) -> None:
        """Drop every open part, so the next use opens the store's files afresh."""
        self.close()
        if "vectors" in self.__dict__:
            self.vectors.reopen()
        for attr in ("catalogue", "identity", "vectors", "lexical"):
            self.__dict__.pop(attr, None)
        self._seen_generation = None

    # -- reading ----------------------------------------------------------------
    def refresh(self) -> None:
        """See other processes' writes: reopen Chroma, and bring BM25 to the catalogue's
        generation, when the store changed."""
        if "catalogue" in self.__dict__ and self.catalogue.replaced():
            self._forget_parts()  # another process rebuilt the store
        gen = self.catalogue.generation()
        if gen == self._seen_generation:
            return
        if self._seen_generation is not None and "vectors" in self.__dict__:
            self.vectors.reopen()
        self._refresh_lexical(gen)
        self._seen_generation = gen

    def _refresh_lexical(self, gen: int) -> None:
        """Load the saved BM25 index if it is the catalogue's; otherwise build one in memory.

        The saved index is behind the catalogue while an ingest runs (the writer saves it once,
        at the end) and after an ingest was killed: a reader then builds BM25 from the
        catalogue itself, so every committed paper is found by BM25 as well as by Chroma.
        Measured: building over 1,208 abstract-sized texts (the seed corpus has 1,174 chunks)
        takes 0.27 s on 2 cores, about 220 us a text, paid once per generation a reader sees.
        Saving from the writer after every batch instead would rebuild the whole index per
        batch (bm25s cannot add to an index): 6 x 0.27 s on the seed corpus's 76 s ingest, but
        quadratic in an ingest's size (about 20 s a batch at 100k chunks, extrapolated), paid
        by every ingest whether or not anyone reads. The reader's price grows the same way,
        but only while an ingest runs or after one was killed.
        """
        lex, lid = self.lexical, self.identity[0]
        if lex.generation == gen and lex.library_id in (lid, None):
            return
        if self.saved_lexical_state() == "current" and lex.load() and lex.generation == gen:
            return
        snap_gen, ids, pids, texts = self.catalogue.chunk_texts_snapshot()
        lex.build(ids, pids, texts, snap_gen, library_id=lid)

    def saved_lexical_state(self) -> str:
        """The saved BM25 index against the catalogue: "current", "stale", "outdated" (built
        by an older tokenizer: readers rebuild it in memory until it is saved again) or
        "missing"."""
        lid, gen = self.lexical.saved_stamp()
        if gen < 0:
            return "outdated" if self.lexical.saved_by_another_tokenizer() else "missing"
        # No library id: saved before stores had one; its generation still says what it holds.
        if gen == self.catalogue.generation() and lid in (self.identity[0], None):
            return "current"
        return "stale"

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
