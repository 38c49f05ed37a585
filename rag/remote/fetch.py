"""`papers add`: read the ids given, fetch every paper first, and hand back records to store.

All or nothing: a service that fails after its retries raises ``RemoteError`` before
anything is stored. Storing what did arrive would leave the user to work out which of their
ids made it; rerunning the whole command costs only the refetch, since ingest skips
papers it already holds unchanged. An id a service does not know is no failure: it costs
that id one ``Problem`` line, and the others are stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from rag.ids import normalise_arxiv_id, normalise_doi
from rag.remote.arxiv_api import ArxivFetcher, Progress
from rag.remote.bibtex import rekey
from rag.remote.http import Notify
from rag.remote.openalex import SERVICE as OPENALEX
from rag.remote.openalex import OpenAlex, record_from_work
from rag.settings import RemoteSettings
from rag.sources import Problem, Record

_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_ARXIV_URL = re.compile(r"^https?://(?:export\.)?arxiv\.org/(?:abs|pdf)/(.+?)(?:\.pdf)?$", re.I)
WHERE = "papers add"


@dataclass
class Fetched:
    """What `papers add` fetched: ``(where, record)`` pairs to ingest, and the ids it could not."""

    records: list[tuple[str, Record]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def parse_ids(ids: Iterable[str]) -> tuple[list[str], list[str], list[Problem]]:
    """arXiv ids and DOIs (normalised, each once) from ``arxiv:…``, ``doi:…``, bare or URL forms."""
    arxiv_ids: dict[str, None] = {}
    dois: dict[str, None] = {}
    problems: list[Problem] = []
    for raw in ids:
        text = raw.strip()
        low = text.lower()
        if m := _ARXIV_URL.match(text):
            text = m.group(1)
        aid = None if low.startswith("doi:") else normalise_arxiv_id(text)
        doi = normalise_doi(text) if not aid else None
        if aid:
            arxiv_ids[aid] = None
        elif doi and _DOI.match(doi):
            dois[doi] = None
        else:
            problems.append(
                Problem(
                    WHERE,
                    0,
                    f"{raw!r} is neither an arXiv id nor a DOI (write arxiv:2306.00978 or "
                    "doi:10.1145/3065386); skipped",
                )
            )
    return list(arxiv_ids), list(dois), problems


def fetch_papers(
    settings: RemoteSettings,
    ids: Iterable[str] = (),
    *,
    query: str | None = None,
    max_results: int = 20,
    progress: Progress | None = None,
    on_wait: Notify | None = None,
) -> Fetched:
    """Fetch the papers ``ids`` name (arXiv ids from arXiv, DOIs from OpenAlex) and, with
    ``query``, up to ``max_results`` papers of an arXiv search.

    ``progress(service, done, total)`` follows each service; ``on_wait(message)`` tells of a
    retry about to wait. Raises ``RemoteError`` (nothing fetched is returned) when a service
    fails after its retries.
    """
    arxiv_ids, dois, problems = parse_ids(ids)
    out = Fetched(problems=problems)
    records: list[Record] = []
    if arxiv_ids or query:
        arxiv = ArxivFetcher(settings, on_wait=on_wait)
        if arxiv_ids:
            found, missing = arxiv.by_ids(arxiv_ids, progress=progress)
            records += found
            out.problems += missing
        if query:
            records += arxiv.search(query, max_results=max_results, progress=progress)
    if dois:
        openalex = OpenAlex(settings, on_wait=on_wait)
        for i, doi in enumerate(dois, 1):
            # One request a DOI: a user types a handful, and a 404 names the one missing.
            work = openalex.by_doi(doi)
            if work is None:
                out.problems.append(Problem(OPENALEX, 0, f"doi:{doi} is not in OpenAlex; skipped"))
            else:
                rec = record_from_work(work)
                if rec.abstract:
                    records.append(rec)
                else:
                    out.problems.append(
                        Problem(OPENALEX, 0, f"doi:{doi} has no abstract in OpenAlex; skipped")
                    )
            if progress:
                progress(OPENALEX, i, len(dois))
    out.records = [(_where(r), r) for r in unique_citekeys(records)]
    return out


def _where(rec: Record) -> str:
    return f"arXiv {rec.arxiv_id}" if rec.source == "arxiv" else f"OpenAlex doi:{rec.doi}"


def unique_citekeys(records: list[Record]) -> list[Record]:
    """Records whose generated citekeys are unique among them (lin2023awq, lin2023awqb...)."""
    seen: dict[str, int] = {}
    out = []
    for rec in records:
        key = rec.citekey or ""
        n = seen.get(key, 0) + 1
        seen[key] = n
        out.append(rec if n == 1 else rekey(rec, f"{key}{chr(ord('a') + n - 1)}"))
    return out
