"""The sources panel: the papers the current answer may cite, as "[n] title"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import Label, ListItem, ListView

from tui.safe import one_line

if TYPE_CHECKING:  # rag loads in the background, after the first screen
    from rag import Citation, Hit


class SourceItem(ListItem):
    """One source; its label is a ``Text``, so a title is never read as markup."""

    def __init__(self, n: int, hit: Hit, citation: Citation | None = None) -> None:
        self.n = n
        self.hit = hit
        self.citation = citation
        super().__init__(Label(self._label(), classes="source-label"))

    def _label(self) -> Text:
        label = Text(f"[{self.n}] ", style="bold")
        # Every citation an answer keeps passed the evidence check (``attributed`` only says
        # the checker added it). The mark goes first: the narrow panel cuts long titles.
        if self.citation is not None:
            label.append("✓ ", style="green")
        label.append(one_line(self.hit.paper.title))
        return label

    def set_citation(self, citation: Citation | None) -> None:
        self.citation = citation
        self.query_one(Label).update(self._label())


class SourcesPanel(ListView):
    """Lists the sources of the latest answer; Enter or a click opens one."""

    @dataclass
    class Opened(Message):
        """A source was chosen."""

        n: int
        hit: Hit
        citation: Citation | None

    async def show(self, hits: list[Hit], numbers: dict[str, int]) -> None:
        await self.clear()
        items = [SourceItem(numbers.get(h.paper.paper_id, i + 1), h) for i, h in enumerate(hits)]
        items.sort(key=lambda it: it.n)
        if items:
            await self.extend(items)
            self.index = 0

    def set_citations(self, citations: list[Citation]) -> None:
        by_id = {c.paper_id: c for c in citations}
        for item in self.query(SourceItem):
            item.set_citation(by_id.get(item.hit.paper.paper_id))

    @on(ListView.Selected)
    def _selected(self, event: ListView.Selected) -> None:
        event.stop()
        item = event.item
        if isinstance(item, SourceItem):
            self.post_message(self.Opened(item.n, item.hit, item.citation))
