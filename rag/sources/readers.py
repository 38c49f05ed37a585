"""Streaming readers for each input format, and format detection."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = ("pages", "jsonl", "csv", "arxiv")

# Lines of the saved listing pages that are page furniture, not papers.
_PAGE_FURNITURE = {
    "new",
    "subscribe",
    "daily papers",
    "byak and the research community",
    "get trending papers in your email inbox!",
    "get trending papers in your email inbox once a day!",
}
_DATE_LINE = re.compile(
    r"^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{1,2}(, \d{4})?$", re.I
)
_SPACES = re.compile(r"\s+")
# A title is a short line that does not end like a sentence; abstracts are long prose.
_TITLE_MAX_CHARS = 300
_ABSTRACT_MIN_CHARS = 200


@dataclass(frozen=True)
class Problem:
    """Something wrong with one place of an input; the rest of the input still counts."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.message}"
            if self.line
            else f"{self.path}: {self.message}"
        )


@dataclass(frozen=True)
class Record:
    """One title/abstract pair as read, before it becomes a ``Paper``."""

    title: str
    abstract: str
    source: str
    line: int
    authors: tuple[str, ...] = ()
    year: int | None = None
    arxiv_id: str | None = None
    doi: str | None = None
    url: str | None = None
    categories: tuple[str, ...] = field(default_factory=tuple)


ProblemSink = Callable[[Problem], None]


def expand_paths(paths: Iterable[str | Path], report: ProblemSink) -> list[Path]:
    """Files named, and the files below named folders (sorted, hidden ones skipped)."""
    files: list[Path] = []
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
        else:
            report(Problem(str(p), 0, "no such file or folder"))
    return files


def detect_format(path: Path) -> str | None:
    """Guess the format from the name and the first bytes; None for binary files."""
    with path.open("rb") as fh:
        head = fh.read(8192)
    if b"\x00" in head:
        return None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    first = head.lstrip().split(b"\n", 1)[0]
    if suffix in (".jsonl", ".json", ".ndjson") or first.startswith(b"{"):
        try:
            obj = json.loads(first.decode("utf-8", errors="replace"))
        except ValueError:
            return "jsonl"
        if isinstance(obj, dict) and "id" in obj and ("versions" in obj or "authors_parsed" in obj):
            return "arxiv"
        return "jsonl"
    return "pages"


