"""The turns of the chat log: a question, and an answer that streams into Markdown."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static

from tui.safe import plain

SEARCHING = "searching…"
WRITING = "writing…"


class QuestionView(Static):
    """The user's question (shown as plain text, never markup)."""

    def __init__(self, question: str) -> None:
        super().__init__(Text("> " + plain(question)), classes="question")


class AnswerView(Vertical):
    """An answer: Markdown that streams, then is replaced by the checked text."""

    def __init__(self, text: str = "", *, note: str = "") -> None:
        super().__init__(classes="answer")
        self._initial = plain(text)
        self._note = note
        self.answer = None  # the checked Answer once it is done (re-rendered by f3)

    def compose(self) -> ComposeResult:
        yield Markdown(self._initial, classes="answer-text")
        yield Static(Text(self._note), classes="answer-note")

    @property
    def markdown(self) -> Markdown:
        return self.query_one(Markdown)

    @property
    def note(self) -> str:
        """What the answer is doing ("searching…", "writing…") or where it came from."""
        return self._note

    @property
    def busy(self) -> bool:
        return self._note in (SEARCHING, WRITING)

    def set_note(self, note: str) -> None:
        self._note = note
        self.query_one(".answer-note", Static).update(Text(note))
