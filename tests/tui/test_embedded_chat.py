"""The chat app end to end with the real embedded model (Gemma 3 270M) on the seed corpus."""

from __future__ import annotations

import asyncio
import re

import pytest
from textual.widgets import Input

from tests.tui.test_app import SIZE, until
from tui.app import PapersApp
from tui.widgets import AnswerView, SourceItem
from tui.widgets.messages import WRITING

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


async def test_embedded_answer_streams_with_sources_and_checked_citations(
    seed_store, open_library, tmp_path
):
    lib = open_library(seed_store)
    app = PapersApp(
        library=lib,
        llm="embedded",
        seeds=None,
        history_path=tmp_path / "chats.sqlite",
        export_dir=tmp_path,
    )
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        app.query_one("#question", Input).value = "What does AWQ protect when it quantizes weights?"
        await pilot.press("enter")
        await until(lambda: len(app.query(AnswerView)) == 1)
        view = app.query_one(AnswerView)

        streamed = False  # some model text shows while the answer is still being written
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 600
        while view.busy:
            assert loop.time() < deadline, "the embedded answer took over 10 minutes"
            if view.note == WRITING and view.markdown.source.strip():
                streamed = True
            await asyncio.sleep(0.02)
        await pilot.pause()

        answer = app.conversation.turns[-1][1]
        assert (answer.backend, view.note.split(":")[0]) == ("embedded", "embedded")
        assert streamed
        listed = {item.n: item.hit.paper.title for item in app.query(SourceItem)}
        assert listed, "sources appear"
        assert any("AWQ" in title for title in listed.values())
        assert answer.text.strip() and not answer.declined
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
        assert cited <= set(listed), f"{answer.text!r} cites beyond {sorted(listed)}"
        assert {c.n for c in answer.citations} <= set(listed)
        assert app.is_running
