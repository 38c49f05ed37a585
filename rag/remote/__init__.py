"""Papers from the open scholarly APIs: arXiv (by id or search) and OpenAlex (by DOI or
title), fetched politely, with retries, and turned into ``Record``s with BibTeX.

Nothing here stores anything: ``Library.add`` fetches with :func:`fetch_papers` and then
ingests everything in one call, so a failed fetch leaves the library as it was.
"""

from __future__ import annotations

from rag.remote.bibtex import citekey
from rag.remote.enrich import EnrichReport, enrich_abstracts
from rag.remote.fetch import Fetched, fetch_papers, parse_ids

__all__ = ["EnrichReport", "Fetched", "citekey", "enrich_abstracts", "fetch_papers", "parse_ids"]
