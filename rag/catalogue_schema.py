"""The catalogue's tables: their schema, a row as a ``Paper``, and bringing a store made by
an older papers up to date (``migrate``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping

from rag.citekeys import generate_citekey, unique_citekey
from rag.identity import alias_keys
from rag.types import Paper

SCHEMA = """
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
    updated_at REAL NOT NULL,
    citekey TEXT,
    bibtex TEXT,
    citekey_auto INTEGER NOT NULL DEFAULT 0
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

# What stores made before citekeys and alias keys lack; ``migrate`` adds them.
SCHEMA_VERSION = "2"
_NEW_COLUMNS = {"citekey": "TEXT", "bibtex": "TEXT", "citekey_auto": "INTEGER NOT NULL DEFAULT 0"}
_NEW_TABLES = (
    # Every DOI, arXiv id and title a paper was met under -> the paper (``rag.identity``).
    "CREATE TABLE IF NOT EXISTS aliases (key TEXT PRIMARY KEY, "
    "paper_id TEXT NOT NULL REFERENCES papers(paper_id) ON DELETE CASCADE)",
    "CREATE INDEX IF NOT EXISTS aliases_paper ON aliases(paper_id)",
    "CREATE INDEX IF NOT EXISTS papers_citekey ON papers(citekey COLLATE NOCASE)",
)
PAPER_COLUMNS = (
    "paper_id, title, abstract, authors, year, arxiv_id, doi, url, categories, sources, "
    "content_hash, updated_at, citekey, bibtex, citekey_auto"
)
# What ``meta_values`` gives, in its order: all a paper says of itself but its text.
META_COLUMNS = (
    "authors", "year", "arxiv_id", "doi", "url", "categories", "sources", "citekey", "bibtex",
    "citekey_auto",
)  # fmt: skip


def migrate(cur: sqlite3.Cursor) -> None:
    """Bring a store made before citekeys and alias keys up to date, inside the caller's
    transaction: add the columns and tables, then give every stored paper its alias keys and,
    where it has none, a generated citekey (in paper id order, so two copies of a store agree).
    """
    have = {r[1] for r in cur.execute("PRAGMA table_info(papers)")}
    for name, decl in _NEW_COLUMNS.items():
        if name not in have:
            cur.execute(f"ALTER TABLE papers ADD COLUMN {name} {decl}")
    for statement in _NEW_TABLES:
        cur.execute(statement)
    taken = {r[0].casefold() for r in cur.execute("SELECT citekey FROM papers") if r[0]}
    after = ""
    while True:  # in pages: an arXiv-snapshot store holds millions of papers
        rows = cur.execute(
            f"SELECT {PAPER_COLUMNS} FROM papers WHERE paper_id > ? ORDER BY paper_id LIMIT 2000",
            (after,),
        ).fetchall()
        if not rows:
            break
        after = rows[-1][0]
        papers = [paper_from_row(r) for r in rows]
        add_aliases(cur, papers, {})
        for p in papers:
            if p.citekey is None:
                key = unique_citekey(generate_citekey(p), taken)
                taken.add(key.casefold())
                cur.execute(
                    "UPDATE papers SET citekey=?, citekey_auto=1 WHERE paper_id=?",
                    (key, p.paper_id),
                )
    cur.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))


def paper_from_row(row: tuple) -> Paper:
    """The paper of a row of ``SELECT {PAPER_COLUMNS} FROM papers``."""
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
        citekey=row[12],
        bibtex=row[13],
    )


def meta_values(paper: Paper, auto_citekey: bool) -> tuple:
    """The values of ``META_COLUMNS`` for ``paper``."""
    return (
        json.dumps(list(paper.authors)),
        paper.year,
        paper.arxiv_id,
        paper.doi,
        paper.url,
        json.dumps(list(paper.categories)),
        json.dumps(list(paper.sources)),
        paper.citekey,
        paper.bibtex,
        int(auto_citekey),
    )


def add_aliases(
    cur: sqlite3.Cursor, papers: Iterable[Paper], keys: Mapping[str, Iterable[str]]
) -> None:
    # OR IGNORE: a key already taken stays with the paper stored first (two papers may share
    # a title; the first keeps it, as the first stored id stays).
    cur.executemany(
        "INSERT OR IGNORE INTO aliases(key, paper_id) VALUES (?, ?)",
        [
            (key, p.paper_id)
            for p in papers
            for key in dict.fromkeys([*alias_keys(p), *keys.get(p.paper_id, ())])
        ],
    )
