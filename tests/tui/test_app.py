"""The chat app driven through Textual's pilot against a small real library."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Input, ListView, Static

from rag.errors import BackendUnavailable
from tests.tui.conftest import EVIL_TITLE, script
from tui.app import PapersApp
from tui.screens import ChatsScreen, PaperScreen
from tui.widgets import AnswerView, QuestionView, SourceItem, SourcesPanel

# Generous: the first test also builds the shared store, and CI cores are shared.
pytestmark = pytest.mark.timeout(300)

AWQ_QUESTION = "How does activation-aware weight quantization protect salient weights?"
SIZE = (120, 40)


def make_app(library, tmp_path: Path, **kwargs) -> PapersApp:
    kwargs.setdefault("history_path", tmp_path / "chats.sqlite")
    kwargs.setdefault("export_dir", tmp_path / "export")
    return PapersApp(library=library, llm="scripted", seeds=None, **kwargs)


async def until(condition, timeout: float = 90.0) -> None:
    """Wait for ``condition()`` (polling: worker timing is not ours to assume)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def ask(pilot, app: PapersApp, question: str) -> None:
    await app.ready.wait()
    before = len(app.query(AnswerView))
    app.query_one("#question", Input).value = question
    await pilot.press("enter")
    await until(
        lambda: len(app.query(AnswerView)) > before and not app.query(AnswerView).last().busy
    )
    await pilot.pause()


def chats_listed(app: PapersApp) -> bool:
    """The chats screen is up, lists something and has the list focused."""
    screen = app.screen
    if not isinstance(screen, ChatsScreen):
        return False
    lv = screen.query_one("#chats-list", ListView)
    return bool(lv.children) and lv.index is not None and app.focused is lv


def source_titles(app: PapersApp) -> dict[int, str]:
    return {item.n: item.hit.paper.title for item in app.query(SourceItem)}


def label_text(item: SourceItem) -> str:
    return str(item.query_one(Static).render())


async def test_ask_streams_sources_then_answer(library, tmp_path):
    script(library, "AWQ protects only 1% of salient weights to reduce quantization error [1].")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, AWQ_QUESTION)
        titles = source_titles(app)
        assert titles[1].startswith("AWQ")
        answer = app.query_one(AnswerView)
        assert "[1]" in answer.markdown.source
        assert "AWQ" in answer.markdown.source
        assert app.conversation.turns and app.conversation.turns[0][0] == AWQ_QUESTION
        status = str(app.query_one("#status", Static).render())
        assert "scripted:scripted" in status and "10 papers" in status and "total" in status
        assert app.focused is app.query_one("#question", Input)


async def test_escape_cancels_a_running_answer(library, tmp_path):
    script(library, " ".join(["word"] * 200) + " [1].", delay_s=0.05)
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        app.query_one("#question", Input).value = AWQ_QUESTION
        await pilot.press("enter")
        for _ in range(400):  # until the answer has begun streaming
            await asyncio.sleep(0.02)
            if "word" in app.query_one(AnswerView).markdown.source:
                break
        await pilot.press("escape")
        await until(lambda: app.query_one(AnswerView).note == "(cancelled)")
        await pilot.pause()
        assert str(app.query_one(".answer-note", Static).render()) == "(cancelled)"
        assert app.conversation.turns == []
        assert app.is_running


async def test_open_a_source_shows_its_abstract(library, tmp_path):
    script(library, "AWQ protects only 1% of salient weights to reduce quantization error [1].")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, AWQ_QUESTION)
        panel = app.query_one(SourcesPanel)
        panel.focus()
        panel.index = 0
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, PaperScreen))
        screen = app.screen
        assert isinstance(screen, PaperScreen)
        hit = screen.hit
        abstract = screen.query_one("#paper-abstract", Static).render()
        assert hit.paper.abstract[:60] in str(abstract)
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, PaperScreen))


async def test_click_a_source_opens_it(library, tmp_path):
    script(library, "AWQ protects only 1% of salient weights to reduce quantization error [1].")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, AWQ_QUESTION)
        first = app.query(SourceItem).first()
        await pilot.click(first)
        await until(lambda: isinstance(app.screen, PaperScreen))


