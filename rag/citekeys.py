"""Citekeys for papers whose source gave none: readable (``lin2024awq``), stable, unique.

A generated key is made once, when the paper is first stored, and never changes after: it
may already sit in a user's LaTeX. A key from the user's own source (a .bib, RIS or CSL-JSON
entry) is kept as given; only a clash with another paper's key earns it a suffix.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container

from rag.text import STOPWORDS
from rag.types import Paper

__all__ = ["generate_citekey", "suffixed", "surname", "unique_citekey"]

# Letters and digits only: what BibTeX, biber and pandoc all accept in a key unquoted.
_NOT_KEY = re.compile(r"[^a-z0-9]")


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NOT_KEY.sub("", folded.lower())


def surname(author: str) -> str:
    """The ascii-folded last name: before the comma of "Last, First", else the last word."""
    name = author.split(",")[0] if "," in author else (author.split() or [""])[-1]
    return _ascii_word(name)


def _title_words(title: str) -> list[str]:
    words = (_ascii_word(w) for w in re.split(r"[\s\-/:]+", title))
    return [w for w in words if w and w not in STOPWORDS]


def generate_citekey(paper: Paper) -> str:
    """``lin2024awq`` (first author's last name, year, first significant title word).

    Without authors the first title word leads (``weight2021``); with neither authors nor a
    year (the seed pages give titles only) the first two title words (``awqactivation``), so
    that keys of a title-only library are not mostly suffixed duplicates.
    """
    last = surname(paper.authors[0]) if paper.authors else ""
    year = str(paper.year) if paper.year else ""
    words = _title_words(paper.title)
    if last:
        key = f"{last}{year}{words[0] if words else ''}"
    elif year:
        key = f"{words[0] if words else 'paper'}{year}"
    else:
        key = "".join(words[:2])
    return key or "paper"


def suffixed(key: str, n: int) -> str:
    """The ``n``-th variant of ``key`` (n >= 1): ``keya`` ... ``keyz``, then ``key27`` ..."""
    return f"{key}{chr(ord('a') + n - 1)}" if n <= 26 else f"{key}{n}"


def unique_citekey(key: str, taken: Container[str]) -> str:
    """``key``, or its first suffixed variant not in ``taken`` (casefolded keys: biber and
    BibTeX treat keys differing only in case as the same entry)."""
    if key.casefold() not in taken:
        return key
    n = 1
    while suffixed(key, n).casefold() in taken:
        n += 1
    return suffixed(key, n)
