"""The help screen: what each key does."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("enter", "ask the question in the input"),
    ("escape", "cancel the answer being written; close a dialog"),
    ("tab / shift+tab", "move between the input and the sources"),
    ("enter on a source", "open the paper with its evidence highlighted"),
    ("ctrl+n", "start a new chat"),
    ("ctrl+o", "saved chats: open (enter), rename (r), delete (d)"),
    ("ctrl+e", "export the chat as Markdown and its cited papers as BibTeX"),
    ("f2", "settings: the model, filters, unsupported sentences, the relevance floor"),
    ("f3", "show or hide the abstract sentence behind each sentence of the answers"),
    ("ctrl+p", "command palette: models, source filters, `year 2020-2024`"),
    ("f1 / ?", "this help"),
    ("ctrl+q", "quit"),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close"), Binding("q", "close", show=False)]

    def compose(self) -> ComposeResult:
        text = Text("Keys\n\n", style="bold")
        for key, what in KEYS:
            text.append(f"{key:>18}", style="bold cyan")
            text.append(f"  {what}\n")
        text.append(
            "\nAnswers cite papers as [n]; ✓ marks a source the answer cites, its supporting"
            " sentence highlighted when you open it. After each sentence of an answer: ✓ its"
            " citation's abstract supports it; ✓⁺ the check found its source and added the"
            " citation; ✗ no abstract supports it (shown only if the settings ask for it).",
            style="dim",
        )
        with VerticalScroll(id="help-box"):
            yield Static(text)

    def action_close(self) -> None:
        self.dismiss(None)
