"""The library's catalogue: papers, their chunks and the store's identity, in SQLite.

The catalogue is the record of what is whole: a paper counts once its row is committed,
after its vectors are in Chroma. Readers see only committed papers, so an ingest killed
half-way never shows a half-written paper. WAL mode lets readers read while one writer writes.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from rag.catalogue_schema import (
    META_COLUMNS,
    PAPER_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    add_aliases,
    meta_values,
    migrate,
    paper_from_row,
)
from rag.errors import StoreError
from rag.types import Chunk, Paper

# The collection every store used before stores had their own (see ``Catalogue.identity``).
LEGACY_COLLECTION = "papers"


class Catalogue:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(
                path, timeout=30, check_same_thread=False, isolation_level=None
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.executescript(SCHEMA)
            if self.get_meta("schema") != SCHEMA_VERSION:
                with self._writing() as cur:
                    migrate(cur)
            self._file = _file_id(path)
        except (OSError, sqlite3.Error) as exc:
            if path.parent.is_dir() and not os.access(path.parent, os.W_OK):
                # SQLite's WAL needs its -shm file beside the catalogue even to read.
                hint = "the store is read-only, and papers writes there even to read; make it "
                hint += "writable or copy it elsewhere"
            else:
                hint = "choose another --store, or move the file aside and rerun"
            raise StoreError(f"cannot open the catalogue {path}: {_reason(exc)}; {hint}") from exc

    def close(self) -> None:
        self.db.close()

    def replaced(self) -> bool:
        """Whether the file was deleted or replaced since it was opened (another process's
        ``--rebuild``): this connection then reads a deleted file and sees no more writes."""
        try:
            return _file_id(self.path) != self._file
        except OSError:
            return True

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction; a full disk or a read-only store is one ``StoreError`` line."""
        cur = self.db.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    cur.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot write the catalogue {self.path}: {_reason(exc)}; free disk space or "
                f"make the store writable, then rerun (what was committed is kept)"
            ) from exc

    def identity(self) -> tuple[str | None, str]:
        """(library id, Chroma collection name), chosen once when the store is first used.

        A new store's collection is named from its id, so libraries sharing a Chroma server
        never share a collection. A store from before library ids keeps ``papers``, where its
        vectors are. On a read-only store the id cannot be recorded: (None, the name).
        """
        lid, name = self.get_meta("library_id"), self.get_meta("collection")
        if lid and name:
            return lid, name
        try:
            with self._writing() as cur:
                row = cur.execute("SELECT value FROM meta WHERE key='library_id'").fetchone()
                if row:  # another process got there first
                    lid = row[0]
                else:
                    lid = secrets.token_hex(8)
                    cur.execute("INSERT INTO meta(key, value) VALUES ('library_id', ?)", (lid,))
                row = cur.execute("SELECT value FROM meta WHERE key='collection'").fetchone()
                if row:
                    name = row[0]
                else:
                    # Anything ever committed bumped the generation.
                    used = cur.execute(
                        "SELECT EXISTS(SELECT 1 FROM papers) OR EXISTS(SELECT 1 FROM meta "
                        "WHERE key = 'generation')"
                    ).fetchone()[0]
                    name = LEGACY_COLLECTION if used else f"papers-{lid}"
                    cur.execute("INSERT INTO meta(key, value) VALUES ('collection', ?)", (name,))
        except StoreError:
            return lid, name or LEGACY_COLLECTION
        return lid, name

    # -- meta -----------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._writing() as cur:
            cur.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    # -- papers ----------------------------------------------------------------
    def hashes(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT paper_id, content_hash FROM papers"))

    def sources_of(self, paper_ids: Iterable[str]) -> dict[str, list[str]]:
        out = {}
        for pid in paper_ids:
            row = self.db.execute("SELECT sources FROM papers WHERE paper_id=?", (pid,)).fetchone()
            if row:
                out[pid] = json.loads(row[0])
        return out

    def chunk_ids_of(self, paper_ids: Iterable[str]) -> list[str]:
        ids: list[str] = []
        for pid in paper_ids:
            ids.extend(
                r[0]
                for r in self.db.execute("SELECT chunk_id FROM chunks WHERE paper_id=?", (pid,))
            )
        return ids

    def commit_papers(
        self,
        items: list[tuple[Paper, str, list[Chunk]]],
        *,
        keys: Mapping[str, Iterable[str]] | None = None,
        auto_citekeys: Container[str] = (),
    ) -> None:
        """Write papers with their chunks and alias keys (theirs and ``keys[paper_id]``) in
        one transaction and bump the generation. ``auto_citekeys``: ids of papers whose
        citekey was generated, not given by their source."""
        now = time.time()
        with self._writing() as cur:
            for paper, digest, chunks in items:
                cur.execute("DELETE FROM chunks WHERE paper_id=?", (paper.paper_id,))
                meta = meta_values(paper, paper.paper_id in auto_citekeys)
                # An upsert, not INSERT OR REPLACE: a replaced row is a deleted one, and the
                # delete would take the paper's alias keys with it.
                cur.execute(
                    f"INSERT INTO papers ({PAPER_COLUMNS}) VALUES ({','.join('?' * 15)}) "
                    "ON CONFLICT(paper_id) DO UPDATE SET "
                    + ", ".join(f"{c}=excluded.{c}" for c in PAPER_COLUMNS.split(", ")[1:]),
                    (
                        paper.paper_id,
                        paper.title,
                        paper.abstract,
                        *meta[:7],
                        digest,
                        now,
                        *meta[7:],
                    ),
                )
                cur.executemany(
                    "INSERT INTO chunks VALUES (?,?,?,?,?,?)",
                    [
                        (c.chunk_id, c.paper_id, c.index, c.text, c.embed_text, c.n_tokens)
                        for c in chunks
                    ],
                )
            add_aliases(cur, [p for p, _, _ in items], keys or {})
            self._bump(cur)

    def update_metadata(
        self,
        papers: list[Paper],
        *,
        keys: Mapping[str, Iterable[str]] | None = None,
        auto_citekeys: Container[str] = (),
    ) -> None:
        """Rewrite what papers say about themselves (sources, DOI, citekey...), not their
        title or abstract: nothing to re-chunk or re-embed."""
        if not papers:
            return
        with self._writing() as cur:
            cur.executemany(
                f"UPDATE papers SET {', '.join(f'{c}=?' for c in META_COLUMNS)} WHERE paper_id=?",
                [(*meta_values(p, p.paper_id in auto_citekeys), p.paper_id) for p in papers],
            )
            add_aliases(cur, papers, keys or {})
            self._bump(cur)

    def lookup_aliases(self, keys: Iterable[str]) -> dict[str, str]:
        """Alias key -> paper id, for the keys some stored paper has."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, str] = {}
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            q = f"SELECT key, paper_id FROM aliases WHERE key IN ({','.join('?' * len(part))})"
            out.update(self.db.execute(q, part))
        return out

    def citekey_owner(self, citekey: str) -> str | None:
        """The paper holding ``citekey`` (compared without case, as BibTeX does), if any."""
        row = self.db.execute(
            "SELECT paper_id FROM papers WHERE citekey = ? COLLATE NOCASE LIMIT 1", (citekey,)
        ).fetchone()
        return row[0] if row else None

    def auto_citekeys(self, paper_ids: Iterable[str]) -> set[str]:
        """Which of these papers have a generated citekey (not one their source gave)."""
        ids = list(paper_ids)
        out: set[str] = set()
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            q = (
                "SELECT paper_id FROM papers WHERE citekey_auto=1 "
                f"AND paper_id IN ({','.join('?' * len(part))})"
            )
            out.update(r[0] for r in self.db.execute(q, part))
        return out

    def update_sources(self, updates: dict[str, list[str]]) -> None:
        if not updates:
            return
        with self._writing() as cur:
            cur.executemany(
                "UPDATE papers SET sources=? WHERE paper_id=?",
                [(json.dumps(v), k) for k, v in updates.items()],
            )
            self._bump(cur)

    def delete_papers(self, paper_ids: list[str]) -> None:
        with self._writing() as cur:
            cur.executemany("DELETE FROM papers WHERE paper_id=?", [(p,) for p in paper_ids])
            self._bump(cur)

    def _bump(self, cur: sqlite3.Cursor) -> None:
        gen = int(
            (cur.execute("SELECT value FROM meta WHERE key='generation'").fetchone() or [0])[0]
        )
        cur.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('generation', ?)", (str(gen + 1),)
        )

    def get_papers(self, paper_ids: Iterable[str]) -> dict[str, Paper]:
        ids = list(dict.fromkeys(paper_ids))
        out: dict[str, Paper] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            q = f"SELECT {PAPER_COLUMNS} FROM papers WHERE paper_id IN ({marks})"
            for row in self.db.execute(q, part):
                out[row[0]] = paper_from_row(row)
        return out

    def iter_papers(self) -> Iterator[Paper]:
        for row in self.db.execute(f"SELECT {PAPER_COLUMNS} FROM papers ORDER BY title"):
            yield paper_from_row(row)

    def find_titles(self, text: str) -> list[Paper]:
        return [
            paper_from_row(r)
            for r in self.db.execute(
                f"SELECT {PAPER_COLUMNS} FROM papers WHERE title LIKE ?", (f"%{text}%",)
            )
        ]

    def chunk_texts(self) -> tuple[list[str], list[str], list[str]]:
        """(chunk ids, paper ids, embedded texts) of every committed chunk, in a stable order."""
        rows = self.db.execute(
            "SELECT chunk_id, paper_id, embed_text FROM chunks ORDER BY chunk_id"
        ).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]

    def chunk_ids(self) -> list[str]:
        """Every committed chunk id, sorted."""
        return [r[0] for r in self.db.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id")]

    def chunk_texts_snapshot(self) -> tuple[int, list[str], list[str], list[str]]:
        """(generation, chunk ids, paper ids, embedded texts): one statement, so one snapshot,
        and the generation is the one the chunks are at."""
        rows = self.db.execute(
            "SELECT (SELECT value FROM meta WHERE key='generation'), chunk_id, paper_id, "
            "embed_text FROM chunks ORDER BY chunk_id"
        ).fetchall()
        gen = int(rows[0][0] or 0) if rows else self.generation()
        return gen, [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]

    def embed_rows(self, chunk_ids: Iterable[str]) -> list[tuple[str, str, str]]:
        """(chunk id, paper id, embedded text) of these chunks, for re-embedding."""
        ids = list(chunk_ids)
        out: list[tuple[str, str, str]] = []
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            q = (
                "SELECT chunk_id, paper_id, embed_text FROM chunks "
                f"WHERE chunk_id IN ({','.join('?' * len(part))}) ORDER BY chunk_id"
            )
            out.extend(self.db.execute(q, part).fetchall())
        return out

    def chunk_rows(self, chunk_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """chunk id -> (paper id, text), for committed chunks only."""
        ids = list(chunk_ids)
        out: dict[str, tuple[str, str]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            q = f"SELECT chunk_id, paper_id, text FROM chunks WHERE chunk_id IN ({marks})"
            for cid, pid, text in self.db.execute(q, part):
                out[cid] = (pid, text)
        return out

    def counts(self) -> dict[str, int]:
        papers = self.db.execute("SELECT COUNT(*) FROM papers").fetchone()[0]
        chunks, longest = self.db.execute(
            "SELECT COUNT(*), COALESCE(MAX(n_tokens), 0) FROM chunks"
        ).fetchone()
        return {"papers": papers, "chunks": chunks, "max_chunk_tokens": longest}

    def token_lengths(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT n_tokens FROM chunks")]

    def source_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (raw,) in self.db.execute("SELECT sources FROM papers"):
            for s in json.loads(raw):
                counts[s] = counts.get(s, 0) + 1
        return dict(sorted(counts.items()))


def _file_id(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
