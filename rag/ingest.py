"""Ingest: read sources, chunk and embed what is new or changed, keep Chroma, BM25 and the
catalogue in step. Incremental, idempotent, and safe to kill at any point.

Order of writes for a batch: vectors are upserted into Chroma under ids that include the
content hash, then the catalogue commits the papers (this is when they become visible),
then the chunks of the papers' previous versions are deleted from Chroma. A run killed
between those steps leaves vectors the catalogue does not know; readers ignore them and
the next ingest deletes them (the catalogue's ``pending`` flag says to look). Vectors lost
since (a Chroma server's collection gone, the embedded Chroma folder deleted) are re-embedded
from the catalogue's texts. Destructive steps (``rebuild``) happen inside the writer lock,
never before it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.doctor import fix_vectors
from rag.errors import SourceError
from rag.reconcile import Plan, plan
from rag.sources import Problem, Record
from rag.sources.papers import collect, read_records
from rag.types import Chunk, Paper

if TYPE_CHECKING:
    from rag.storage import Storage

BATCH_PAPERS = 128


@dataclass
class IngestReport:
    """What an ingest did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    # Papers read under another id than the paper they are (its DOI where the store had its
    # title), merged into that paper (``rag.reconcile``).
    merged: int = 0
    # Papers whose sources or other metadata changed, with nothing to re-embed.
    sources_updated: int = 0
    records: int = 0
    chunks_embedded: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def skipped(self) -> int:
        return sum(1 for p in self.problems if "skipped" in p.message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "merged": self.merged,
            "sources_updated": self.sources_updated,
            "records": self.records,
            "chunks_embedded": self.chunks_embedded,
            "skipped": self.skipped,
            "problems": [str(p) for p in self.problems],
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.skipped} skipped, {self.merged} merged into papers met under other ids "
            f"({self.records} records read, "
            f"{self.chunks_embedded} chunks embedded, {self.seconds:.1f} s)"
        )


def ingest(
    storage: Storage,
    paths: Iterable[str | Path],
    *,
    fmt: str | None = None,
    rebuild: bool = False,
    progress: Callable[[int, int], None] | None = None,
    on_problem: Callable[[Problem], None] | None = None,
    records: Iterable[tuple[str, Record]] | None = None,
) -> IngestReport:
    """Bring the store in step with ``paths``. ``progress(done, total)`` is called per batch.

    ``records`` (``(where, record)`` pairs, e.g. fetched from an API) are added beside the
    files' records. With ``rebuild``, the store is forgotten first, inside the writer lock
    (so never under another running ingest), and only once the inputs gave a paper.
    """
    t0 = time.perf_counter()
    rep = IngestReport()
    paths = list(paths)

    def report(p: Problem) -> None:
        rep.problems.append(p)
        if on_problem:
            on_problem(p)

    with storage.writing():
        inputs: list[Iterable[tuple[str, Record]]] = []
        if paths:
            inputs.append(read_records(paths, report, fmt=fmt))
        if records is not None:
            # Files first: a paper also met in a file keeps the file's record.
            inputs.append(records)
        got = collect(itertools.chain(*inputs), report)
        rep.records = got.records
        if rebuild:
            if not got.papers:
                raise SourceError(
                    f"no papers were read from {', '.join(map(str, paths))}; the store at "
                    f"{storage.store_dir} was left as it is rather than rebuilt empty"
                )
            storage.rebuild()
        cat = storage.catalogue
        storage.check_embedder(write=True)
        _recover(storage)
        writes = plan(cat, got, report)
        rep.added, rep.updated, rep.unchanged = writes.added, writes.updated, writes.unchanged
        rep.merged = got.merged + writes.merged
        todo = writes.todo
        if progress:
            progress(0, len(todo))
        if todo:
            cat.set_meta("pending", "1")
            done = 0
            for i in range(0, len(todo), BATCH_PAPERS):
                batch = todo[i : i + BATCH_PAPERS]
                rep.chunks_embedded += _write_batch(storage, batch, writes)
                done += len(batch)
                if progress:
                    progress(done, len(todo))
        cat.update_metadata(writes.metadata, keys=writes.keys, auto_citekeys=writes.auto_citekeys)
        rep.sources_updated = len(writes.metadata)
        if todo or storage.saved_lexical_state() != "current":
            storage.rebuild_lexical()
        cat.set_meta("pending", "0")
    rep.seconds = time.perf_counter() - t0
    return rep


def _write_batch(storage: Storage, batch: list[tuple[Paper, str]], writes: Plan) -> int:
    chunker = storage.chunker
    items: list[tuple[Paper, str, list[Chunk]]] = []
    all_chunks: list[Chunk] = []
    for paper, digest in batch:
        chunks = chunker.chunk(paper)
        items.append((paper, digest, chunks))
        all_chunks.extend(chunks)
    vectors = storage.embedder.embed([c.embed_text for c in all_chunks])
    stale = set(storage.catalogue.chunk_ids_of(p.paper_id for p, _ in batch))
    storage.vectors.upsert(
        [c.chunk_id for c in all_chunks],
        vectors,
        [c.paper_id for c in all_chunks],
    )
    storage.catalogue.commit_papers(items, keys=writes.keys, auto_citekeys=writes.auto_citekeys)
    storage.vectors.delete(sorted(stale - {c.chunk_id for c in all_chunks}))
    return len(all_chunks)


def _recover(storage: Storage) -> None:
    """Finish what a killed run left (its ``pending`` flag), and re-embed vectors lost since."""
    if storage.catalogue.get_meta("pending") == "1" or _vectors_lost(storage):
        fix_vectors(storage)


def _vectors_lost(storage: Storage) -> bool:
    chunks = storage.catalogue.counts()["chunks"]
    if storage.settings.chroma.host:
        # A server can lose a collection on its own (restarted on another --path, its data
        # deleted): one count() a run notices, at a few ms.
        return storage.vectors.count() != chunks
    # Embedded, the vectors sit beside the catalogue. Opening Chroma to count them would cost
    # an unchanged re-ingest 0.5 s more (chromadb's import alone: 0.4-0.9 s against 0.2 s
    # for the whole run, measured), so only a deleted folder is looked for here; anything
    # subtler is `papers doctor`'s job.
    return chunks > 0 and not (storage.store_dir / "chroma").is_dir()


def remove(
    storage: Storage, *, source: str | None = None, paper_ids: list[str] | None = None
) -> list[Paper]:
    """Remove papers by id, or every paper whose only source is ``source`` (others lose it)."""
    with storage.writing():
        cat = storage.catalogue
        # Before this run sets and clears ``pending``, finish a killed run's clean-up.
        _recover(storage)
        gone: list[Paper] = []
        updates: dict[str, list[str]] = {}
        if paper_ids:
            gone.extend(cat.get_papers(paper_ids).values())
        if source:
            for p in cat.iter_papers():
                if source in p.sources:
                    rest = [s for s in p.sources if s != source]
                    if rest:
                        updates[p.paper_id] = rest
                    else:
                        gone.append(p)
        ids = [p.paper_id for p in gone]
        chunk_ids = cat.chunk_ids_of(ids)
        cat.set_meta("pending", "1")
        cat.delete_papers(ids)
        cat.update_sources(updates)
        storage.vectors.delete(chunk_ids)
        storage.rebuild_lexical()
        cat.set_meta("pending", "0")
        return gone
