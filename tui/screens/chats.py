"""Saved chats: open, rename or delete one."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, ListItem, ListView, Static

from tui.safe import one_line

if TYPE_CHECKING:
    from tui.history import ChatHistory


class ChatItem(ListItem):
    def __init__(self, chat_id: int, title: str, updated: float, turns: int) -> None:
        self.chat_id = chat_id
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(updated))
        label = Text(one_line(title) or "(untitled)")
        label.append(f"  {turns} turn{'s' * (turns != 1)}, {when}", style="dim")
        super().__init__(Label(label))


class ChatsScreen(ModalScreen[int | None]):
    """Dismisses with the id of the chat to open, or None."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("r", "rename", "Rename"),
        Binding("d", "delete", "Delete"),
    ]

    def __init__(self, history: ChatHistory) -> None:
        super().__init__()
        self.history = history

    def compose(self) -> ComposeResult:
        with Vertical(id="chats-box"):
            yield Static(Text("Saved chats", style="bold"))
            yield ListView(id="chats-list")
            yield Input(placeholder="new title, then enter", id="rename")
            yield Static(Text("enter open · r rename · d delete · escape close", style="dim"))

    async def on_mount(self) -> None:
        self.query_one("#rename", Input).display = False
        await self._reload()

    async def _reload(self) -> None:
        lv = self.query_one("#chats-list", ListView)
        await lv.clear()
        await lv.extend(
            ChatItem(c.chat_id, c.title, c.updated, c.turns) for c in self.history.chats()
        )
        if lv.children:
            lv.index = 0
        lv.focus()

    def _current(self) -> ChatItem | None:
        item = self.query_one("#chats-list", ListView).highlighted_child
        return item if isinstance(item, ChatItem) else None

    @on(ListView.Selected, "#chats-list")
    def _open(self, event: ListView.Selected) -> None:
        if isinstance(event.item, ChatItem):
            self.dismiss(event.item.chat_id)

    def action_rename(self) -> None:
        item = self._current()
        if item is None:
            return
        box = self.query_one("#rename", Input)
        box.value = self.history.title(item.chat_id)
        box.display = True
        box.focus()

    @on(Input.Submitted, "#rename")
    async def _renamed(self, event: Input.Submitted) -> None:
        item = self._current()
        if item is not None and event.value.strip():
            self.history.rename(item.chat_id, event.value.strip())
        event.input.display = False
        await self._reload()

    async def action_delete(self) -> None:
        item = self._current()
        if item is not None:
            self.history.delete(item.chat_id)
            await self._reload()

    def action_close(self) -> None:
        box = self.query_one("#rename", Input)
        if box.display:
            box.display = False
            self.query_one("#chats-list", ListView).focus()
        else:
            self.dismiss(None)