async def test_follow_up_keeps_citation_numbers(library, tmp_path):
    script(
        library,
        "AWQ protects only 1% of salient weights to reduce quantization error [1].",
        "PB-LLM binarizes only part of the weights [2].",
    )
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, AWQ_QUESTION)
        first = {t: n for n, t in source_titles(app).items()}
        await ask(pilot, app, "Which papers partially binarize large language model weights?")
        second = {t: n for n, t in source_titles(app).items()}
        shared = set(first) & set(second)
        assert shared, "the two questions should share some sources"
        assert all(first[t] == second[t] for t in shared)
        assert len(app.conversation.turns) == 2
        assert len(app.query(QuestionView)) == 2


async def test_chats_persist_across_app_instances(library, tmp_path):
    script(library, "AWQ protects only 1% of salient weights to reduce quantization error [1].")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, AWQ_QUESTION)
        numbers = dict(app.conversation.numbers)
        answer_text = app.conversation.turns[0][1].text

    script(library)
    again = make_app(library, tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await again.ready.wait()
        await pilot.press("ctrl+o")
        await until(lambda: chats_listed(again))
        await pilot.press("enter")
        await until(lambda: len(again.query(QuestionView)) == 1 and again.conversation.turns)
        await pilot.pause()
        assert again.conversation.numbers == numbers
        assert again.conversation.turns[0][1].text == answer_text
        assert [str(q.render()) for q in again.query(QuestionView)] == [f"> {AWQ_QUESTION}"]
        assert source_titles(again)


async def test_chats_rename_and_delete(library, tmp_path):
    script(library, "AWQ protects only 1% of salient weights to reduce quantization error [1].")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, AWQ_QUESTION)
        await pilot.press("ctrl+o")
        await until(lambda: chats_listed(app))
        await pilot.press("r")
        await until(lambda: app.focused is app.screen.query_one("#rename", Input))
        app.screen.query_one("#rename", Input).value = "quantization notes"
        await pilot.press("enter")
        await until(lambda: [c.title for c in app.history.chats()] == ["quantization notes"])
        await until(lambda: chats_listed(app))
        await pilot.press("d")
        await until(lambda: app.history.chats() == [])


async def test_export_writes_markdown_and_bibtex(library, tmp_path):
    script(library, "AWQ protects only 1% of salient weights to reduce quantization error [1].")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, AWQ_QUESTION)
        await pilot.press("ctrl+e")
        await until(lambda: len(list((tmp_path / "export").glob("*.bib"))) == 1)
        await pilot.pause()
        md = list((tmp_path / "export").glob("*.md"))
        bib = list((tmp_path / "export").glob("*.bib"))
        assert len(md) == 1 and len(bib) == 1
        assert AWQ_QUESTION in md[0].read_text()
        assert "[1]" in md[0].read_text()
        assert "AWQ" in bib[0].read_text() and bib[0].read_text().startswith("@")
        assert any(str(md[0]) in n.message for n in app._notifications)


async def test_backend_error_is_a_notice_not_a_crash(library, tmp_path, monkeypatch):
    def broken(llm=None):
        raise BackendUnavailable(
            "Ollama is not running at localhost:11434; start it with `ollama serve`"
        )

    monkeypatch.setattr(library, "chat_model", broken)
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, AWQ_QUESTION)
        await until(lambda: any("ollama serve" in n.message for n in app._notifications))
        assert app.is_running
        app.query_one("#question", Input).value = "still typing"
        await pilot.pause()
        assert app.query_one("#question", Input).value == "still typing"


async def test_hostile_markup_is_shown_literally(library, tmp_path):
    reply = "Evil [bold]x[/] [link=http://e.vil]y[/link] [/] \x1b[31mred\x1b[0m [1]."
    script(library, reply)
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(
            pilot, app, "Which paper studies hostile markup injection in terminal user interfaces?"
        )
        evil = [item for item in app.query(SourceItem) if item.hit.paper.title == EVIL_TITLE]
        assert evil, "the hostile paper should be among the sources"
        label = label_text(evil[0])
        assert "[bold]x[/] [link=http://e.vil]y[/link] [/]" in label
        assert "\x1b" not in label
        source = app.query_one(AnswerView).markdown.source
        assert "\x1b" not in source
        screen_text = app.export_screenshot()
        assert "\x1b[31m" not in screen_text

        panel = app.query_one(SourcesPanel)
        panel.focus()
        panel.index = evil[0].parent.children.index(evil[0]) if evil[0].parent else 0
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, PaperScreen))
        title = str(app.screen.query_one("#paper-title", Static).render())
        abstract = str(app.screen.query_one("#paper-abstract", Static).render())
        assert "[bold]x[/] [link=http://e.vil]y[/link] [/]" in title
        assert "[bold]x[/]" in abstract
        assert "\x1b" not in title + abstract and "\x07" not in abstract


