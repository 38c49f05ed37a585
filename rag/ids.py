"""Stable paper ids: the same paper from two pages, runs or machines gets one id."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_ARXIV_NEW = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5})(?:v\d+)?$", re.I)
_ARXIV_OLD = re.compile(r"^(?:arxiv:)?([a-z\-]+(?:\.[a-z]{2})?/\d{7})(?:v\d+)?$", re.I)


def normalise_title(title: str) -> str:
    """Casefolded, accent-free, punctuation-free title with single spaces."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", text.casefold()).strip()


def normalise_arxiv_id(raw: str | None) -> str | None:
    if not raw:
        return None
    raw = raw.strip()
    for pattern in (_ARXIV_NEW, _ARXIV_OLD):
        m = pattern.match(raw)
        if m:
            return m.group(1).lower()
    return None


def normalise_doi(raw: str | None) -> str | None:
    if not raw:
        return None
    doi = raw.strip().lower()
    for prefix in ("https://doi.org/", "http://doi.org/", "http://dx.doi.org/", "doi:"):
        if doi.startswith(prefix):
            doi = doi[len(prefix) :]
    return doi or None


def paper_id(title: str, *, arxiv_id: str | None = None, doi: str | None = None) -> str:
    """``arxiv:<id>``, ``doi:<doi>`` or ``t:<16 hex of the normalised title's sha1>``."""
    if aid := normalise_arxiv_id(arxiv_id):
        return f"arxiv:{aid}"
    if d := normalise_doi(doi):
        return f"doi:{d}"
    digest = hashlib.sha1(normalise_title(title).encode("utf-8")).hexdigest()[:16]
    return f"t:{digest}"
