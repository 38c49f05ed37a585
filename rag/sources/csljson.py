"""CSL-JSON (Zotero, Mendeley, Better BibTeX): one JSON array of items, one paper an item."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from rag.sources.bibtex import (
    MAX_WHOLE_FILE_BYTES,
    Reference,
    arxiv_id,
    arxiv_id_in,
    keywords_in,
    made_key,
    render_bibtex,
    to_record,
)
from rag.sources.fields import clean, kind
from rag.sources.record import Problem, ProblemSink, Record
from rag.sources.textfile import Encoding, read_whole, unreadable

_SPACE = re.compile(r"[ \t\r\n\ufeff]*")
# CSL item types as BibTeX entry types; the rest (preprints are "article") are @misc.
_BIBTEX_TYPES = {
    "article-journal": "article", "article-magazine": "article",
    "article-newspaper": "article", "paper-conference": "inproceedings", "book": "book",
    "chapter": "incollection", "thesis": "phdthesis", "report": "techreport",
}  # fmt: skip
_DECODER = json.JSONDecoder()


def looks_like_csl(text: str) -> bool:
    """A JSON array whose first item has a title and what only CSL items have: a ``type``, an
    ``issued`` date or ``author`` as ``{family, given}`` objects."""
    start = _SPACE.match(text).end()  # type: ignore[union-attr]
    if not text.startswith("[", start):
        return False
    try:
        item, _ = _DECODER.raw_decode(text, _SPACE.match(text, start + 1).end())  # type: ignore[union-attr]
    except (ValueError, RecursionError):
        return False
    if not isinstance(item, dict) or "title" not in item:
        return False
    authors = item.get("author")
    named = isinstance(authors, list) and any(
        isinstance(a, dict) and ("family" in a or "given" in a) for a in authors
    )
    return "type" in item or "issued" in item or named


def read_csljson(
    path: Path, encoding: Encoding, source: str, report: ProblemSink
) -> Iterator[Record]:
    """Parsed whole: the json module has no streaming parser, and CSL-JSON is one array.
    ``raw_decode`` reads the items one by one so that each has its line (json keeps no
    positions) and a break in the JSON costs the items after it, not those before.
    Measured on tests/fixtures/library/zotero-export.json (60 items, 50 KB): 0.24 s and 0.42 MB
    peak (records included), i.e. about 40 s and 70 MB per 10,000 items; 90% of the time is
    pylatexenc encoding each item's BibTeX rendering.
    """
    where = str(path)
    text = read_whole(path, encoding, "CSL-JSON", MAX_WHOLE_FILE_BYTES, report)
    if text is None:
        return
    at = _SPACE.match(text).end()  # type: ignore[union-attr]
    line, counted = 1, 0

    def line_of(pos: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, pos)
        counted = pos
        return line

    if not text.startswith("[", at):
        report(Problem(where, line_of(at), "not a CSL-JSON array (it starts with no `[`); skipped"))
        return
    at = _SPACE.match(text, at + 1).end()  # type: ignore[union-attr]
    if text.startswith("]", at):
        return
    while True:
        n = line_of(at)
        try:
            item, end = _DECODER.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            report(Problem(where, exc.lineno, f"broken JSON ({exc.msg}); rest of file skipped"))
            return
        except (ValueError, RecursionError):
            report(
                Problem(
                    where,
                    n,
                    "broken JSON (nested too deeply or a number too long to "
                    "read); rest of file skipped",
                )
            )
            return
        if not isinstance(item, dict):
            report(Problem(where, n, f"{kind(item)}, not a CSL item; item skipped"))
        elif why := unreadable(text[at:end], encoding):
            report(Problem(where, n, f"{why}; item skipped"))
        else:
            rec = _record(item, where, n, source, report)
            if rec is not None:
                yield rec
        at = _SPACE.match(text, end).end()  # type: ignore[union-attr]
        if text.startswith("]", at):
            return
        if not text.startswith(",", at):
            report(
                Problem(
                    where,
                    line_of(at),
                    "broken JSON (expected `,` or `]` after an item); rest of file skipped",
                )
            )
            return
        at = _SPACE.match(text, at + 1).end()  # type: ignore[union-attr]


def _text(item: dict, *names: str) -> str:
    for name in names:
        value = item.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip():
            return clean(value)
    return ""


def _names(item: dict, role: str) -> list[tuple[str, str]]:
    """``(as read, as BibTeX writes it)`` for each person: "First Last", "Last, First"."""
    people = item.get(role)
    out = []
    for p in people if isinstance(people, list) else []:
        if not isinstance(p, dict):
            continue
        if literal := _text(p, "literal"):
            out.append((literal, "{" + literal + "}"))
            continue
        family = " ".join(filter(None, (_text(p, "non-dropping-particle"), _text(p, "family"))))
        given = " ".join(filter(None, (_text(p, "given"), _text(p, "dropping-particle"))))
        suffix = _text(p, "suffix")
        if family or given:
            read = " ".join(filter(None, (given, family)))
            read = f"{read}, {suffix}" if suffix else read
            bib = ", ".join(filter(None, (family, suffix, given)))
            out.append((read, bib))
    return out


def _year(item: dict) -> int | None:
    issued = item.get("issued")
    if isinstance(issued, dict):
        parts = issued.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
            first = parts[0][0]
            issued = first if isinstance(first, (int, str)) else None
        else:
            issued = _text(issued, "raw", "literal")
    m = re.search(r"(1[89]|20)\d\d", str(issued)) if isinstance(issued, (str, int)) else None
    return int(m.group(0)) if m else None


def _record(item: dict, where: str, line: int, source: str, report: ProblemSink) -> Record | None:
    number, doi, url = _text(item, "number"), _text(item, "DOI"), _text(item, "URL")
    from_arxiv = "arxiv" in (number + _text(item, "publisher", "container-title")).lower()
    arxiv = arxiv_id(_text(item, "arXiv", "arxiv") or (number if from_arxiv else ""))
    keywords = item.get("keywords")
    if isinstance(keywords, list):
        words = tuple(clean(k) for k in keywords if isinstance(k, str) and clean(k))
    else:
        words = keywords_in(_text(item, "keywords", "keyword"))
    authors = _names(item, "author")
    key = _text(item, "id", "citation-key")
    ref = Reference(
        key=key or None,
        line=line,
        title=_text(item, "title"),
        abstract=_text(item, "abstract"),
        authors=tuple(a for a, _ in authors),
        year=_year(item),
        doi=doi or None,
        url=url or None,
        arxiv_id=arxiv or arxiv_id_in(doi, url),
        keywords=words,
    )
    return to_record(ref, where, source, _bibtex(item, ref, authors), report)


def _bibtex(item: dict, ref: Reference, authors: list[tuple[str, str]]) -> str:
    """The CSL item as BibTeX: every field BibTeX has a place for."""
    entry_type = _BIBTEX_TYPES.get(_text(item, "type"), "misc")
    container = _text(item, "container-title")
    fields = {
        "title": ref.title,
        "author": " and ".join(b for _, b in authors),
        "editor": " and ".join(b for _, b in _names(item, "editor")),
        "journal": container if entry_type == "article" else "",
        "booktitle": container if entry_type in ("inproceedings", "incollection") else "",
        "series": _text(item, "collection-title"),
        "year": str(ref.year or ""),
        "volume": _text(item, "volume"),
        "number": _text(item, "issue") or ("" if ref.arxiv_id else _text(item, "number")),
        "pages": _text(item, "page").replace("-", "--").replace("----", "--"),
        "publisher": _text(item, "publisher"),
        "address": _text(item, "publisher-place"),
        "edition": _text(item, "edition"),
        "isbn": _text(item, "ISBN"),
        "issn": _text(item, "ISSN"),
        "language": _text(item, "language"),
        "doi": ref.doi or "",
        "url": ref.url or "",
        "eprint": ref.arxiv_id or "",
        "archiveprefix": "arXiv" if ref.arxiv_id else "",
        "keywords": ", ".join(ref.keywords),
        "note": _text(item, "note"),
        "abstract": ref.abstract,
    }
    return render_bibtex(entry_type, ref.key or made_key(ref), fields)
