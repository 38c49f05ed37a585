"""Switching the model and filtering the papers, from the settings screen and the palette."""

from __future__ import annotations

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Input, Select, Static

from rag.filters import Filters
from rag.types import Paper
from tests.tui.conftest import EVIL_TITLE, HOSTILE_SOURCE, SEED_SOURCE, script
from tests.tui.test_app import AWQ_QUESTION, SIZE, ask, make_app, source_titles, until
from tui.app import PapersApp
from tui.choices import ChoiceError, Choices, parse_years, years_text
from tui.screens import SettingsScreen

pytestmark = pytest.mark.timeout(300)

HOSTILE_QUESTION = "Which paper studies hostile markup injection in terminal user interfaces?"


# --- parsing, no app ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "years"),
    [("2023", (2023, 2023)), (" 2020-2024 ", (2020, 2024)), ("2020 – 2021", (2020, 2021)),
     ("2019..2020", (2019, 2020)), ("2023-", (2023, None)), ("-2019", (None, 2019)),
     ("", None), (None, None)],
)  # fmt: skip
def test_parse_years(text, years):
    assert parse_years(text) == years


@pytest.mark.parametrize("text", ["abc", "20", "2024-2020", "-", "2023 2024"])
def test_parse_years_refuses_with_a_readable_message(text):
    with pytest.raises(ChoiceError) as exc:
        parse_years(text)
    assert "2020-2024" in str(exc.value) or "backwards" in str(exc.value)


def test_choices_make_rag_filters_with_a_year_range_and_a_source():
    p = Paper("p", "T", "A.", year=2022, sources=("seed-003.jsonl",))
    assert Choices(years=(2020, 2023)).filters.accepts(p)
    assert not Choices(years=(2023, 2024)).filters.accepts(p)
    assert not Choices(years=(2020, 2023)).filters.accepts(Paper("q", "T", "A."))
    assert Choices(years=(2022, None)).filters.accepts(p)
    assert not Choices(years=(None, 2021)).filters.accepts(p)
    assert Choices(source="seed-003.jsonl", years=(2022, 2022)).filters.accepts(p)
    assert not Choices(source="hostile.jsonl").filters.accepts(p)
    assert Choices().filters is None
    assert Choices(years=(2020, 2024)).filters_label() == "year 2020–2024"
    assert Choices(years=(2020, None)).filters_label() == "year 2020 on"


@pytest.mark.parametrize("years", [(2023, 2023), (2020, 2024), (2020, None), (None, 2019), None])
def test_the_years_box_reads_back_what_it_shows(years):
    assert parse_years(years_text(years)) == years


# --- through the app ---------------------------------------------------------------------


def status(app) -> str:
    return str(app.query_one("#status", Static).render())


async def open_settings(pilot, app) -> SettingsScreen:
    await app.ready.wait()
    await pilot.press("f2")
    await until(lambda: isinstance(app.screen, SettingsScreen))
    await pilot.pause()
    return app.screen


async def apply_settings(pilot, app) -> None:
    await pilot.click("#settings-apply")
    await until(lambda: not isinstance(app.screen, SettingsScreen))
    await pilot.pause()


async def palette(pilot, app, query: str) -> list[str]:
    """Open the command palette, type ``query``; the prompts it lists."""
    await app.ready.wait()
    await pilot.press("ctrl+p")
    await until(lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*query)
    results = app.screen.query_one(CommandList)
    await until(lambda: results.option_count > 0)
    await pilot.pause(0.3)  # providers answer in their own time
    options = (results.get_option_at_index(i) for i in range(results.option_count))
    return [str(o.prompt).split("\n")[0] for o in options]


async def test_settings_switches_the_backend_of_the_next_answer(library, tmp_path):
    script(library, "AWQ protects only 1% of salient weights to reduce quantization error [1].")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, AWQ_QUESTION)
        assert app.conversation.turns[-1][1].backend == "scripted"

        screen = await open_settings(pilot, app)
        select = screen.query_one("#settings-backend", Select)
        assert select.value == "scripted"
        offered = [str(label) for label, _ in screen.query_one(Select)._options]
        assert any(o.startswith("none") for o in offered)
        assert any(o.startswith("embedded") for o in offered)
        select.value = "none"
        await apply_settings(pilot, app)
        await until(lambda: "extractive" in status(app))

        await ask(pilot, app, AWQ_QUESTION)
        answer = app.conversation.turns[-1][1]
        assert (answer.backend, answer.model) == ("extractive", "extractive")
        assert "[1]" in answer.text


async def test_source_filter_restricts_the_sources(library, tmp_path):
    script(library, "See [1].", "See [1].")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, HOSTILE_QUESTION)
        assert len(source_titles(app)) > 1

        screen = await open_settings(pilot, app)
        sources = screen.query_one("#settings-source", Select)
        assert {v for _, v in sources._options if isinstance(v, str)} == {
            SEED_SOURCE,
            HOSTILE_SOURCE,
        }
        sources.value = HOSTILE_SOURCE
        await apply_settings(pilot, app)
        assert f"only source {HOSTILE_SOURCE}" in status(app)

        await ask(pilot, app, HOSTILE_QUESTION)
        assert list(source_titles(app).values()) == [EVIL_TITLE]
        assert app.conversation.turns[-1][1].sources[0].paper.sources == (HOSTILE_SOURCE,)


