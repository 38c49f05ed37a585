"""Readers for records with named fields: JSON Lines, the arXiv metadata snapshot, CSV."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO, TypedDict

from rag.sources.fields import (
    ABSTRACT_MAX_CHARS,
    TITLE_MAX_CHARS,
    Fields,
    clean,
    kind,
    surrogate,
    too_long,
    year_in,
)
from rag.sources.record import MissingAbstract, Problem, ProblemSink, Record
from rag.sources.textfile import MAX_LINE_CHARS, Encoding, numbered_lines, open_text, unreadable


class _Meta(TypedDict):
    authors: tuple[str, ...]
    year: int | None
    arxiv_id: str | None
    doi: str | None
    url: str | None
    categories: tuple[str, ...]


def _record(
    f: Fields, where: str, source: str, n: int, meta: _Meta, report: ProblemSink
) -> Record | None:
    """The record, or None after reporting the one problem that cost it."""
    title, why = f.required_text("title")
    if not why and not title:
        why = "no title; skipped"
    elif why:
        why += "; record skipped"
    elif len(title) > TITLE_MAX_CHARS:
        why = too_long("title", title, TITLE_MAX_CHARS)
    if not why:
        abstract, why = f.required_text("abstract")
        if not why and not abstract:
            why = f"title {title[:60]!r} has no abstract; skipped"
            # Carried for `papers ingest --enrich`, which looks the abstract up.
            rec = Record(title=title, abstract="", source=source, line=n, **meta)
            report(MissingAbstract(where, n, why, rec))
            return None
        elif why:
            why += "; record skipped"
        elif len(abstract) > ABSTRACT_MAX_CHARS:
            why = too_long("abstract", abstract, ABSTRACT_MAX_CHARS)
    if why:
        report(Problem(where, n, why))
        return None
    if f.notes:
        report(Problem(where, n, f"ignored {', '.join(f.notes)}; the rest of the record was read"))
    return Record(title=title, abstract=abstract, source=source, line=n, **meta)


def _common_meta(f: Fields) -> _Meta:
    return {
        "authors": f.names("authors", split=r",|;| and "),
        "year": f.year("year"),
        "arxiv_id": f.text("arxiv_id"),
        "doi": f.text("doi"),
        "url": f.text("url"),
        "categories": f.names("categories", split=r"[,\s]+"),
    }


def loads(text: str) -> tuple[object, str]:
    """``(value, '')``, or ``(None, why)`` when ``text`` is not JSON."""
    try:
        return json.loads(text), ""
    except json.JSONDecodeError as exc:
        return None, f"broken JSON ({exc.msg})"
    except RecursionError:
        return None, "broken JSON (nested too deeply)"
    except ValueError:  # an integer with more digits than Python will convert
        return None, "broken JSON (a number too long to read)"


def _json_objects(
    path: Path, encoding: Encoding, report: ProblemSink
) -> Iterator[tuple[int, dict]]:
    where = str(path)
    for n, line, why in numbered_lines(path, encoding):
        if why:
            report(Problem(where, n, f"{why}; line skipped"))
            continue
        # A byte-order mark can sit mid-file where two files were joined with `cat`.
        text = line.lstrip("\ufeff")
        if not text.strip():
            continue
        obj, why = loads(text)
        if why:
            report(Problem(where, n, f"{why}; line skipped"))
        elif not isinstance(obj, dict):
            report(Problem(where, n, f"{kind(obj)}, not a JSON object; line skipped"))
        else:
            yield n, obj


def read_jsonl(
    path: Path, encoding: Encoding, source: str, report: ProblemSink
) -> Iterator[Record]:
    for n, obj in _json_objects(path, encoding, report):
        f = Fields(obj)
        rec = _record(f, str(path), source, n, _common_meta(f), report)
        if rec is not None:
            yield rec


def _arxiv_authors(f: Fields) -> tuple[str, ...]:
    """Names from ``authors_parsed``: ``[last, first, suffix]`` lists."""
    parsed = f.obj.get("authors_parsed")
    if parsed is None:
        return ()
    if not isinstance(parsed, list):
        f.note("authors_parsed", f"{kind(parsed)}, not a list")
        return ()
    names: list[str] = []
    bad = False
    for entry in parsed:
        parts = entry[:2] if isinstance(entry, list) else []
        if not parts or not all(
            p is None or (isinstance(p, str) and not surrogate(p)) for p in parts
        ):
            bad = True
            continue
        if name := clean(" ".join(p for p in reversed(parts) if p)):
            names.append(name)
    if bad:
        f.note("authors_parsed", "an entry that is not [last, first, ...]")
    return tuple(names)


def _arxiv_year(f: Fields) -> int | None:
    """The year of the first version's ``created`` date."""
    versions = f.obj.get("versions")
    if versions is None or versions == []:
        return None
    if not isinstance(versions, list):
        f.note("versions", f"{kind(versions)}, not a list")
        return None
    first = versions[0]
    created = first.get("created") if isinstance(first, dict) else None
    if not isinstance(created, str):
        f.note("versions", "the first has no creation date")
        return None
    return year_in(created)


def read_arxiv(
    path: Path, encoding: Encoding, source: str, report: ProblemSink
) -> Iterator[Record]:
    """The arXiv metadata snapshot: one JSON object a line with id, authors_parsed, versions."""
    for n, obj in _json_objects(path, encoding, report):
        f = Fields(obj)
        arxiv_id = f.text("id") or ""
        authors = _arxiv_authors(f) or f.names("authors", split=r",|;| and ")
        year = _arxiv_year(f)
        if year is None and re.match(r"^\d{4}\.", arxiv_id):
            year = 2000 + int(arxiv_id[:2])
        if year is None:
            year = f.year("update_date")
        meta: _Meta = {
            "authors": authors,
            "year": year,
            "arxiv_id": arxiv_id or None,
            "doi": f.text("doi"),
            "url": f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None,
            "categories": f.names("categories", split=r"[,\s]+"),
        }
        rec = _record(f, str(path), source, n, meta, report)
        if rec is not None:
            yield rec


class _LineTooLong(Exception):
    pass


def _csv_lines(fh: TextIO) -> Iterator[str]:
    while line := fh.readline(MAX_LINE_CHARS):
        if len(line) >= MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            raise _LineTooLong
        yield line


def read_csv(path: Path, encoding: Encoding, source: str, report: ProblemSink) -> Iterator[Record]:
    where = str(path)
    with path.open("rb") as raw:
        reader = csv.reader(_csv_lines(open_text(raw, encoding)))
        end = 0  # the last line of the row read last
        columns: list[str] | None = None
        try:
            for row in reader:
                start, end = end + 1, reader.line_num
                if not any(cell.strip() for cell in row):
                    continue  # a blank line, or a row of empty cells
                if columns is None:
                    columns = [c.strip().casefold() for c in row]
                    if not {"title", "abstract"} <= set(columns):
                        report(
                            Problem(
                                where, start, "CSV needs 'title' and 'abstract' columns; skipped"
                            )
                        )
                        return
                    continue
                if why := unreadable("\x1f".join(row), encoding):
                    report(Problem(where, start, f"{why}; row skipped"))
                    continue
                f = Fields(dict(zip(columns, row, strict=False)))
                rec = _record(f, where, source, start, _common_meta(f), report)
                if rec is not None:
                    yield rec
        except csv.Error as exc:
            report(Problem(where, end + 1, f"broken CSV ({exc}); rest of file skipped"))
        except _LineTooLong:
            report(
                Problem(
                    where,
                    end + 1,
                    f"line longer than {MAX_LINE_CHARS:,} characters; rest of file skipped",
                )
            )
