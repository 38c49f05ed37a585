"""Stable paper ids: the same paper from two pages, runs or machines gets one id."""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Runs of anything but a-z, 0-9 and letters or digits of non-Latin scripts.
_NON_ALNUM_OR_OTHER_SCRIPT = re.compile(r"[^0-9a-z\u0080-\U0010ffff]+")
_ARXIV_NEW = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5})(?:v\d+)?$", re.I)
_ARXIV_OLD = re.compile(r"^(?:arxiv:)?([a-z\-]+(?:\.[a-z]{2})?/\d{7})(?:v\d+)?$", re.I)


def normalise_title(title: str) -> str:
    """Casefolded, accent-free, punctuation-free title with single spaces.

    Letters of other scripts (Greek, Cyrillic, CJK...) are kept: dropping them, as the
    a-z rule alone did, gave every title written only in such letters one id, so the second
    such paper was lost. Latin letters beyond a-z (ø, ł) are still dropped, so the ids of
    Latin-script titles are what they always were.
    """
    text = unicodedata.normalize("NFKD", title)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    if not text.isascii():
        text = "".join(ch if _keep(ch) else " " for ch in text)
    return _NON_ALNUM_OR_OTHER_SCRIPT.sub(" ", text).strip()


def _keep(ch: str) -> bool:
    if ch.isascii():
        return True
    return ch.isalnum() and not unicodedata.name(ch, "LATIN").startswith("LATIN")


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
