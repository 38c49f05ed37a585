"""From records to papers: one ``Paper`` per paper id, wherever and however often it was met."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from rag.errors import SourceError
from rag.ids import paper_id
from rag.sources.readers import FORMATS, Problem, ProblemSink, Record, expand_paths, iter_records
from rag.types import Paper


def paper_from_record(rec: Record) -> Paper:
    return Paper(
        paper_id=paper_id(rec.title, arxiv_id=rec.arxiv_id, doi=rec.doi),
        title=rec.title,
        abstract=rec.abstract,
        authors=rec.authors,
        year=rec.year,
        arxiv_id=rec.arxiv_id,
        doi=rec.doi,
        url=rec.url,
        categories=rec.categories,
        sources=(rec.source,),
        citekey=rec.citekey,
        bibtex=rec.bibtex,
    )


def read_papers(
    paths: Iterable[str | Path], report: ProblemSink, *, fmt: str | None = None
) -> tuple[dict[str, Paper], int]:
    """Papers by id from all inputs, and the number of records read.

    Raises:
        SourceError: a path does not exist, or ``fmt`` is not a format; nothing is read.
    """
    if fmt is not None and fmt not in FORMATS:
        raise SourceError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    files = expand_paths(paths, report)
    located = ((str(path), rec) for path in files for rec in iter_records(path, report, fmt=fmt))
    return collect_papers(located, report)


def collect_papers(
    records: Iterable[tuple[str, Record]], report: ProblemSink
) -> tuple[dict[str, Paper], int]:
    """Papers by id from ``(where, record)`` pairs (``where``: the file or API the record came
    from, for problem lines), and the number of records.

    A paper met twice keeps one record and both sources. Met again with a different
    abstract, the first is kept and the second reported: which one is right is not ours to
    guess, and keeping both under one id is impossible.
    """
    papers: dict[str, Paper] = {}
    first_met: dict[str, str] = {}
    n = 0
    for where, rec in records:
        n += 1
        p = paper_from_record(rec)
        seen = papers.get(p.paper_id)
        if seen is None:
            papers[p.paper_id] = p
            first_met[p.paper_id] = f"{where}:{rec.line}" if rec.line else where
        elif seen.abstract != p.abstract:
            same = _what_is_same(p)
            report(
                Problem(
                    where,
                    rec.line,
                    f"{same} as {first_met[p.paper_id]} with a different abstract; "
                    "kept the first",
                )
            )
        elif rec.source not in seen.sources:
            papers[p.paper_id] = replace(seen, sources=(*seen.sources, rec.source))
    return papers, n


def _what_is_same(p: Paper) -> str:
    kind, _, value = p.paper_id.partition(":")
    if kind == "arxiv":
        return f"same arXiv id ({value})"
    if kind == "doi":
        return f"same DOI ({value})"
    return "same title"