def iter_records(
    path: Path, report: ProblemSink, *, fmt: str | None = None, source: str | None = None
) -> Iterator[Record]:
    """Yield the records of one file, reporting problems to ``report``."""
    source = source or path.name
    try:
        detected = detect_format(path)
    except OSError as exc:
        report(Problem(str(path), 0, f"cannot read: {exc.strerror or exc}"))
        return
    if detected is None:
        report(Problem(str(path), 1, "binary file, not text; skipped"))
        return
    fmt = fmt or detected
    if fmt not in FORMATS:
        report(Problem(str(path), 0, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}"))
        return
    reader = {"pages": _read_pages, "jsonl": _read_jsonl, "arxiv": _read_arxiv, "csv": _read_csv}[
        fmt
    ]
    yield from reader(path, source, report)


def _lines(path: Path, report: ProblemSink) -> Iterator[tuple[int, str]]:
    """Numbered text lines, decoded one by one so a bad byte costs one line, not the file."""
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if b"\x00" in raw:
                report(Problem(str(path), n, "binary data in a text file; line skipped"))
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("cp1252", errors="replace")
                report(Problem(str(path), n, "not UTF-8; read as Windows-1252, check the text"))
            yield n, text.rstrip("\r\n")


def clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _looks_like_title(line: str) -> bool:
    return len(line) <= _TITLE_MAX_CHARS and not (
        len(line) >= _ABSTRACT_MIN_CHARS or line.rstrip().endswith(".")
    )


def _read_pages(path: Path, source: str, report: ProblemSink) -> Iterator[Record]:
    """Saved listing pages: header furniture, then a title line and an abstract line per paper.

    Two layouts occur: blank lines between everything, or compact with the first title glued
    to "Subscribe". Both reduce to the same sequence of non-blank lines.
    """
    title: tuple[int, str] | None = None
    in_header = True
    for n, line in _lines(path, report):
        text = clean(line)
        if not text:
            continue
        low = text.casefold()
        if in_header and (low in _PAGE_FURNITURE or _DATE_LINE.match(text)):
            continue
        if in_header and low.startswith("subscribe") and len(text) > len("subscribe"):
            text = text[len("subscribe") :].strip()
        in_header = False
        if title is None:
            if _looks_like_title(text):
                title = (n, text)
            else:
                report(Problem(str(path), n, "abstract with no title before it; skipped"))
            continue
        if _looks_like_title(text):
            report(
                Problem(str(path), title[0], f"title {title[1][:60]!r} has no abstract; skipped")
            )
            title = (n, text)
            continue
        yield Record(title=title[1], abstract=text, source=source, line=title[0])
        title = None
    if title is not None:
        report(Problem(str(path), title[0], f"title {title[1][:60]!r} has no abstract; skipped"))


def _as_tuple(value: object, *, split: str | None = None) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        parts = re.split(split, value) if split else [value]
        return tuple(p.strip() for p in parts if p.strip())
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return (str(value),)


def _as_year(value: object) -> int | None:
    if value is None or value == "":
        return None
    m = re.search(r"(1[89]|20)\d\d", str(value))
    return int(m.group(0)) if m else None


def _record_from_mapping(
    obj: dict, path: Path, source: str, n: int, report: ProblemSink
) -> Record | None:
    title = clean(str(obj.get("title") or ""))
    abstract = clean(str(obj.get("abstract") or ""))
    if not title:
        report(Problem(str(path), n, "no title; skipped"))
        return None
    if not abstract:
        report(Problem(str(path), n, f"title {title[:60]!r} has no abstract; skipped"))
        return None
    return Record(
        title=title,
        abstract=abstract,
        source=source,
        line=n,
        authors=_as_tuple(obj.get("authors"), split=r",|;| and "),
        year=_as_year(obj.get("year")),
        arxiv_id=(str(obj.get("arxiv_id")).strip() or None) if obj.get("arxiv_id") else None,
        doi=(str(obj.get("doi")).strip() or None) if obj.get("doi") else None,
        url=(str(obj.get("url")).strip() or None) if obj.get("url") else None,
        categories=_as_tuple(obj.get("categories"), split=r"[,\s]+"),
    )


def _json_lines(path: Path, report: ProblemSink) -> Iterator[tuple[int, dict]]:
    for n, line in _lines(path, report):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            report(Problem(str(path), n, f"broken JSON ({exc.msg}); line skipped"))
            continue
        if not isinstance(obj, dict):
            report(Problem(str(path), n, "not a JSON object; line skipped"))
            continue
        yield n, obj


def _read_jsonl(path: Path, source: str, report: ProblemSink) -> Iterator[Record]:
    for n, obj in _json_lines(path, report):
        rec = _record_from_mapping(obj, path, source, n, report)
        if rec is not None:
            yield rec


def _read_arxiv(path: Path, source: str, report: ProblemSink) -> Iterator[Record]:
    """The arXiv metadata snapshot: one JSON object a line with id, authors_parsed, versions."""
    for n, obj in _json_lines(path, report):
        arxiv_id = str(obj.get("id") or "").strip()
        authors: tuple[str, ...] = ()
        parsed = obj.get("authors_parsed")
        if isinstance(parsed, list):
            authors = tuple(
                clean(" ".join(p for p in (a[1], a[0]) if p))
                for a in parsed
                if isinstance(a, list) and a
            )
        year = (
            _as_year((obj.get("versions") or [{}])[0].get("created"))
            if obj.get("versions")
            else None
        )
        if year is None and re.match(r"^\d{4}\.", arxiv_id):
            year = 2000 + int(arxiv_id[:2])
        mapping = {
            "title": obj.get("title"),
            "abstract": obj.get("abstract"),
            "authors": authors or obj.get("authors"),
            "year": year or obj.get("update_date"),
            "arxiv_id": arxiv_id,
            "doi": obj.get("doi"),
            "url": f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None,
            "categories": obj.get("categories"),
        }
        rec = _record_from_mapping(mapping, path, source, n, report)
        if rec is not None:
            yield rec


def _read_csv(path: Path, source: str, report: ProblemSink) -> Iterator[Record]:
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.DictReader(text)
        fields = {f.strip().lower() for f in (reader.fieldnames or [])}
        if not {"title", "abstract"} <= fields:
            report(Problem(str(path), 1, "CSV needs 'title' and 'abstract' columns; skipped"))
            return
        line = 1
        try:
            for row in reader:
                start, line = line + 1, reader.line_num
                obj = {(k or "").strip().lower(): v for k, v in row.items()}
                if any(
                    "\udc80" <= ch <= "\udcff"
                    for v in obj.values()
                    if isinstance(v, str)
                    for ch in v
                ):
                    report(Problem(str(path), start, "not UTF-8; row skipped"))
                    continue
                rec = _record_from_mapping(obj, path, source, start, report)
                if rec is not None:
                    yield rec
        except csv.Error as exc:
            report(Problem(str(path), line + 1, f"broken CSV ({exc}); rest of file skipped"))
