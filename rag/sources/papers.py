"""From records to papers: one ``Paper`` per paper, wherever, however often and under whichever
id it was met."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import SourceError
from rag.identity import alias_keys, find_match, merge_into
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
    return collect_papers(read_records(paths, report, fmt=fmt), report)


def read_records(
    paths: Iterable[str | Path], report: ProblemSink, *, fmt: str | None = None
) -> Iterator[tuple[str, Record]]:
    """``(file, record)`` pairs of all inputs, read as they are consumed; the paths and
    ``fmt`` are checked now.

    Raises:
        SourceError: a path does not exist, or ``fmt`` is not a format; nothing is read.
    """
    if fmt is not None and fmt not in FORMATS:
        raise SourceError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    files = expand_paths(paths, report)
    return ((str(path), rec) for path in files for rec in iter_records(path, report, fmt=fmt))


@dataclass
class Collected:
    """What ``collect`` made of a run's records."""

    papers: dict[str, Paper] = field(default_factory=dict)
    records: int = 0
    # Where each paper was first met, for problem lines about it later (file, line).
    places: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Alias keys of records merged into each paper that the merged paper does not show
    # (the newcomer's title, its DOI where the paper kept another), to find it by later.
    keys: dict[str, list[str]] = field(default_factory=dict)
    # Records merged into a paper met under another id.
    merged: int = 0


def collect_papers(
    records: Iterable[tuple[str, Record]], report: ProblemSink
) -> tuple[dict[str, Paper], int]:
    """Papers by id from ``(where, record)`` pairs (``where``: the file or API the record came
    from, for problem lines), and the number of records (see ``collect``)."""
    got = collect(records, report)
    return got.papers, got.records


def collect(records: Iterable[tuple[str, Record]], report: ProblemSink) -> Collected:
    """One paper per paper, however often and under whichever id it was met.

    A record is the paper met earlier with the same DOI, else arXiv id, else title (unless
    a DOI or arXiv id says otherwise; ``rag.identity``). Met under another id, it is merged
    in: the first record's id, title and abstract stay, what it lacked is filled, both
    sources are kept (catalogues of one paper differ in an abstract's markup, so which
    abstract is not a problem to report). Met again under the same id with a different
    abstract, the first is kept and the second reported: which one is right is not ours to
    guess, and keeping both under one id is impossible.
    """
    got = Collected()
    papers = got.papers
    index: dict[str, str] = {}
    for where, rec in records:
        got.records += 1
        p = paper_from_record(rec)
        match = find_match(p, index.get, papers.get)
        target = match.paper_id or (p.paper_id if p.paper_id in papers else None)
        if target is None:
            papers[p.paper_id] = p
            got.places[p.paper_id] = (where, rec.line)
            for key in alias_keys(p):
                index.setdefault(key, p.paper_id)
            continue
        seen = papers[target]
        if target == p.paper_id and seen.abstract != p.abstract:
            place, line = got.places[target]
            first = f"{place}:{line}" if line else place
            same = _what_is_same(p)
            report(
                Problem(
                    where, rec.line, f"{same} as {first} with a different abstract; kept the first"
                )
            )
            continue
        papers[target] = merge_into(seen, p)
        got.merged += target != p.paper_id
        if why := match.disagreement():
            report(Problem(where, rec.line, why))
        shown = set(alias_keys(papers[target]))
        for key in alias_keys(p):
            index.setdefault(key, target)
            if key not in shown and key not in got.keys.setdefault(target, []):
                got.keys[target].append(key)
    return got


def _what_is_same(p: Paper) -> str:
    kind, _, value = p.paper_id.partition(":")
    if kind == "arxiv":
        return f"same arXiv id ({value})"
    if kind == "doi":
        return f"same DOI ({value})"
    return "same title"
