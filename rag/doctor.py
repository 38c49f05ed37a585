"""`papers doctor`: compare the catalogue, the Chroma collection and the BM25 index, report
every disagreement, and repair them under the writer lock."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from rag.errors import CollectionMismatch, EmbedderMismatch

if TYPE_CHECKING:
    from rag.storage import Storage

__all__ = ["HealthReport", "check", "fix_vectors"]

_EXAMPLES = 3  # chunk ids named in a problem line


@dataclass(frozen=True)
class HealthReport:
    """What ``check`` found: counts from each part of the store and where they disagree.

    ``vectors`` is None when the collection could not be read as this library's (see
    ``collection_problem`` and ``embedder_problem``). ``repaired`` says what a repair did;
    the rest of a repaired report describes the store after the repair.
    """

    store: str
    vectors_at: str
    collection: str
    papers: int
    chunks: int
    vectors: int | None
    missing_vectors: tuple[str, ...]  # committed chunks without a vector
    orphan_vectors: tuple[str, ...]  # vectors of no committed chunk
    bm25: str  # "current", "stale", "outdated" or "missing"
    interrupted: bool  # the catalogue's pending flag: an ingest or removal did not finish
    collection_problem: str | None = None
    embedder_problem: str | None = None
    repaired: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        """One line per disagreement, each saying what fixes it."""
        out = [p for p in (self.collection_problem, self.embedder_problem) if p]
        if self.missing_vectors:
            out.append(
                f"{len(self.missing_vectors)} chunks have no vector in {self.vectors_at} "
                f"({_examples(self.missing_vectors)}); `papers doctor --repair` re-embeds them"
            )
        if self.orphan_vectors:
            out.append(
                f"{len(self.orphan_vectors)} vectors in {self.vectors_at} belong to no paper "
                f"({_examples(self.orphan_vectors)}); `papers doctor --repair` deletes them"
            )
        if self.bm25 != "current":
            what = {
                "missing": "missing",
                "outdated": "from an older version of papers (it splits words differently)",
            }.get(self.bm25, "older than the catalogue")
            out.append(f"the BM25 index is {what}; `papers doctor --repair` rebuilds it")
        if self.interrupted:
            out.append(
                "an ingest or removal was interrupted; `papers doctor --repair` (or the next "
                "`papers ingest`) finishes its clean-up"
            )
        return out

    def lines(self) -> list[str]:
        """The report as the CLI prints it."""
        vectors = "?" if self.vectors is None else str(self.vectors)
        out = [
            f"store       {self.store}",
            f"catalogue   {self.papers} papers, {self.chunks} chunks",
            f"chroma      {vectors} vectors in collection '{self.collection}' ({self.vectors_at})",
            f"bm25        {self.bm25}",
        ]
        out += [f"repaired    {r}" for r in self.repaired]
        problems = self.problems()
        out += [f"problem     {p}" for p in problems]
        out.append("healthy" if not problems else f"{len(problems)} problems")
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["missing_vectors"] = len(self.missing_vectors)
        d["orphan_vectors"] = len(self.orphan_vectors)
        d["problems"] = self.problems()
        d["healthy"] = self.healthy
        return d


def check(storage: Storage, *, repair: bool = False) -> HealthReport:
    """Compare the store's parts; with ``repair``, fix what disagrees and check again.

    Holds the writer lock (``StoreBusy`` while an ingest runs): during a write the parts
    disagree on purpose, for a moment.
    """
    with storage.writing():
        report = _diagnose(storage)
        if not repair or report.healthy:
            return report
        done = _repair(storage, report)
        return replace(_diagnose(storage), repaired=tuple(done))


def fix_vectors(storage: Storage) -> tuple[int, int]:
    """Make Chroma hold exactly the catalogue's chunks: delete vectors of no committed chunk,
    re-embed committed chunks without one. Returns (deleted, re-embedded). Call it holding
    the writer lock."""
    committed = storage.catalogue.chunk_ids()
    stored = set(storage.vectors.all_ids())
    orphans = sorted(stored.difference(committed))
    missing = [c for c in committed if c not in stored]
    storage.vectors.delete(orphans)
    reembedded = storage.reembed(missing) if missing else 0
    return len(orphans), reembedded


def _diagnose(storage: Storage) -> HealthReport:
    cat = storage.catalogue
    counts = cat.counts()
    committed = cat.chunk_ids()
    _, collection = storage.identity
    vectors = storage.vectors
    stored: list[str] | None = None
    collection_problem = embedder_problem = None
    try:
        storage.check_embedder()
        stored = vectors.all_ids()
    except CollectionMismatch as exc:
        collection_problem = str(exc)
    except EmbedderMismatch as exc:
        embedder_problem = str(exc)
    missing: tuple[str, ...] = ()
    orphans: tuple[str, ...] = ()
    if stored is not None:
        have = set(stored)
        missing = tuple(c for c in committed if c not in have)
        orphans = tuple(sorted(have.difference(committed)))
    bm25 = storage.saved_lexical_state()
    if bm25 == "current" and storage.lexical.saved_ids() != committed:
        bm25 = "stale"  # the right generation, the wrong chunks: written by something else
    return HealthReport(
        store=str(storage.store_dir),
        vectors_at=vectors.where(),
        collection=collection,
        papers=counts["papers"],
        chunks=counts["chunks"],
        vectors=None if stored is None else len(stored),
        missing_vectors=missing,
        orphan_vectors=orphans,
        bm25=bm25,
        interrupted=cat.get_meta("pending") == "1",
        collection_problem=collection_problem,
        embedder_problem=embedder_problem,
    )


def _repair(storage: Storage, found: HealthReport) -> list[str]:
    done: list[str] = []
    if found.embedder_problem is None:  # another embedder's store is rebuilt, not repaired
        if found.collection_problem:
            name = storage.use_own_collection()
            done.append(f"gave this library its own Chroma collection '{name}'")
        deleted, reembedded = fix_vectors(storage)
        if deleted:
            done.append(f"deleted {deleted} vectors that belong to no paper")
        if reembedded:
            done.append(f"re-embedded {reembedded} chunks that had no vector")
    if found.bm25 != "current":
        storage.rebuild_lexical()
        done.append("rebuilt the BM25 index from the catalogue")
    if found.interrupted and found.embedder_problem is None:
        storage.catalogue.set_meta("pending", "0")
        done.append("finished the interrupted ingest's clean-up")
    return done


def _examples(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:_EXAMPLES])
    return f"{shown}, ..." if len(ids) > _EXAMPLES else shown
