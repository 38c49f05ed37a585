"""A paper as cited: its title, id, link, whole abstract with the evidence highlighted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.safe import one_line, plain

if TYPE_CHECKING:
    from rag import Citation, Hit


def abstract_text(abstract: str, evidence: str) -> Text:
    """The abstract with the evidence sentence styled in place (not via markup)."""
    text = Text(plain(abstract))
    needle = " ".join(plain(evidence).split())
    if needle:
        start = text.plain.find(needle)
        if start >= 0:
            text.stylize("bold reverse", start, start + len(needle))
    return text


class PaperScreen(ModalScreen[None]):
    """Shows one source of an answer; Escape closes."""

    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("q", "dismiss", "Close", show=False)]

    def __init__(self, n: int, hit: Hit, citation: Citation | None = None) -> None:
        super().__init__()
        self.n, self.hit, self.citation = n, hit, citation

    def compose(self) -> ComposeResult:
        paper = self.hit.paper
        url = (self.citation.url if self.citation else None) or paper.url
        if not url and paper.arxiv_id:
            url = f"https://arxiv.org/abs/{paper.arxiv_id}"
        meta = Text(f"id: {one_line(paper.paper_id)}")
        if url:
            meta.append(f"\nurl: {one_line(url)}")
        meta.append(f"\nretrieval score: {self.hit.score:.4f}")
        if self.citation is not None:
            verdict = (
                "supports the answer; cited by the citation check, not the model"
                if self.citation.attributed
                else "supports the answer"
            )
            meta.append(f"\nevidence score: {self.citation.score:.3f} ({verdict})")
        evidence = self.citation.evidence if self.citation else ""
        with VerticalScroll(id="paper-box"):
            yield Static(
                Text(f"[{self.n}] ", style="bold").append(one_line(paper.title)), id="paper-title"
            )
            yield Static(meta, id="paper-meta")
            yield Static(abstract_text(paper.abstract, evidence), id="paper-abstract")
            yield Static(Text("Escape to close", style="dim"))

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)
