"""BibTeX for fetched papers: a stable citekey and an entry written by bibtexparser."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import replace

import bibtexparser
from bibtexparser.middlewares import LatexEncodingMiddleware
from bibtexparser.model import Entry, Field

from rag.sources import Record
from rag.text import STOPWORDS

# Fields BibTeX and biblatex read verbatim: LaTeX-escaping them would break the DOI or link.
_VERBATIM = ("doi", "url", "eprint", "archiveprefix", "primaryclass")


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def citekey(authors: Sequence[str], year: int | None, title: str) -> str:
    """A citekey made only from the paper: first author's surname, year, first title word.

    ``("Ji Lin", ...), 2023, "AWQ: Activation-aware ..."`` gives ``lin2023awq``: lowercase
    ASCII (accents folded, other letters dropped), the first title word that is not a
    stopword. The same metadata gives the same key on every run and machine; it is the rule
    ``rag.references`` uses for papers that came without a key, so both agree.
    """
    surname = ""
    if authors:
        first = authors[0]
        parts = first.split(",")[0] if "," in first else (first.split() or [""])[-1]
        surname = _ascii_word(parts)
    words = (_ascii_word(w) for w in title.split())
    title_word = next((w for w in words if w and w not in STOPWORDS), "")
    when = str(year or "")
    key = f"{surname}{when}{title_word}" if surname else f"{title_word}{when}"
    return key or f"paper{when}"


def bibtex_entry(
    rec: Record, *, entry_type: str = "misc", extra: dict[str, str] | None = None
) -> str:
    """``rec`` as one BibTeX entry under ``rec.citekey``; ``extra`` adds fields (journal...)."""
    text: list[tuple[str, str]] = [("title", rec.title)]
    if rec.authors:
        text.append(("author", " and ".join(rec.authors)))
    text += [(k, v) for k, v in (extra or {}).items() if k not in _VERBATIM and v]
    entry = Entry(entry_type, rec.citekey or "paper", [Field(k, v) for k, v in text])
    # bibtexparser's LaTeX encoder escapes {, }, %, & and accents, and keeps $math$ as it is.
    library = LatexEncodingMiddleware(enclose_urls=False).transform(bibtexparser.Library([entry]))
    encoded = library.entries[0]
    # Double braces keep the title's capitals (AWQ, LLaMA) through styles that lowercase.
    encoded.set_field(Field("title", "{" + encoded.fields_dict["title"].value + "}"))
    if rec.year:
        encoded.set_field(Field("year", str(rec.year)))
    verbatim = {
        "eprint": rec.arxiv_id,
        "archiveprefix": "arXiv" if rec.arxiv_id else None,
        "doi": rec.doi,
        "url": rec.url,
        **{k: v for k, v in (extra or {}).items() if k in _VERBATIM},
    }
    for key, value in verbatim.items():
        if value:
            encoded.set_field(Field(key, value.replace("{", "%7B").replace("}", "%7D")))
    return bibtexparser.write_string(bibtexparser.Library([encoded])).strip() + "\n"


def with_bibtex(
    rec: Record, *, entry_type: str = "misc", extra: dict[str, str] | None = None
) -> Record:
    """``rec`` with its generated citekey and BibTeX entry."""
    keyed = replace(rec, citekey=citekey(rec.authors, rec.year, rec.title))
    return replace(keyed, bibtex=bibtex_entry(keyed, entry_type=entry_type, extra=extra))


def rekey(rec: Record, key: str) -> Record:
    """``rec`` under another citekey (two fetched papers made the same one)."""
    bib = rec.bibtex
    if bib and rec.citekey:
        bib = bib.replace(f"{{{rec.citekey},", f"{{{key},", 1)
    return replace(rec, citekey=key, bibtex=bib)
