"""Which paper a newly read one is: the same paper from a .bib, Zotero, an API or a listing page.

A paper's id comes from what its first source knew (``rag.ids.paper_id``), so the same paper
met later through a source that knows more (a DOI where the page had a title only) gets
another id. Identity is therefore decided by alias keys, in order of trust: the DOI, then
the arXiv id without its version, then the normalised title. A title matches only when no
DOI or arXiv id says otherwise (two papers may share a title: "Attention is all you need"
has follow-ups called just that). The paper met first keeps its id; the newcomer is merged in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from rag.ids import normalise_arxiv_id, normalise_doi, normalise_title
from rag.types import Paper

__all__ = ["Match", "alias_keys", "conflicts", "find_match", "merge_into", "refresh"]

# arXiv's own DOIs (since 2022) name the preprint, not a publisher's version of it: they
# are the arXiv id in another form, so they match as one and never conflict with a journal DOI.
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$")

_BY = {"doi": "DOI", "arxiv": "arXiv id", "title": "title"}
_TRUST = list(_BY)


def doi_of(paper: Paper) -> str | None:
    doi = normalise_doi(paper.doi)
    return None if doi is None or _ARXIV_DOI.match(doi) else doi


def arxiv_of(paper: Paper) -> str | None:
    if aid := normalise_arxiv_id(paper.arxiv_id):
        return aid
    doi = normalise_doi(paper.doi)
    m = _ARXIV_DOI.match(doi) if doi else None
    return normalise_arxiv_id(m.group(1)) if m else None


def alias_keys(paper: Paper) -> list[str]:
    """``doi:...``, ``arxiv:...`` and ``title:...`` keys of ``paper``, most trusted first."""
    keys = []
    if doi := doi_of(paper):
        keys.append(f"doi:{doi}")
    if aid := arxiv_of(paper):
        keys.append(f"arxiv:{aid}")
    if title := normalise_title(paper.title):
        keys.append(f"title:{title}")
    return keys


def conflicts(a: Paper, b: Paper) -> bool:
    """Both have a DOI and they differ, or both an arXiv id and they differ."""
    for of in (doi_of, arxiv_of):
        x, y = of(a), of(b)
        if x and y and x != y:
            return True
    return False


@dataclass(frozen=True)
class Match:
    """The paper a newcomer is (``None``: a new paper), and keys pointing elsewhere."""

    paper_id: str | None
    by: str = ""
    # (what matched, paper id) of other papers the newcomer also matched.
    others: list[tuple[str, str]] = field(default_factory=list)

    def disagreement(self) -> str:
        """One line for a newcomer that matched two papers; ``""`` when it did not."""
        if not self.others:
            return ""
        also = ", ".join(f"{_BY[by]} matches {pid}" for by, pid in self.others)
        return (
            f"matches {self.paper_id} by {_BY[self.by]} but its {also}; merged with {self.paper_id}"
        )


def find_match(
    paper: Paper,
    lookup: Callable[[str], str | None],
    get: Callable[[str], Paper | None],
    *,
    more_keys: Iterable[str] = (),
) -> Match:
    """The paper ``paper`` is, by its alias keys (``lookup``: key -> paper id) in trust order.

    ``get`` gives a known paper by id, to refuse a title match its DOI or arXiv id contradicts.
    ``more_keys``: keys of records already merged into ``paper`` (tried after its own).
    """
    found: list[tuple[str, str]] = []
    keys = dict.fromkeys([*alias_keys(paper), *more_keys])
    for key in sorted(keys, key=lambda k: _TRUST.index(k.partition(":")[0])):
        pid = lookup(key)
        if pid is None:
            continue
        kind = key.partition(":")[0]
        if kind == "title":
            known = get(pid)
            if known is None or conflicts(known, paper):
                continue
        found.append((kind, pid))
    if not found:
        return Match(None)
    (by, pid), rest = found[0], found[1:]
    others = list(dict.fromkeys((b, p) for b, p in rest if p != pid))
    return Match(pid, by, others)


def merge_into(kept: Paper, new: Paper) -> Paper:
    """``kept`` with what it lacks filled from ``new`` (a paper met under another id).

    ``kept``'s id, title and values stay; its abstract stays unless it is empty; the
    sources of both are kept.
    """
    return replace(
        kept,
        abstract=kept.abstract or new.abstract,
        authors=kept.authors or new.authors,
        year=kept.year or new.year,
        arxiv_id=kept.arxiv_id or new.arxiv_id,
        doi=kept.doi or new.doi,
        url=kept.url or new.url,
        categories=kept.categories or new.categories,
        sources=tuple(dict.fromkeys([*kept.sources, *new.sources])),
        citekey=kept.citekey or new.citekey,
        bibtex=kept.bibtex or new.bibtex,
    )


def refresh(stored: Paper, new: Paper) -> Paper:
    """``new`` (read again from the input ``stored`` was first read from) as it replaces
    ``stored``: its title, abstract and values win, as an edited input's always have; what
    it lacks is kept from ``stored`` (what merges brought), and so are the id and sources."""
    merged = merge_into(new, stored)
    return replace(
        merged,
        paper_id=stored.paper_id,
        sources=tuple(dict.fromkeys([*stored.sources, *new.sources])),
    )
