"""An answer's references for the reader: links, a Markdown list and BibTeX entries."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from rag.text import STOPWORDS
from rag.types import Answer, Paper

__all__ = ["paper_url", "references_bibtex", "references_markdown"]


def paper_url(paper: Paper) -> str | None:
    """Where a reader can open the paper: its own URL, else arXiv, else the DOI resolver."""
    if paper.url:
        return paper.url
    if paper.arxiv_id:
        return f"https://arxiv.org/abs/{paper.arxiv_id}"
    if paper.doi:
        return f"https://doi.org/{paper.doi}"
    return None


def references_markdown(answer: Answer) -> str:
    """The answer's citations as a Markdown list: number, title, paper id and link."""
    papers = {h.paper.paper_id: h.paper for h in answer.sources}
    lines = []
    for c in sorted(answer.citations, key=lambda c: c.n):
        paper = papers.get(c.paper_id)
        url = c.url or (paper_url(paper) if paper else None)
        line = f"{c.n}. {_md_escape(c.title)} (`{c.paper_id}`)"
        if url:
            line += f" <{url}>"
        lines.append(line)
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>])", r"\\\1", text)


_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%",
    "$": r"\$", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def _bibtex_escape(text: str) -> str:
    return "".join(_BIBTEX_SPECIAL.get(ch, ch) for ch in " ".join(text.split()))


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def _bibtex_key(paper: Paper) -> str:
    surname = ""
    if paper.authors:
        first = paper.authors[0]
        surname = _ascii_word(
            first.split(",")[0] if "," in first else first.split()[-1] if first.split() else ""
        )
    title_word = next(
        (
            _ascii_word(w)
            for w in paper.title.split()
            if _ascii_word(w) and _ascii_word(w) not in STOPWORDS
        ),
        "",
    )
    year = str(paper.year or "")
    key = f"{surname}{year}{title_word}" if surname else f"{title_word}{year}"
    return key or f"paper{year}"


def references_bibtex(papers: Sequence[Paper]) -> str:
    """BibTeX entries for ``papers``: @misc for arXiv preprints, @article with a DOI."""
    entries: list[str] = []
    used: dict[str, int] = {}
    for paper in papers:
        key = _bibtex_key(paper)
        if key in used:
            used[key] += 1
            key = f"{key}{chr(ord('a') + used[key] - 2) if used[key] <= 27 else used[key]}"
        else:
            used[key] = 1
        kind = "article" if paper.doi and not paper.arxiv_id else "misc"
        fields = [("title", "{" + _bibtex_escape(paper.title) + "}")]
        if paper.authors:
            fields.append(("author", " and ".join(_bibtex_escape(a) for a in paper.authors)))
        if paper.year:
            fields.append(("year", str(paper.year)))
        if paper.arxiv_id:
            fields += [("eprint", paper.arxiv_id), ("archivePrefix", "arXiv")]
        if paper.doi:
            fields.append(("doi", _bibtex_escape(paper.doi)))
        url = paper_url(paper)
        if url:
            fields.append(("url", url.replace("{", "%7B").replace("}", "%7D")))
        fields.append(("note", f"papers id: {_bibtex_escape(paper.paper_id)}"))
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        entries.append(f"@{kind}{{{key},\n{body}\n}}")
    return "\n\n".join(entries) + ("\n" if entries else "")
