"""An answer's references for the reader: links, a Markdown list and BibTeX entries."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.citekeys import generate_citekey, unique_citekey
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
    """The answer's citations as a Markdown list: number, title, citekey, paper id and link.

    The citekey is written pandoc's way (``[@lin2024awq]``): what a researcher types to cite
    the paper from the ``--bibtex`` file.
    """
    papers = {h.paper.paper_id: h.paper for h in answer.sources}
    lines = []
    for c in sorted(answer.citations, key=lambda c: c.n):
        paper = papers.get(c.paper_id)
        url = c.url or (paper_url(paper) if paper else None)
        citekey = c.citekey or (paper.citekey if paper else None)
        line = f"{c.n}. {_md_escape(c.title)}"
        if citekey:
            line += f" [@{_md_escape(citekey)}]"
        line += f" (`{c.paper_id}`)"
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


# The head of an entry, "@article{key," (or with parentheses): where its key is.
_ENTRY_HEAD = re.compile(r"^(\s*@\s*[A-Za-z]+\s*[{(]\s*)([^,\s]*)(\s*,)")


def references_bibtex(papers: Sequence[Paper]) -> str:
    """BibTeX entries for ``papers``, each under the paper's citekey.

    A paper read from the user's reference manager is written as the user's own entry,
    every field as it was (only its key changes, when it clashed with another paper's);
    any other paper gets a generated entry: @misc for arXiv preprints, @article with a DOI.
    """
    entries: list[str] = []
    used: set[str] = set()
    for paper in papers:
        key = unique_citekey(paper.citekey or generate_citekey(paper), used)
        used.add(key.casefold())
        original = (paper.bibtex or "").strip()
        head = _ENTRY_HEAD.match(original)
        if head:
            entries.append(f"{head[1]}{key}{head[3]}{original[head.end() :]}")
        else:
            entries.append(_generated_entry(paper, key))
    return "\n\n".join(entries) + ("\n" if entries else "")


def _generated_entry(paper: Paper, key: str) -> str:
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
    return f"@{kind}{{{key},\n{body}\n}}"