async def test_year_filter_from_the_palette(library, tmp_path):
    script(library, "See [1].")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        prompts = await palette(pilot, app, "year 2020-2023")
        assert prompts[0] == "Filter: year 2020-2023"
        await pilot.press("enter")
        await until(lambda: "only year 2020–2023" in status(app))
        await ask(pilot, app, HOSTILE_QUESTION)
        assert EVIL_TITLE not in source_titles(app).values()  # the hostile paper is from 2024


async def test_invalid_year_is_a_notice_not_a_crash(library, tmp_path):
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(pilot, app)
        screen.query_one("#settings-years", Input).value = "abc"
        await pilot.click("#settings-apply")
        await until(lambda: any("not a year" in n.message for n in app._notifications))
        assert isinstance(app.screen, SettingsScreen) and app.is_running
        assert "not a year" in str(screen.query_one("#settings-error", Static).render())
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, SettingsScreen))
        assert app.choices.years is None

        app._notifications.clear()
        await palette(pilot, app, "year abc")
        await pilot.press("enter")
        await until(lambda: any("not a year" in n.message for n in app._notifications))
        assert app.is_running and "only" not in status(app)


async def test_palette_offers_the_commands(library, tmp_path):
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        prompts = await palette(pilot, app, "model")
        for spec in ("auto", "embedded", "none", "scripted"):
            assert f"Model: {spec}" in prompts
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, CommandPalette))

        prompts = await palette(pilot, app, "filter")
        assert f"Filter: source {HOSTILE_SOURCE}" in prompts
        assert "Filter: clear" in prompts
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, CommandPalette))

        prompts = await palette(pilot, app, "model none")
        assert prompts[0] == "Model: none"
        await pilot.press("enter")
        await until(lambda: "extractive" in status(app))
        assert app.choices.llm == "none"

        prompts = await palette(pilot, app, "settings")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, SettingsScreen))


async def test_palette_year_command_opens_settings_at_the_years(library, tmp_path):
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        prompts = await palette(pilot, app, "filter: year")
        assert prompts[0] == "Filter: year…"
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, SettingsScreen))
        years = app.screen.query_one("#settings-years", Input)
        await until(lambda: app.focused is years)
        await pilot.press(*"2024", "enter")
        await until(lambda: "only year 2024" in status(app))
        assert app.choices.filters == Filters(year=2024)


async def test_model_and_filters_are_kept_for_the_next_run(library, tmp_path):
    history = tmp_path / "chats.sqlite"
    first = PapersApp(library=library, history_path=history, seeds=None)
    async with first.run_test(size=SIZE) as pilot:
        await first.ready.wait()
        first.set_backend("none")
        first.set_source(HOSTILE_SOURCE)
        first.set_years_text("2021-")
        await until(lambda: "only source" in status(first))
        await pilot.pause()

    again = PapersApp(library=library, history_path=history, seeds=None)
    async with again.run_test(size=SIZE) as pilot:
        await again.ready.wait()
        await until(lambda: "extractive" in status(again))
        assert again.choices == Choices(llm="none", source=HOSTILE_SOURCE, years=(2021, None))
        assert f"only source {HOSTILE_SOURCE}, year 2021 on" in status(again)
        screen = await open_settings(pilot, again)
        assert screen.query_one("#settings-years", Input).value == "2021-"
        await apply_settings(pilot, again)  # applying the form as shown changes nothing
        assert again.choices == Choices(llm="none", source=HOSTILE_SOURCE, years=(2021, None))

    # --llm on the command line wins over the saved model; the saved filters still apply
    given = PapersApp(library=library, history_path=history, seeds=None, llm="scripted")
    async with given.run_test(size=SIZE) as pilot:
        await given.ready.wait()
        await until(lambda: given.choices.source == HOSTILE_SOURCE)
        assert given.choices.llm == "scripted"
        given.clear_filters()
        await pilot.pause()

    last = PapersApp(library=library, history_path=history, seeds=None)
    async with last.run_test(size=SIZE) as pilot:
        await last.ready.wait()
        await pilot.pause()
        assert last.choices == Choices(llm="none")  # the --llm run did not overwrite it


async def test_a_saved_source_that_is_gone_is_dropped(library, tmp_path):
    from tui.history import ChatHistory

    history = tmp_path / "chats.sqlite"
    h = ChatHistory(history)
    h.set_pref("choices", {"llm": None, "source": "removed.jsonl", "years": [2020, 2020]})
    h.close()
    app = PapersApp(library=library, history_path=history, seeds=None)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await until(lambda: app.choices.years == (2020, 2020))
        await pilot.pause()
        assert app.choices.source is None
        assert "removed.jsonl" not in status(app)
