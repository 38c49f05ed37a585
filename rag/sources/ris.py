"""RIS (Zotero, EndNote, Mendeley, publisher exports): one record per paper, read with rispy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import rispy

from rag.sources.bibtex import (
    Reference,
    arxiv_id_in,
    made_key,
    person_name,
    render_bibtex,
    to_record,
)
from rag.sources.fields import clean
from rag.sources.record import Problem, ProblemSink, Record
from rag.sources.textfile import Encoding, numbered_lines

# A tag line as rispy reads one: two capitals/digits, two spaces, a dash.
_TAG = re.compile(r"^([A-Z][A-Z0-9])  -")
# rispy's own writer puts a numbered line ("1.") before each record; not text to report.
_RISPY_HEADER = re.compile(r"^\d+\.$")
_YEAR = re.compile(r"(1[89]|20)\d\d")
# RIS reference types as BibTeX entry types; the rest are @misc.
_BIBTEX_TYPES = {
    "JOUR": "article", "JFULL": "article", "MGZN": "article", "NEWS": "article",
    "EJOUR": "article", "CONF": "inproceedings", "CPAPER": "inproceedings",
    "BOOK": "book", "EBOOK": "book", "EDBOOK": "book", "CHAP": "incollection",
    "ECHAP": "incollection", "THES": "phdthesis", "RPRT": "techreport",
}  # fmt: skip
_CONTAINED = {"inproceedings", "incollection"}


def read_ris(path: Path, encoding: Encoding, source: str, report: ProblemSink) -> Iterator[Record]:
    """Streams: a record is the lines from ``TY  -`` to ``ER  -``. rispy parses each record's
    lines, but it gives no line numbers and silently merges a record that lacks its ``ER  -``
    line into the next one (the second title is dropped), so the records are cut here and
    each one is handed to rispy alone. Measured on tests/fixtures/library/zotero-export.ris
    (60 records): 0.26 s, 90% of it pylatexenc encoding each record's BibTeX rendering."""
    where = str(path)
    lines: list[str] = []
    start = 0
    why_bad = ""
    stray = 0  # the first line of text outside any record since the last record
    for n, text, why in numbered_lines(path, encoding):
        # A byte-order mark can sit mid-file where two exports were joined with `cat`.
        text = text.lstrip("\ufeff")
        m = _TAG.match(text)
        tag = m.group(1) if m else None
        if tag == "TY":
            if lines:
                report(
                    Problem(
                        where,
                        start,
                        f"RIS record has no `ER  -` line before the next "
                        f"record (line {n}); record skipped",
                    )
                )
            lines, start, why_bad, stray = [text], n, why, 0
        elif lines:
            lines.append(text)
            why_bad = why_bad or why
            if tag == "ER":
                if why_bad:
                    report(Problem(where, start, f"{why_bad}; record skipped"))
                else:
                    rec = _record(lines, where, start, source, report)
                    if rec is not None:
                        yield rec
                lines = []
        elif text.strip() and not stray and not _RISPY_HEADER.match(text.strip()):
            stray = n
            report(
                Problem(
                    where,
                    n,
                    "text outside any RIS record (records run from `TY  -` to `ER  -`); ignored",
                )
            )
    if lines:
        report(
            Problem(
                where,
                start,
                "RIS record has no `ER  -` line before the end of the file; record skipped",
            )
        )


class _Fields:
    """One record as rispy gave it: a tag's text, or its list of texts."""

    def __init__(self, ris: dict) -> None:
        self.ris = ris

    def one(self, *names: str) -> str:
        for name in names:
            value = self.ris.get(name)
            if isinstance(value, list):
                value = next((v for v in value if isinstance(v, str) and v.strip()), None)
            if isinstance(value, str) and value.strip():
                return clean(value)
        return ""

    def many(self, *names: str) -> tuple[str, ...]:
        out: list[str] = []
        for name in names:
            value = self.ris.get(name) or []
            out += [clean(v) for v in (value if isinstance(value, list) else [value])]
        return tuple(v for v in out if v)


def _record(
    lines: list[str], where: str, line: int, source: str, report: ProblemSink
) -> Record | None:
    parsed = rispy.loads("\n".join(lines))
    if not parsed:
        report(Problem(where, line, "RIS record rispy cannot read; record skipped"))
        return None
    f = _Fields(parsed[0])
    names = f.many("authors", "first_authors")
    year = _YEAR.search(f.one("year", "publication_year", "date"))
    ref = Reference(
        key=f.one("id") or None,
        line=line,
        title=f.one("title", "primary_title"),
        abstract=f.one("abstract", "notes_abstract"),
        authors=tuple(person_name(a) for a in names),
        year=int(year.group(0)) if year else None,
        doi=f.one("doi") or None,
        url=f.one("urls") or None,
        keywords=f.many("keywords"),
    )
    return to_record(ref, where, source, _bibtex(f, ref, names), report)


def _bibtex(f: _Fields, ref: Reference, names: tuple[str, ...]) -> str:
    """The RIS record as BibTeX: every field BibTeX has a place for."""
    entry_type = _BIBTEX_TYPES.get(f.one("type_of_reference").upper(), "misc")
    container = f.one("secondary_title", "journal_name", "alternate_title3", "alternate_title1")
    first, last = f.one("start_page"), f.one("end_page")
    arxiv = arxiv_id_in(ref.doi, ref.url)
    isbn = entry_type in ("book", "incollection")
    fields = {
        "title": ref.title,
        "author": " and ".join(names),
        "editor": " and ".join(f.many("secondary_authors")),
        "journal": container if entry_type == "article" else "",
        "booktitle": container if entry_type in _CONTAINED else "",
        "series": f.one("tertiary_title"),
        "year": str(ref.year or ""),
        "date": f.one("date"),
        "volume": f.one("volume"),
        "number": f.one("number"),
        "pages": f"{first}--{last}" if first and last else first,
        "publisher": f.one("publisher"),
        "address": f.one("place_published"),
        "edition": f.one("edition"),
        "isbn": f.one("issn") if isbn else "",
        "issn": "" if isbn else f.one("issn"),
        "language": f.one("language"),
        "doi": ref.doi or "",
        "url": ref.url or "",
        "eprint": arxiv or "",
        "archiveprefix": "arXiv" if arxiv else "",
        "keywords": ", ".join(ref.keywords),
        "note": "; ".join(f.many("notes", "note")),
        "abstract": ref.abstract,
    }
    return render_bibtex(entry_type, ref.key or made_key(ref), fields)
