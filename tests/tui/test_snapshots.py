"""Snapshots of the main screens (pytest-textual-snapshot; `--snapshot-update` to accept).

Deterministic by construction: a fixed terminal, the ten-paper test library, the scripted
model, no timing figures in the status bar and no Ollama probe.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

import tui.app
from tests.tui.conftest import script
from tests.tui.test_app import AWQ_QUESTION, SIZE, ask, make_app, until
from tui.screens import HelpScreen, PaperScreen, SettingsScreen
from tui.widgets import SourcesPanel

pytestmark = pytest.mark.timeout(300)

AWQ_REPLY = (
    "AWQ protects the 1% of salient weights, found from activation magnitudes, "
    "by scaling them before quantization [1]. PB-LLM instead keeps salient weights "
    "in higher precision while binarizing the rest [3]."
)
PROBE_NOTE = "Ollama: not probed in snapshots"


@pytest.fixture
def snapshot_app(library, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(tui.app, "format_timings", lambda timings: "timings hidden")
    script(library, AWQ_REPLY)
    app = make_app(library, tmp_path)
    app.probe_backends = lambda: (app.backends, PROBE_NOTE)  # type: ignore[method-assign]
    return app


async def steady(pilot) -> None:
    """No blinking cursor: a snapshot taken mid-blink would differ from the next."""
    for box in pilot.app.query(Input):
        box.cursor_blink = False
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()


async def answered(pilot) -> None:
    await ask(pilot, pilot.app, AWQ_QUESTION)
    await steady(pilot)


def test_chat_after_an_answer(snap_compare, snapshot_app):
    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=answered)


def test_paper_modal(snap_compare, snapshot_app):
    async def open_paper(pilot) -> None:
        await answered(pilot)
        panel = pilot.app.query_one(SourcesPanel)
        panel.focus()
        panel.index = 0
        await pilot.press("enter")
        await until(lambda: isinstance(pilot.app.screen, PaperScreen))
        await steady(pilot)

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=open_paper)


def test_help_screen(snap_compare, snapshot_app):
    async def open_help(pilot) -> None:
        await pilot.app.ready.wait()
        await pilot.press("f1")
        await until(lambda: isinstance(pilot.app.screen, HelpScreen))
        await steady(pilot)

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=open_help)


def test_settings_screen(snap_compare, snapshot_app):
    async def open_settings(pilot) -> None:
        await pilot.app.ready.wait()
        await until(lambda: "scripted" in str(pilot.app.query_one("#status", Static).render()))
        await pilot.press("f2")
        await until(lambda: isinstance(pilot.app.screen, SettingsScreen))
        note = pilot.app.screen.query_one("#settings-ollama", Static)
        await until(lambda: PROBE_NOTE in str(note.render()))
        await steady(pilot)

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=open_settings)
