"""Saved listing pages: header furniture, then a title line and an abstract line per paper."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from rag.sources.fields import ABSTRACT_MAX_CHARS, clean, too_long
from rag.sources.record import Problem, ProblemSink, Record
from rag.sources.textfile import Encoding, Head, numbered_lines, unreadable

# Lines of the saved listing pages that are page furniture, not papers.
_PAGE_FURNITURE = {
    "new",
    "subscribe",
    "daily papers",
    "byak and the research community",
    "get trending papers in your email inbox!",
    "get trending papers in your email inbox once a day!",
}
_DATE_LINE = re.compile(
    r"^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{1,2}(, \d{4})?$", re.I
)
# Lines no listing page has, and that other formats start their lines with: a BibTeX entry
# or field, an RIS tag, markup, a Markdown heading, a LaTeX command.
_NOT_PAGE_LINE = re.compile(
    r"^\s*(@\w+\s*[{(]|[A-Z][A-Z0-9]  - |[\w-]+\s*=\s*[{\"]|<|#{1,6}\s|\\[a-zA-Z])"
)
# A title is a short line that does not end like a sentence; abstracts are long prose.
_TITLE_MAX_CHARS = 300
_ABSTRACT_MIN_CHARS = 200


def is_furniture(text: str) -> bool:
    low = text.casefold()
    return low in _PAGE_FURNITURE or low.startswith("subscribe") or bool(_DATE_LINE.match(text))


def looks_like_pages(head: Head) -> bool:
    """Listing pages: the pages' header furniture first, or nothing but title/abstract pairs
    (pasted by hand), and no line that only another format has (BibTeX, RIS, markup)."""
    assert head.encoding is not None
    lines = [(n, s, unreadable(s, head.encoding)) for n, s in enumerate(head.lines, start=1)]
    events = list(parse_pages(lines, "", "", final=head.whole))
    papers = sum(isinstance(e, Record) for e in events)
    first = next((clean(s) for _, s, _ in lines if clean(s)), "")
    foreign = any(_NOT_PAGE_LINE.match(s) for _, s, _ in lines)
    if is_furniture(first):
        # The pages' own header: pages, even if every paper in the head is broken.
        return papers > 0 or not foreign
    return papers > 0 and len(events) == papers and not foreign


def _looks_like_title(line: str) -> bool:
    return len(line) <= _TITLE_MAX_CHARS and not (
        len(line) >= _ABSTRACT_MIN_CHARS or line.rstrip().endswith(".")
    )


def parse_pages(
    lines: Iterable[tuple[int, str, str]], where: str, source: str, *, final: bool = True
) -> Iterator[Record | Problem]:
    """Saved listing pages: header furniture, then a title line and an abstract line per paper.

    Two layouts occur: blank lines between everything, or compact with the first title glued
    to "Subscribe". Both reduce to the same sequence of non-blank lines. An unreadable line
    still counts as the title or abstract it looks like, so that it costs its paper (one
    problem) without the paper's other line being reported as an orphan too.
    """
    title: tuple[int, str, str] | None = None

    def orphan(n: int, text: str, why: str) -> Problem:
        if why:
            return Problem(where, n, f"{why}; line skipped")
        return Problem(where, n, f"title {text[:60]!r} has no abstract; skipped")

    in_header = True
    for n, line, why in lines:
        text = clean(line)
        if not text and not why:
            continue
        if in_header and not why:
            if text.casefold() in _PAGE_FURNITURE or _DATE_LINE.match(text):
                continue
            if text.casefold().startswith("subscribe") and len(text) > len("subscribe"):
                text = text[len("subscribe") :].strip()
        in_header = False
        if _looks_like_title(text):
            if title is not None:
                yield orphan(*title)
            title = (n, text, why)
            continue
        if title is None:
            yield Problem(
                where, n, f"{why}; line skipped" if why else "abstract with no title; skipped"
            )
            continue
        (tn, ttext, twhy), title = title, None
        if twhy:
            yield Problem(where, tn, f"{twhy}; record skipped")
        elif why:
            yield Problem(where, n, f"{why}; paper {ttext[:60]!r} skipped")
        elif len(text) > ABSTRACT_MAX_CHARS:
            yield Problem(where, tn, too_long("abstract", text, ABSTRACT_MAX_CHARS))
        else:
            yield Record(title=ttext, abstract=text, source=source, line=tn)
    if title is not None and final:
        yield orphan(*title)


def read_pages(
    path: Path, encoding: Encoding, source: str, report: ProblemSink
) -> Iterator[Record]:
    for event in parse_pages(numbered_lines(path, encoding), str(path), source):
        if isinstance(event, Problem):
            report(event)
        else:
            yield event
