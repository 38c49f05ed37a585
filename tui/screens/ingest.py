"""Offered when the library is empty: ingest the seed corpus, with a progress bar."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, ProgressBar, Static
from textual.worker import Worker, WorkerState


class IngestScreen(ModalScreen[bool]):
    """Dismisses with True once the seeds are in, False if skipped or failed."""

    BINDINGS = [Binding("escape", "skip", "Skip")]

    def __init__(self, library, seeds: Path) -> None:
        super().__init__()
        self.library = library
        self.seeds = seeds

    def compose(self) -> ComposeResult:
        with Vertical(id="ingest-box"):
            yield Static(Text("The library is empty.", style="bold"))
            yield Static(Text(f"Ingest the seed corpus at {self.seeds}?"))
            yield ProgressBar(id="ingest-progress", show_eta=False)
            with Horizontal(id="ingest-buttons"):
                yield Button("Ingest", id="ingest-go", variant="primary")
                yield Button("Skip", id="ingest-skip")

    @on(Button.Pressed, "#ingest-go")
    def _go(self) -> None:
        self.query_one("#ingest-go", Button).disabled = True
        self._ingest()

    @on(Button.Pressed, "#ingest-skip")
    def action_skip(self) -> None:
        self.workers.cancel_all()
        self.dismiss(False)

    def _progress(self, done: int, total: int) -> None:
        self.app.call_from_thread(self.query_one(ProgressBar).update, total=total, progress=done)

    @work(thread=True, exclusive=True)
    def _ingest(self) -> bool:
        from rag import PapersError

        try:
            self.library.ingest([self.seeds], progress=self._progress)
        except PapersError as exc:
            self.app.call_from_thread(self.app.notify, str(exc), severity="error")
            return False
        return True

    @on(Worker.StateChanged)
    def _ingest_done(self, event: Worker.StateChanged) -> None:
        # Dismissed only once the worker has finished: dismissing cancels a screen's workers.
        if event.state == WorkerState.SUCCESS:
            self.dismiss(bool(event.worker.result))
        elif event.state == WorkerState.ERROR:
            self.app.notify(f"ingest failed: {event.worker.error}", severity="error")
            self.dismiss(False)
