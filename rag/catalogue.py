"""The library's catalogue: papers, their chunks and the store's identity, in SQLite.

The catalogue is the record of what is whole: a paper counts once its row is committed,
after its vectors are in Chroma. Readers see only committed papers, so an ingest killed
half-way never shows a half-written paper. WAL mode lets readers read while one writer writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from rag.types import Chunk, Paper

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS papers (
    paper_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    abstract TEXT NOT NULL,
    authors TEXT NOT NULL DEFAULT '[]',
    year INTEGER,
    arxiv_id TEXT,
    doi TEXT,
    url TEXT,
    categories TEXT NOT NULL DEFAULT '[]',
    sources TEXT NOT NULL DEFAULT '[]',
    content_hash TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    paper_id TEXT NOT NULL REFERENCES papers(paper_id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    text TEXT NOT NULL,
    embed_text TEXT NOT NULL,
    n_tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_paper ON chunks(paper_id);
"""


class Catalogue:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- meta -----------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

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

    def commit_papers(self, items: list[tuple[Paper, str, list[Chunk]]]) -> None:
        """Write papers with their chunks in one transaction and bump the generation."""
        now = time.time()
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for paper, digest, chunks in items:
                cur.execute("DELETE FROM chunks WHERE paper_id=?", (paper.paper_id,))
                cur.execute(
                    "INSERT OR REPLACE INTO papers VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        paper.paper_id,
                        paper.title,
                        paper.abstract,
                        json.dumps(list(paper.authors)),
                        paper.year,
                        paper.arxiv_id,
                        paper.doi,
                        paper.url,
                        json.dumps(list(paper.categories)),
                        json.dumps(list(paper.sources)),
                        digest,
                        now,
                    ),
                )
                cur.executemany(
                    "INSERT INTO chunks VALUES (?,?,?,?,?,?)",
                    [
                        (c.chunk_id, c.paper_id, c.index, c.text, c.embed_text, c.n_tokens)
                        for c in chunks
                    ],
                )
            self._bump(cur)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def update_sources(self, updates: dict[str, list[str]]) -> None:
        if not updates:
            return
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        cur.executemany(
            "UPDATE papers SET sources=? WHERE paper_id=?",
            [(json.dumps(v), k) for k, v in updates.items()],
        )
        self._bump(cur)
        cur.execute("COMMIT")

    def delete_papers(self, paper_ids: list[str]) -> None:
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        cur.executemany("DELETE FROM papers WHERE paper_id=?", [(p,) for p in paper_ids])
        self._bump(cur)
        cur.execute("COMMIT")

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
            q = f"SELECT * FROM papers WHERE paper_id IN ({','.join('?' * len(part))})"
            for row in self.db.execute(q, part):
                out[row[0]] = _paper(row)
        return out

    def iter_papers(self) -> Iterator[Paper]:
        for row in self.db.execute("SELECT * FROM papers ORDER BY title"):
            yield _paper(row)

    def find_titles(self, text: str) -> list[Paper]:
        return [
            _paper(r)
            for r in self.db.execute("SELECT * FROM papers WHERE title LIKE ?", (f"%{text}%",))
        ]

    def chunk_texts(self) -> tuple[list[str], list[str], list[str]]:
        """(chunk ids, paper ids, embedded texts) of every committed chunk, in a stable order."""
        rows = self.db.execute(
            "SELECT chunk_id, paper_id, embed_text FROM chunks ORDER BY chunk_id"
        ).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]

    def chunk_rows(self, chunk_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """chunk id -> (paper id, text), for committed chunks only."""
        ids = list(chunk_ids)
        out: dict[str, tuple[str, str]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            q = f"SELECT chunk_id, paper_id, text FROM chunks WHERE chunk_id IN ({','.join('?' * len(part))})"
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


def _paper(row: tuple) -> Paper:
    return Paper(
        paper_id=row[0],
        title=row[1],
        abstract=row[2],
        authors=tuple(json.loads(row[3])),
        year=row[4],
        arxiv_id=row[5],
        doi=row[6],
        url=row[7],
        categories=tuple(json.loads(row[8])),
        sources=tuple(json.loads(row[9])),
    )
