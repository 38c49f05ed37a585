"""arXiv: papers by id and by search query, through the ``arxiv`` package, politely.

The package builds the URLs, parses the Atom feed and keeps the delay between requests;
its own retries are switched off (``num_retries=0``) for ours (``rag.remote.http``): in
arxiv 4.0.2 they wait only the 3 s delay, never read Retry-After, and let a timeout or a
connection dropped mid-answer (``ChunkedEncodingError``) through untried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import arxiv
import requests

from rag.ids import normalise_arxiv_id, normalise_doi
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
from rag.sources import Problem, Record

SERVICE = "arXiv"
# arXiv's terms of use: "no more than one request every three seconds".
MIN_DELAY_S = 3.0
# Ids asked for in one request: the API pages at up to 2000, but a batch of 50 lets the
# progress line move on a list of hundreds, at one extra request per 50 papers.
ID_BATCH = 50
MAX_PAGE = 100

Progress = Callable[[str, int, int], None]


def arxiv_client(settings: RemoteSettings) -> tuple[arxiv.Client, TimeoutSession]:
    """An ``arxiv.Client`` aimed at ``settings.arxiv_url`` and its session.

    Against arxiv.org itself the delay never drops below 3 s, whatever the settings say;
    a mirror or a test stand-in may go faster.
    """
    host = (urlsplit(settings.arxiv_url).hostname or "").lower()
    delay = settings.arxiv_delay_s
    if host == "arxiv.org" or host.endswith(".arxiv.org"):
        delay = max(delay, MIN_DELAY_S)
    client = arxiv.Client(page_size=MAX_PAGE, delay_seconds=delay, num_retries=0)
    # The package formats this class attribute; an instance attribute aims only this client.
    client.query_url_format = settings.arxiv_url.rstrip("?") + "?{}"
    session = TimeoutSession(settings.timeout_s)
    # arxiv 4.0.2 takes no session or timeout; its private ``_session`` is the one seam.
    client._session = session
    return client, session


def record_from_result(result: arxiv.Result) -> Record:
    """A fetched arXiv entry as a ``Record`` (source "arxiv"), with its BibTeX."""
    aid = normalise_arxiv_id(result.get_short_id())
    published = result.published
    year = published.year if published is not None and published.year > 1 else None
    categories = tuple(c for c in dict.fromkeys([result.primary_category, *result.categories]) if c)
    rec = Record(
        title=" ".join(result.title.split()),
        abstract=" ".join(result.summary.split()),
        source="arxiv",
        line=0,
        authors=tuple(a.name for a in result.authors if a.name),
        year=year,
        arxiv_id=aid,
        doi=normalise_doi(result.doi),
        url=f"https://arxiv.org/abs/{aid}" if aid else result.entry_id,
        categories=categories,
    )
    extra = {"primaryclass": result.primary_category} if result.primary_category else {}
    return with_bibtex(rec, extra=extra)


class ArxivFetcher:
    """Fetches from one arXiv endpoint; one client, so the delay holds across calls."""

    def __init__(self, settings: RemoteSettings, *, on_wait: Notify | None = None) -> None:
        self.settings = settings
        self.on_wait = on_wait
        self.client, self.session = arxiv_client(settings)

    def _run(self, search: arxiv.Search, step: Callable[[int], None]) -> list[arxiv.Result]:
        got: list[arxiv.Result] = []

        def attempt() -> None:
            try:
                # A retry resumes where the last try stopped rather than refetching pages.
                for result in self.client.results(search, offset=len(got)):
                    got.append(result)
                    step(len(got))
            except arxiv.HTTPError as exc:
                raise status_failure(SERVICE, exc.status, self.session.last_response) from None
            except arxiv.UnexpectedEmptyPageError:
                if search.id_list and got:
                    # Asked for ids some of which do not exist, arXiv has counted them in
                    # totalResults and the next page is empty (arxiv.py issue #82).
                    return
                raise TransientError("an empty page") from None
            except requests.RequestException as exc:
                raise connection_failure(exc, self.settings.timeout_s) from None

        with_retries(SERVICE, self.settings, attempt, on_wait=self.on_wait)
        return got

    def by_ids(
        self, ids: Sequence[str], *, progress: Progress | None = None
    ) -> tuple[list[Record], list[Problem]]:
        """The papers with these (normalised) arXiv ids; a Problem names each one arXiv lacks."""
        found: dict[str, Record] = {}
        done = 0
        for i in range(0, len(ids), ID_BATCH):
            batch = list(ids[i : i + ID_BATCH])
            self.client.page_size = len(batch)
            search = arxiv.Search(id_list=batch, max_results=len(batch))
            base = done

            def step(n: int, base: int = base) -> None:
                if progress:
                    progress(SERVICE, min(base + n, len(ids)), len(ids))

            for result in self._run(search, step):
                rec = record_from_result(result)
                if rec.arxiv_id:
                    found.setdefault(rec.arxiv_id, rec)
            done += len(batch)
            if progress:
                progress(SERVICE, done, len(ids))
        problems = [
            Problem(SERVICE, 0, f"arxiv:{aid} is not on arXiv; skipped")
            for aid in ids
            if aid not in found
        ]
        return [found[aid] for aid in ids if aid in found], problems

    def search(
        self, query: str, *, max_results: int, progress: Progress | None = None
    ) -> list[Record]:
        """Up to ``max_results`` papers for an arXiv search query (arXiv's own syntax)."""
        self.client.page_size = min(max_results, MAX_PAGE)
        search = arxiv.Search(query=query, max_results=max_results)

        def step(n: int) -> None:
            if progress:
                progress(SERVICE, n, max_results)

        records: dict[str, Record] = {}
        for result in self._run(search, step):
            rec = record_from_result(result)
            records.setdefault(rec.arxiv_id or rec.title, rec)
        return list(records.values())
