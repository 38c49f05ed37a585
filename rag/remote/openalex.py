"""OpenAlex: works by DOI and by title, with pyalex's URLs and its rebuilt abstracts.

pyalex 0.21 cannot be aimed elsewhere or made to time out: ``BaseOpenAlex.url`` writes
``https://api.openalex.org`` into every URL whatever ``config.openalex_url`` says, its retry
adapter is mounted for ``https://`` only, and its requests pass no timeout. So pyalex builds
the URL and rebuilds the abstract (``Work["abstract"]`` from ``abstract_inverted_index``),
and the request itself goes through ``rag.remote.http``. Its global ``config`` is never set:
the polite-pool email travels in a ``From`` header from an ``OpenAlexAuth`` of our own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyalex
import requests
from pyalex.api import AlexConfig, OpenAlexAuth

from rag.ids import normalise_arxiv_id, normalise_doi, normalise_title
from rag.remote.bibtex import with_bibtex
from rag.remote.http import (
    Notify,
    TimeoutSession,
    TransientError,
    connection_failure,
    status_failure,
    with_retries,
)
from rag.settings import RemoteSettings
from rag.sources import Record

SERVICE = "OpenAlex"
PYALEX_BASE = "https://api.openalex.org"
# OpenAlex takes up to 50 values in one OR filter.
DOI_BATCH = 50
# Title search: the exact title is nearly always among the first few; a lookalike is refused.
TITLE_CANDIDATES = 5
_ARXIV_DOI_PREFIX = "10.48550/arxiv."
_BIBTEX_TYPES = {"article": "article", "book": "book", "book-chapter": "incollection"}

Progress = Callable[[str, int, int], None]


def record_from_work(work: pyalex.Work) -> Record:
    """An OpenAlex work as a ``Record`` (source "openalex"), with its BibTeX."""
    doi = normalise_doi(work.get("doi"))
    location = work.get("primary_location") or {}
    landing = location.get("landing_page_url") or None
    arxiv_id = None
    if doi and doi.startswith(_ARXIV_DOI_PREFIX):
        arxiv_id = normalise_arxiv_id(doi[len(_ARXIV_DOI_PREFIX) :])
    elif landing and "arxiv.org/abs/" in landing:
        arxiv_id = normalise_arxiv_id(landing.split("arxiv.org/abs/")[-1])
    authors = tuple(
        name
        for a in work.get("authorships") or []
        if (name := ((a or {}).get("author") or {}).get("display_name"))
    )
    keywords = [k.get("display_name") for k in work.get("keywords") or []]
    if not keywords:
        keywords = [c.get("display_name") for c in (work.get("concepts") or [])[:5]]
    rec = Record(
        title=" ".join((work.get("display_name") or work.get("title") or "").split()),
        abstract=" ".join((abstract_of(work) or "").split()),
        source="openalex",
        line=0,
        authors=authors,
        year=work.get("publication_year"),
        arxiv_id=arxiv_id,
        doi=doi,
        url=landing,
        categories=tuple(k for k in keywords if k),
    )
    venue = (location.get("source") or {}).get("display_name") or ""
    kind = _BIBTEX_TYPES.get(work.get("type") or "", "misc")
    extra = {"journal": venue} if kind == "article" else {}
    if kind == "incollection":
        extra = {"booktitle": venue}
    return with_bibtex(rec, entry_type=kind, extra=extra)


def abstract_of(work: pyalex.Work) -> str | None:
    """The abstract pyalex rebuilds from the inverted index (None when OpenAlex has none)."""
    try:
        return work["abstract"]
    except KeyError:
        return None


class OpenAlex:
    """Asks one OpenAlex endpoint for works."""

    def __init__(self, settings: RemoteSettings, *, on_wait: Notify | None = None) -> None:
        self.settings = settings
        self.on_wait = on_wait
        self.session = TimeoutSession(settings.timeout_s)
        email = settings.openalex_email
        self.auth = OpenAlexAuth(
            AlexConfig(
                email=email,
                api_key=None,
                user_agent=f"papers (pyalex/{pyalex.__version__}"
                + (f"; mailto:{email})" if email else ")"),
            )
        )

    def _url(self, query: pyalex.Works) -> str:
        url: str = query.url
        assert url.startswith(PYALEX_BASE), url
        return self.settings.openalex_url.rstrip("/") + url[len(PYALEX_BASE) :]

    def _get(self, query: pyalex.Works, params: dict[str, Any] | None = None) -> Any:
        """The JSON answer, or None for a 404 (no such work)."""
        url = self._url(query)
        params = dict(params or {})
        if self.settings.openalex_email:
            params["mailto"] = self.settings.openalex_email

        def attempt() -> Any:
            try:
                resp = self.session.get(url, params=params, auth=self.auth)
            except requests.RequestException as exc:
                raise connection_failure(exc, self.settings.timeout_s) from None
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                raise status_failure(SERVICE, resp.status_code, resp)
            try:
                return resp.json()
            except ValueError:
                raise TransientError("an answer that is not JSON") from None

        return with_retries(SERVICE, self.settings, attempt, on_wait=self.on_wait)

    def by_doi(self, doi: str) -> pyalex.Work | None:
        """The work with this DOI, or None when OpenAlex has none."""
        data = self._get(pyalex.Works(f"https://doi.org/{doi}"))
        return pyalex.Work(data) if isinstance(data, dict) and data.get("id") else None

    def by_dois(
        self, dois: Sequence[str], *, progress: Progress | None = None
    ) -> dict[str, pyalex.Work]:
        """Works by normalised DOI, 50 to a request; DOIs OpenAlex lacks are left out."""
        found: dict[str, pyalex.Work] = {}
        for i in range(0, len(dois), DOI_BATCH):
            batch = list(dois[i : i + DOI_BATCH])
            data = self._get(pyalex.Works().filter_or(doi=batch), {"per-page": len(batch)})
            for item in (data or {}).get("results") or []:
                work = pyalex.Work(item)
                if doi := normalise_doi(work.get("doi")):
                    found[doi] = work
            if progress:
                progress(SERVICE, min(i + DOI_BATCH, len(dois)), len(dois))
        return found

    def by_title(self, title: str) -> pyalex.Work | None:
        """The work whose title is this title (after normalising), among the top results."""
        want = normalise_title(title)
        if not want:
            return None
        data = self._get(pyalex.Works().search(title), {"per-page": TITLE_CANDIDATES})
        for item in (data or {}).get("results") or []:
            work = pyalex.Work(item)
            if normalise_title(work.get("display_name") or work.get("title") or "") == want:
                return work
        return None