async def test_start_is_interactive_at_once(library, tmp_path):
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.focused is app.query_one("#question", Input)
        assert app.interactive_ms is not None
        await app.ready.wait()
        await pilot.pause()
        print(f"interactive after {app.interactive_ms:.0f} ms, ready after {app.ready_ms:.0f} ms")
        assert "10 papers" in str(app.query_one("#status", Static).render())


async def test_empty_library_offers_the_seeds(shared_library, tmp_path):
    import json

    from rag.library import Library
    from tui.screens import IngestScreen

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    rows = [
        {
            "title": "Sparse attention for long documents",
            "abstract": "We make attention sparse. It scales.",
        },
        {
            "title": "Quantized adapters",
            "abstract": "We quantize adapters to four bits. They still work.",
        },
    ]
    (seeds / "two.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    empty = Library.open(tmp_path / "empty-store")
    empty.storage.__dict__["embedder"] = shared_library.storage.embedder  # no second model load
    app = PapersApp(library=empty, llm="none", seeds=seeds, history_path=tmp_path / "c.sqlite")
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: isinstance(app.screen, IngestScreen))
        await pilot.pause()
        await pilot.click("#ingest-go")
        await until(lambda: not isinstance(app.screen, IngestScreen))
        await until(lambda: "2 papers" in str(app.query_one("#status", Static).render()))


async def test_help_and_new_chat(library, tmp_path):
    from tui.screens import HelpScreen

    script(library, "AWQ protects only 1% of salient weights to reduce quantization error [1].")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await until(lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, HelpScreen))
        await ask(pilot, app, AWQ_QUESTION)
        await pilot.press("ctrl+n")
        await until(lambda: not app.query(QuestionView) and not app.query(SourceItem))
        assert app.conversation.turns == [] and app.chat_id is None
        assert len(app.history.chats()) == 1


async def test_references_keep_their_numbers(library, tmp_path):
    script(
        library,
        "AWQ protects only 1% of salient weights to reduce quantization error [1]. "
        "PB-LLM binarizes only part of the weights of large language models [3].",
    )
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, AWQ_QUESTION)
        cited = {c.n for c in app.conversation.turns[0][1].citations}
        source = app.query_one(AnswerView).markdown.source
        for n in cited:  # a Markdown ordered list would renumber [3] as "2."
            assert f"- \\[{n}\\] " in source
        assert 3 in cited


INVENTED = "AWQ was first used to fold proteins on quantum computers [1]."
SUPPORTED = "AWQ protects only 1% of salient weights to reduce quantization error [1]."


async def test_an_unsupported_sentence_never_reaches_the_transcript_or_export(library, tmp_path):
    script(library, f"{INVENTED} {SUPPORTED}")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, AWQ_QUESTION)
        view = app.query_one(AnswerView)
        shown = view.markdown.source
        assert "proteins" not in shown and "salient weights" in shown
        assert "✓" in shown  # each sentence carries its check mark
        # f3: each sentence's supporting abstract sentence, quoted under it.
        await pilot.press("f3")
        await until(lambda: "> " in app.query_one(AnswerView).markdown.source)
        with_evidence = app.query_one(AnswerView).markdown.source
        assert "proteins" not in with_evidence and "observation that weights" in with_evidence
        await pilot.press("ctrl+e")
        await until(lambda: len(list((tmp_path / "export").glob("*.md"))) == 1)
        exported = next((tmp_path / "export").glob("*.md")).read_text()
        assert "proteins" not in exported and "salient weights" in exported
        answer = app.conversation.turns[0][1]
        assert [s.status for s in answer.sentences if "proteins" in s.text] == ["unsupported"]


async def test_the_unsupported_setting_shows_them_marked(library, tmp_path):
    script(library, f"{INVENTED} {SUPPORTED}")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.choices = app.choices.with_(show_unsupported=True)
        await ask(pilot, app, AWQ_QUESTION)
        shown = app.query_one(AnswerView).markdown.source
        assert "proteins" in shown and "✗ unsupported" in shown
