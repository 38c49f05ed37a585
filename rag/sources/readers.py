"""Which files to read, in which format, and the one entry point that reads a file."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import SourceError
from rag.sources.bibtex import read_bibtex
from rag.sources.csljson import looks_like_csl, read_csljson
from rag.sources.fielded import loads, read_arxiv, read_csv, read_jsonl
from rag.sources.pages import looks_like_pages, read_pages
from rag.sources.record import Problem, ProblemSink, Record
from rag.sources.ris import read_ris
from rag.sources.textfile import UTF8, Encoding, Head, read_head
from rag.sources.zotero import is_sqlite, read_zotero

__all__ = [
    "BINARY",
    "FORMATS",
    "NOT_A_FORMAT",
    "Problem",
    "ProblemSink",
    "Record",
    "detect_format",
    "expand_paths",
    "iter_records",
]

Reader = Callable[[Path, Encoding, str, ProblemSink], Iterator[Record]]

# Each format's reader; a new format is one line here (and its detection in `_format_of`).
READERS: dict[str, Reader] = {
    "pages": read_pages,
    "jsonl": read_jsonl,
    "csv": read_csv,
    "arxiv": read_arxiv,
    "bibtex": read_bibtex,
    "ris": read_ris,
    "csljson": read_csljson,
    "zotero": read_zotero,
}
FORMATS = tuple(READERS)
_FORMAT_NAMES = (
    "listing pages, JSONL, CSV, arXiv metadata, BibTeX, RIS, CSL-JSON, Zotero's zotero.sqlite"
)
NOT_A_FORMAT = f"not a format papers reads ({_FORMAT_NAMES}); use --format to force one"
BINARY = f"binary file, not text; papers reads {_FORMAT_NAMES}"

_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
_BIBTEX_SUFFIXES = (".bib", ".bibtex")
# An entry's first line (`@article{key,`, `@string(...`); `%` lines before it are comments.
_BIBTEX_ENTRY = re.compile(r"^\s*@[A-Za-z]+\s*[{(]")
_RIS_START = re.compile(r"^TY  - ")


def expand_paths(paths: Iterable[str | Path], report: ProblemSink) -> list[Path]:
    """Files named, and the files below named folders (sorted, hidden ones skipped).

    Raises:
        SourceError: a path does not exist; raised before anything is read, so a typo never
            passes for an input that had nothing in it.
    """
    files: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                report(Problem(str(p), 0, "folder has no files"))
            files.extend(found)
        elif p.is_file():
            files.append(p)
        elif p.exists():
            report(Problem(str(p), 0, "not a file or folder (a device, pipe or socket)"))
        else:
            missing.append(str(p))
    if len(missing) == 1:
        raise SourceError(f"{missing[0]}: no such file or folder; nothing was read")
    if missing:
        raise SourceError(f"no such files or folders: {', '.join(missing)}; nothing was read")
    # A file named twice (or inside a folder also named) is read once.
    unique: dict[str, Path] = {}
    for f in files:
        unique.setdefault(os.path.realpath(f), f)
    return list(unique.values())


@dataclass(frozen=True)
class _Sniffed:
    fmt: str | None
    encoding: Encoding | None
    refusal: str = ""


def detect_format(path: Path) -> str | None:
    """The format of ``path`` from its name and first bytes; None if papers does not read it.

    Detection is positive: a file is in a format only if it reads like one (or is named
    so), so a file in none of them is refused whole instead of being read as pages of junk.
    """
    return _sniff(path).fmt


def _sniff(path: Path) -> _Sniffed:
    # SQLite is binary: a Zotero library is told by its header before the binary refusal
    # (read_zotero refuses, in one line, an SQLite file that is not a Zotero library).
    if is_sqlite(path):
        return _Sniffed("zotero", UTF8)  # the encoding is unused; SQLite text is UTF-8
    head = read_head(path)
    if head.encoding is None:
        return _Sniffed(None, None, BINARY)
    if not head.text.strip():
        return _Sniffed(None, head.encoding, "empty file; nothing to read")
    fmt = _format_of(path, head)
    return _Sniffed(fmt, head.encoding, "" if fmt else NOT_A_FORMAT)


def _format_of(path: Path, head: Head) -> str | None:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in _BIBTEX_SUFFIXES:
        return "bibtex"
    if suffix == ".ris":
        return "ris"
    lines = head.lines
    text = [s.lstrip("\ufeff") for s in lines if s.strip("\ufeff \t\r")]
    if text and _RIS_START.match(text[0]):
        return "ris"
    if _BIBTEX_ENTRY.match(next((s for s in text if not s.lstrip().startswith("%")), "")):
        return "bibtex"
    first = head.text.lstrip("\ufeff \t\r\n")[:1]
    if first == "[" and looks_like_csl(head.text):
        return "csljson"
    if first == "{" or suffix in _JSON_SUFFIXES:
        obj = _first_object(lines)
        if obj is not None:
            is_arxiv = "id" in obj and ("versions" in obj or "authors_parsed" in obj)
            return "arxiv" if is_arxiv else "jsonl"
        # Broken first lines in a file named as JSON Lines, or one record longer than the head.
        if first == "{" and (suffix in _JSON_SUFFIXES or not any(s.strip() for s in lines)):
            return "jsonl"
        return None
    header = next((s for s in lines if s.strip()), "")
    if {"title", "abstract"} <= _csv_columns(header):
        return "csv"
    if looks_like_pages(head):
        return "pages"
    return None


def _first_object(lines: list[str]) -> dict | None:
    for line in lines[:200]:
        text = line.strip().lstrip("\ufeff")
        if not text.startswith("{"):
            continue
        obj, _ = loads(text)
        if isinstance(obj, dict):
            return obj
    return None


def _csv_columns(line: str) -> set[str]:
    try:
        cells = next(csv.reader([line]), [])
    except csv.Error:
        return set()
    return {c.strip().casefold() for c in cells}


def iter_records(
    path: Path, report: ProblemSink, *, fmt: str | None = None, source: str | None = None
) -> Iterator[Record]:
    """Yield the records of one file, reporting problems to ``report``; never raises on bad
    input: a bad record costs one problem line, a file papers does not read costs one line."""
    where = str(path)
    # A file name that is not UTF-8 must not reach the catalogue as lone surrogates.
    source = source or os.fsencode(path.name).decode("utf-8", "replace")
    if fmt is not None and fmt not in FORMATS:
        report(Problem(where, 0, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}"))
        return
    try:
        sniffed = _sniff(path)
    except OSError as exc:
        report(Problem(where, 0, f"cannot read: {exc.strerror or exc}"))
        return
    # --format overrides detection, but not for a binary or empty file.
    forced = fmt is not None and sniffed.refusal == NOT_A_FORMAT
    if sniffed.encoding is None or (sniffed.refusal and not forced):
        report(Problem(where, 0, sniffed.refusal))
        return
    fmt = fmt or sniffed.fmt
    assert fmt is not None
    reader = READERS[fmt]
    said = 0

    def counted(p: Problem) -> None:
        nonlocal said
        said += 1
        report(p)

    try:
        for rec in reader(path, sniffed.encoding, source, counted):
            said += 1
            yield rec
    except OSError as exc:
        counted(Problem(where, 0, f"cannot read: {exc.strerror or exc}; rest of file skipped"))
    if not said:
        report(Problem(where, 0, "no papers in this file"))
