"""The settings screen: which model answers, and which papers it may cite."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from tui.choices import ChoiceError, Choices, parse_years, years_text
from tui.safe import one_line

BACKEND_HELP = {
    "auto": "auto (Ollama if a server answers, else embedded)",
    "embedded": "embedded (Gemma 3 270M, in-process)",
    "none": "none (extractive: quotes the abstracts)",
}


def backend_options(backends: Sequence[str]) -> list[tuple[str, str]]:
    return [(BACKEND_HELP.get(b, one_line(b)), b) for b in dict.fromkeys(backends)]


class SettingsScreen(ModalScreen[Choices | None]):
    """Dismisses with the new ``Choices``, or None when cancelled.

    ``probe`` (run in a thread) returns the backends to offer now and a note about Ollama,
    so models pulled since the app started show up.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        choices: Choices,
        *,
        backend: str,
        backends: Sequence[str],
        sources: Mapping[str, int],
        probe: Callable[[], tuple[list[str], str]] | None = None,
        focus: str = "#settings-backend",
    ) -> None:
        super().__init__()
        self.choices = choices
        self.backend = backend
        self.backends = list(dict.fromkeys([*backends, backend]))
        self.sources = dict(sources)
        self.probe = probe
        self.initial_focus = focus

    def compose(self) -> ComposeResult:
        source_options = [
            (f"{one_line(name)} ({n} paper{'s' * (n != 1)})", name)
            for name, n in self.sources.items()
        ]
        source = self.choices.source if self.choices.source in self.sources else Select.NULL
        with Vertical(id="settings-box"):
            yield Static(Text("Settings", style="bold"))
            yield Label("Model")
            yield Select(
                backend_options(self.backends),
                value=self.backend,
                allow_blank=False,
                id="settings-backend",
            )
            yield Static(Text("", style="dim"), id="settings-ollama")
            yield Label("Source page")
            yield Select(source_options, value=source, prompt="any source", id="settings-source")
            yield Label("Years")
            yield Input(
                years_text(self.choices.years),
                placeholder="any; 2023, 2020-2024, 2020- (since) or -2019 (until)",
                id="settings-years",
            )
            yield Checkbox(
                "Show unsupported sentences (marked ✗) instead of removing them",
                self.choices.show_unsupported,
                id="settings-unsupported",
            )
            yield Checkbox(
                "Answer even when no paper seems to (no relevance floor)",
                self.choices.no_floor,
                id="settings-no-floor",
            )
            yield Static("", id="settings-error")
            with Horizontal(id="settings-buttons"):
                yield Button("Apply", id="settings-apply", variant="primary")
                yield Button("Clear filters", id="settings-clear")
                yield Button("Cancel", id="settings-cancel")
            yield Static(Text("tab to move · enter in Years applies · escape cancels", style="dim"))

    def on_mount(self) -> None:
        self.query_one(self.initial_focus).focus()
        if self.probe is not None:
            self._probe()

    @work(thread=True, exclusive=True)
    def _probe(self) -> tuple[list[str], str]:
        assert self.probe is not None
        return self.probe()

    @on(Worker.StateChanged)
    def _probed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.SUCCESS or event.worker.result is None:
            return
        backends, note = event.worker.result
        select = self.query_one("#settings-backend", Select)
        current = select.value
        self.backends = list(dict.fromkeys([*backends, self.backend]))
        select.set_options(backend_options(self.backends))
        select.value = current if current in self.backends else self.backend
        self.query_one("#settings-ollama", Static).update(Text(note, style="dim"))

    def _read(self) -> Choices:
        """The choices as the form stands; raises ``ChoiceError`` for input it cannot use."""
        backend = self.query_one("#settings-backend", Select).value
        source = self.query_one("#settings-source", Select).value
        years = parse_years(self.query_one("#settings-years", Input).value)
        return self.choices.with_(
            llm=str(backend) if isinstance(backend, str) else self.choices.llm,
            source=source if isinstance(source, str) else None,
            years=years,
            show_unsupported=self.query_one("#settings-unsupported", Checkbox).value,
            no_floor=self.query_one("#settings-no-floor", Checkbox).value,
        )

    @on(Button.Pressed, "#settings-apply")
    @on(Input.Submitted, "#settings-years")
    def action_apply(self) -> None:
        try:
            choices = self._read()
        except ChoiceError as exc:
            self.query_one("#settings-error", Static).update(Text(str(exc), style="red"))
            self.app.notify(str(exc), severity="warning")
            self.query_one("#settings-years", Input).focus()
            return
        self.dismiss(choices)

    @on(Button.Pressed, "#settings-clear")
    def _clear(self) -> None:
        self.query_one("#settings-source", Select).clear()
        self.query_one("#settings-years", Input).value = ""
        self.query_one("#settings-error", Static).update("")

    @on(Button.Pressed, "#settings-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
