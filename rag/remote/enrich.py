"""Abstracts for entries that came without one: looked up in OpenAlex by DOI, else by title."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from rag.ids import normalise_doi
from rag.remote.http import Notify
from rag.remote.openalex import SERVICE, OpenAlex, Progress, abstract_of
from rag.settings import RemoteSettings
from rag.sources import Record


@dataclass
class EnrichReport:
    """What enrichment did: every record handed in (abstracts filled where found), and which
    stayed without one."""

    records: list[Record] = field(default_factory=list)
    found: int = 0
    still_empty: list[Record] = field(default_factory=list)

    def summary(self) -> str:
        asked = self.found + len(self.still_empty)
        return (
            f"{self.found} of {asked} missing abstracts found in OpenAlex, "
            f"{len(self.still_empty)} stayed empty"
        )


def enrich_abstracts(
    records: Iterable[Record],
    settings: RemoteSettings,
    *,
    progress: Progress | None = None,
    on_wait: Notify | None = None,
) -> EnrichReport:
    """Fill the abstract of each record that has none from OpenAlex.

    A record with a DOI is matched by DOI (50 to a request); one without, or whose DOI
    OpenAlex lacks, by a title search that accepts only the same title (normalised), so a
    lookalike never lends its abstract. Only the abstract is filled: the rest of the entry is
    the user's. Raises ``RemoteError`` when OpenAlex fails after its retries.
    """
    records = list(records)
    todo = [i for i, r in enumerate(records) if not r.abstract.strip()]
    report = EnrichReport(records=records)
    if not todo:
        return report
    openalex = OpenAlex(settings, on_wait=on_wait)
    dois = list(dict.fromkeys(d for i in todo if (d := normalise_doi(records[i].doi))))
    by_doi = openalex.by_dois(dois, progress=progress) if dois else {}
    for n, i in enumerate(todo, 1):
        rec = records[i]
        doi = normalise_doi(rec.doi)
        work = by_doi.get(doi) if doi else None
        if work is None:
            work = openalex.by_title(rec.title)
        abstract = " ".join((abstract_of(work) or "").split()) if work is not None else ""
        if abstract:
            records[i] = replace(rec, abstract=abstract)
            report.found += 1
        else:
            report.still_empty.append(rec)
        if progress:
            progress(f"{SERVICE} titles", n, len(todo))
    return report
