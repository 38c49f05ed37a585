"""Readers for the inputs papers understands: listing-page dumps, JSONL/CSV, arXiv metadata,
and reference-manager exports (BibTeX, RIS, CSL-JSON).

Every reader yields ``Record``s and reports ``Problem``s (file, line, what is wrong) instead
of raising, so one bad entry never stops the rest of a file; a file in a format papers does
not read is refused whole, in one line. Readers stream (a 500 MB file never sits in memory),
except BibTeX and CSL-JSON, whose parsers need the whole text (rag/sources/bibtex.py says
what that costs).
``read_papers`` turns the records of many inputs into papers by id.
"""

from __future__ import annotations

from rag.sources.papers import paper_from_record, read_papers
from rag.sources.readers import (
    FORMATS,
    Problem,
    Record,
    detect_format,
    expand_paths,
    iter_records,
)

__all__ = [
    "FORMATS",
    "Problem",
    "Record",
    "detect_format",
    "expand_paths",
    "iter_records",
    "paper_from_record",
    "read_papers",
]
