"""The chat app: ask the library, watch the answer stream, open the cited abstracts."""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Input, Markdown, Static
from textual.worker import Worker, WorkerState

from tui.choices import BASE_BACKENDS, ChoiceError, Choices, parse_years
from tui.commands import PapersCommands
from tui.history import ChatHistory
from tui.safe import plain
from tui.screens import ChatsScreen, HelpScreen, IngestScreen, PaperScreen, SettingsScreen
from tui.widgets import AnswerView, QuestionView, SourcesPanel
from tui.widgets.messages import SEARCHING, WRITING

if TYPE_CHECKING:
    from rag import Conversation

# rag (pydantic, numpy, chromadb...) is imported where used, in the loading thread, so the
# first screen is up and the input focused before the library's imports are done.

_DEFAULT_SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def _md_text(text: str) -> str:
    """Model text for the Markdown widget: no control codes, no raw HTML."""
    return re.sub(r"<", "&lt;", plain(text))


def references(answer) -> str:
    """The answer's references as a Markdown list that keeps their numbers.

    ``rag.references_markdown`` writes an ordered list ("1. ...", "4. ..."), which
    Markdown renumbers 1, 2: reference [4] would show as "2.".
    """
    from rag import references_markdown

    return re.sub(r"^(\d+)\. ", r"- \\[\1\\] ", references_markdown(answer), flags=re.M)


# The mark after each sentence of an answer: what the citation check found for it.
STATUS_MARKS = {
    "supported": "✓",  # the abstract it cites supports it
    "attributed": "✓⁺",  # uncited or miscited; the check found and added its source
    "unsupported": "✗ unsupported",  # no abstract supports it (shown only when asked)
}


def answer_markdown(answer, *, evidence: bool = False) -> str:
    """The answer for the chat: each sentence with its check mark, the evidence sentence
    under it when ``evidence`` is on (f3), then the note and the references.

    Saved answers from before sentences were kept show their text as it was.
    """
    from rag import UNSUPPORTED_MARK

    shown = [
        s for s in getattr(answer, "sentences", [])
        if s.status != "unsupported" or UNSUPPORTED_MARK in answer.text
    ]  # fmt: skip
    if not shown or answer.declined:
        body = _md_text(answer.text)
    else:
        lines = []
        for s in shown:
            text = s.text.removeprefix(UNSUPPORTED_MARK)
            line = f"{_md_text(text)} {STATUS_MARKS.get(s.status, '')}"
            if evidence and s.evidence:
                line += f"\n\n> {_md_text(s.evidence)}"
            lines.append(line)
        body = "\n\n".join(lines) if evidence else " ".join(lines)
    if getattr(answer, "note", ""):
        body = f"*{_md_text(answer.note)}*\n\n{body}"
    refs = references(answer)
    return body + ("\n\n" + _md_text(refs) if refs else "")


def format_timings(timings) -> str:
    """The status bar's timing figures for the latest answer."""
    first = "–" if timings.first_token_ms is None else f"{timings.first_token_ms:.0f}"
    return (
        f"sources {timings.retrieval_ms:.0f} ms, first text {first} ms, "
        f"total {timings.total_ms:.0f} ms"
    )


_CHOICES_PREF = "choices"  # the model and filters, kept between runs in the chats file


class PapersApp(App[int]):
    """Chat with a library of papers."""

    TITLE = "papers"
    SUB_TITLE = "chat with your library"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {PapersCommands}
    BINDINGS = [
        Binding("escape", "cancel_answer", "Cancel"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+o", "open_chats", "Chats"),
        Binding("ctrl+e", "export", "Export", priority=True),  # Input takes ctrl+e otherwise
        Binding("f2", "settings", "Settings"),
        Binding("f3", "toggle_evidence", "Evidence"),
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(
        self,
        *,
        store: str | Path | None = None,
        llm: str | None = None,
        library: Any = None,
        history_path: str | Path | None = None,
        export_dir: str | Path | None = None,
        seeds: str | Path | None = None,
    ) -> None:
        self.created_at = time.perf_counter()
        super().__init__()
        self.store = store
        self.choices = Choices(llm=llm)
        self._llm_given = llm is not None  # --llm wins over the model saved last time
        self.library = library
        self.history_path = Path(history_path) if history_path else None
        self.export_dir = Path(export_dir) if export_dir else Path.cwd()
        self.seeds = Path(seeds) if seeds else (_DEFAULT_SEEDS if _DEFAULT_SEEDS.is_dir() else None)
        self.history: ChatHistory | None = None
        self.conversation: Conversation | None = None  # made once rag is imported
        self.chat_id: int | None = None
        self.ready = asyncio.Event()
        self.interactive_ms: float | None = None
        self.ready_ms: float | None = None
        self._backend = "loading…"
        self._papers: int | None = None
        self.sources: dict[str, int] = {}
        self._ollama_models: list[str] = []
        self._timings = ""
        self._current: AnswerView | None = None
        self.show_evidence = False  # f3: each sentence's supporting abstract sentence

    # -- layout -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            yield VerticalScroll(id="log")
            yield SourcesPanel(id="sources")
        yield Input(placeholder="Ask the library a question (loading…)", id="question")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#sources", SourcesPanel).border_title = "Sources"
        self.query_one("#question", Input).focus()
        self._show_status()
        self.interactive_ms = (time.perf_counter() - self.created_at) * 1000
        self._load()

    # -- loading (never on the UI thread) ----------------------------------------------
    @work(thread=True, exclusive=True, group="load")
    def _load(self) -> None:
        from rag import Conversation, Library, PapersError

        if self.conversation is None:
            self.conversation = Conversation()
        try:
            lib = self.library or Library.open(self.store)
            self.library = lib
            if self.history is None:
                path = (
                    self.history_path
                    or Path(lib.settings.store).expanduser().parent / "chats.sqlite"
                )
                self.history = ChatHistory(path)
            papers = lib.paper_count()
            self.sources = lib.sources()
            saved = self.history.pref(_CHOICES_PREF)
            if isinstance(saved, dict):
                self.call_from_thread(self._restore_choices, saved)
            self.call_from_thread(self._set_papers, papers)
            if papers == 0 and self.seeds is not None:
                self.call_from_thread(self._offer_seeds)
            else:
                lib.warm()  # loads the embedder and BM25 now, not on the first question
        except PapersError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", timeout=10)
        except Exception as exc:  # a broken store must not kill the app
            self.call_from_thread(self.notify, f"cannot open the library: {exc}", severity="error")
        finally:
            self.call_from_thread(self._loaded)
        self._resolve_backend(self.choices.llm)
        self.probe_backends()

    def _resolve_backend(self, spec: str | None) -> None:
        """Show in the status bar which model ``spec`` means (in a worker thread)."""
        from rag import PapersError

        try:
            chat = self.library.chat_model(spec) if self.library is not None else None
            name = f"{chat.backend}:{chat.model}" if chat is not None else "extractive"
        except PapersError as exc:
            name = "no model"
            self.call_from_thread(self.notify, str(exc), severity="error", timeout=10)
        if spec == self.choices.llm:  # the user may have chosen again meanwhile
            self.call_from_thread(self._set_backend, name)

    @work(thread=True, exclusive=True, group="backend")
    def _resolve_backend_worker(self, spec: str | None) -> None:
        self._resolve_backend(spec)

    def probe_backends(self) -> tuple[list[str], str]:
        """The backends to offer (Ollama's chat models if a server answers) and a note."""
        from rag import LLMError, ollama_chat_models

        host = self.library.settings.ollama_host() if self.library is not None else None
        try:
            self._ollama_models = ollama_chat_models(host, timeout=1.0) if host else []
            note = (
                f"Ollama at {host}: {len(self._ollama_models)} chat model(s)"
                if self._ollama_models
                else f"Ollama at {host} has no chat model (`ollama pull llama3.2`)"
            )
        except LLMError:
            self._ollama_models = []
            note = f"Ollama is not running at {host} (`ollama serve` to use it)"
        except Exception as exc:  # a probe must never take the app down
            self._ollama_models = []
            note = f"could not ask Ollama at {host}: {exc}"
        return self.backends, note

    # -- choices: model and filters ----------------------------------------------------
    @property
    def llm(self) -> str | None:
        """The backend the next answer asks for (None: the library's default)."""
        return self.choices.llm

    @property
    def backend_spec(self) -> str:
        """The backend in use, as the user names it (``auto``, ``ollama:x``, ``none``...)."""
        if self.choices.llm:
            return self.choices.llm
        return self.library.settings.llm.backend if self.library is not None else "auto"

    @property
    def backends(self) -> list[str]:
        """Every backend worth offering now."""
        models = [f"ollama:{m}" for m in self._ollama_models]
        return list(dict.fromkeys([*BASE_BACKENDS, *models, self.backend_spec]))

    def set_choices(self, choices: Choices) -> None:
        """Use ``choices`` from the next answer on, say so in the status bar, keep them."""
        changed_backend = choices.llm != self.choices.llm
        self.choices = choices
        if changed_backend:
            self._backend = "…"
            self._resolve_backend_worker(choices.llm)
            self._llm_given = False  # chosen here now, so worth keeping
        self._show_status()
        if self.history is not None:
            saved = self.history.pref(_CHOICES_PREF) or {}
            self.history.set_pref(
                _CHOICES_PREF,
                {
                    "llm": saved.get("llm") if self._llm_given else choices.llm,
                    "source": choices.source,
                    "years": list(choices.years) if choices.years else None,
                    "show_unsupported": choices.show_unsupported,
                },
            )

    def _restore_choices(self, saved: dict) -> None:
        """Take up the model and filters of the last session (a source since removed is not)."""
        llm = self.choices.llm if self._llm_given else saved.get("llm") or self.choices.llm
        source = saved.get("source") if saved.get("source") in self.sources else None
        years = saved.get("years")
        ok = isinstance(years, list) and len(years) == 2 and any(years)
        years = tuple(years) if ok and all(y is None or isinstance(y, int) for y in years) else None
        self.choices = self.choices.with_(
            llm=llm,
            source=source,
            years=years,
            show_unsupported=saved.get("show_unsupported") is True,
        )
        label = self.choices.filters_label()
        if label:
            self.notify(f"filters from last time: {label} (f2 to change)", timeout=6)
        self._show_status()

    def set_backend(self, spec: str) -> None:
        self.set_choices(self.choices.with_(llm=spec))

    def set_source(self, name: str | None) -> None:
        self.set_choices(self.choices.with_(source=name))

    def set_years_text(self, text: str) -> None:
        """Filter by the years typed (``2023``, ``2020-2024``); a notice if they are no years."""
        try:
            years = parse_years(text)
        except ChoiceError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.set_choices(self.choices.with_(years=years))

    def clear_filters(self) -> None:
        self.set_choices(self.choices.with_(source=None, years=None))

    async def action_settings(self, focus: str = "#settings-backend") -> None:
        if isinstance(self.screen, SettingsScreen):
            return
        await self.ready.wait()

        def chosen(choices: Choices | None) -> None:
            if choices is not None:
                self.set_choices(choices)

        screen = SettingsScreen(
            self.choices,
            backend=self.backend_spec,
            backends=self.backends,
            sources=self.sources,
            probe=self.probe_backends if self.library is not None else None,
            focus=focus,
        )
        self.push_screen(screen, chosen)

    def _loaded(self) -> None:
        self.ready.set()
        self.ready_ms = (time.perf_counter() - self.created_at) * 1000
        self.query_one("#question", Input).placeholder = "Ask the library a question"

    def _offer_seeds(self) -> None:
        def done(ok: bool | None) -> None:
            if ok and self.library is not None:
                self._set_papers(self.library.paper_count())
                self.notify("Seed corpus ingested.")

        self.push_screen(IngestScreen(self.library, self.seeds), done)

    def _set_papers(self, n: int) -> None:
        self._papers = n
        self._show_status()

    def _set_backend(self, name: str) -> None:
        self._backend = name
        self._show_status()

    def _show_status(self) -> None:
        papers = "…" if self._papers is None else str(self._papers)
        line = Text(f" {plain(self._backend)} │ {papers} papers")
        filters = self.choices.filters_label()
        if filters:
            line.append(" │ ")
            line.append(f"only {plain(filters)}", style="bold")
        if self._timings:
            line.append(f" │ {self._timings}")
        self.query_one("#status", Static).update(line)

    # -- asking -----------------------------------------------------------------------
    @on(Input.Submitted, "#question")
    async def _submitted(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        event.input.clear()
        await self.ask(question)

    async def ask(self, question: str) -> None:
        """Start answering ``question`` (cancels an answer still running)."""
        log = self.query_one("#log", VerticalScroll)
        view = AnswerView(note=SEARCHING)
        await log.mount_all([QuestionView(question), view])
        log.scroll_end(animate=False)
        self._answer(question, view)

    @work(exclusive=True, group="answer")
    async def _answer(self, question: str, view: AnswerView) -> None:
        from rag import AnswerDone, PapersError, SourcesReady, TextDelta

        self._current = view
        stream = None
        try:
            await self.ready.wait()
            if self.library is None:
                view.set_note("(no library)")
                return
            sources = self.query_one("#sources", SourcesPanel)
            async for event in self.library.astream(
                question,
                conversation=self.conversation,
                llm=self.choices.llm,
                filters=self.choices.filters,
                show_unsupported=self.choices.show_unsupported,
                floor=False if self.choices.no_floor else None,
            ):
                if isinstance(event, SourcesReady):
                    await sources.show(event.hits, event.numbers)
                    view.set_note(WRITING)
                    stream = Markdown.get_stream(view.markdown)
                elif isinstance(event, TextDelta):
                    if stream is not None:
                        await stream.write(_md_text(event.text))
                elif isinstance(event, AnswerDone):
                    if stream is not None:
                        await stream.stop()
                        stream = None
                    await self._finish(view, event.answer)
        except asyncio.CancelledError:
            if stream is not None:
                await stream.stop()
            view.set_note("(cancelled)")
            raise
        except PapersError as exc:
            view.set_note(f"(failed: {plain(str(exc))})")
            self.notify(plain(str(exc)), severity="error", timeout=10)
        finally:
            self._current = None

    async def _finish(self, view: AnswerView, answer) -> None:
        view.answer = answer
        await view.markdown.update(answer_markdown(answer, evidence=self.show_evidence))
        self._timings = format_timings(answer.timings)
        view.set_note(
            f"{answer.backend}:{answer.model}" + (" · declined" if answer.declined else "")
        )
        self.query_one("#sources", SourcesPanel).set_citations(answer.citations)
        self._show_status()
        self._save_turn(answer)
        self.query_one("#log", VerticalScroll).scroll_end(animate=False)

    def _save_turn(self, answer) -> None:
        if self.history is None:
            return
        try:
            if self.chat_id is None:
                self.chat_id = self.history.new_chat(plain(answer.question)[:80])
            self.history.save_turn(
                self.chat_id, answer.question, answer.to_dict(), self.conversation.to_dict()
            )
        except Exception as exc:  # saving must never lose the answer on screen
            self.notify(f"could not save the chat: {exc}", severity="warning")

    def action_cancel_answer(self) -> None:
        for worker in self.workers:
            if worker.group == "answer" and worker.state in (
                WorkerState.PENDING,
                WorkerState.RUNNING,
            ):
                worker.cancel()

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "answer" and event.state == WorkerState.ERROR:
            self.notify(f"the answer failed: {event.worker.error}", severity="error")

    # -- sources ----------------------------------------------------------------------
    @on(SourcesPanel.Opened)
    def _open_source(self, event: SourcesPanel.Opened) -> None:
        self.push_screen(PaperScreen(event.n, event.hit, event.citation))

    # -- chats ------------------------------------------------------------------------
    async def action_new_chat(self) -> None:
        from rag import Conversation

        self.action_cancel_answer()
        self.conversation = Conversation()
        self.chat_id = None
        await self.query_one("#log", VerticalScroll).remove_children()
        await self.query_one("#sources", SourcesPanel).clear()
        self.query_one("#question", Input).focus()

    async def action_open_chats(self) -> None:
        await self.ready.wait()
        if self.history is None:
            self.notify("no chat history is open", severity="warning")
            return

        async def chosen(chat_id: int | None) -> None:
            if chat_id is not None:
                await self.open_chat(chat_id)

        self.push_screen(ChatsScreen(self.history), chosen)

    async def open_chat(self, chat_id: int) -> None:
        """Show a saved chat and continue it."""
        await self.action_new_chat()
        assert self.history is not None
        self.conversation = self.history.conversation(chat_id)
        self.chat_id = chat_id
        log = self.query_one("#log", VerticalScroll)
        last = None
        for question, answer in self.conversation.turns:
            view = AnswerView(answer_markdown(answer, evidence=self.show_evidence), note="(saved)")
            view.answer = answer
            await log.mount_all([QuestionView(question), view])
            last = answer
        if last is not None:
            sources = self.query_one("#sources", SourcesPanel)
            numbers = self.conversation.numbers
            await sources.show(last.sources, numbers)
            sources.set_citations(last.citations)
        log.scroll_end(animate=False)

    # -- export -----------------------------------------------------------------------
    def action_export(self) -> None:
        if self.conversation is None or not self.conversation.turns:
            self.notify("nothing to export yet", severity="warning")
            return
        try:
            md_path, bib_path = export_conversation(
                self.conversation, self.export_dir, self.chat_id, self.library
            )
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return
        self.notify(f"exported {md_path} and {bib_path}")

    async def action_toggle_evidence(self) -> None:
        """Show or hide, under each sentence, the abstract sentence that supports it."""
        self.show_evidence = not self.show_evidence
        for view in self.query(AnswerView):
            if view.answer is not None:
                await view.markdown.update(
                    answer_markdown(view.answer, evidence=self.show_evidence)
                )
        self.notify("evidence shown" if self.show_evidence else "evidence hidden", timeout=2)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())


def export_conversation(
    conversation: Conversation, folder: Path, chat_id: int | None, library: Any = None
) -> tuple[Path, Path]:
    """Write the conversation as Markdown and its cited papers as BibTeX; returns both paths."""
    from rag import references_bibtex

    folder.mkdir(parents=True, exist_ok=True)
    stem = f"papers-chat-{chat_id if chat_id is not None else time.strftime('%Y%m%d-%H%M%S')}"
    parts = [f"# {plain(conversation.turns[0][0])}\n"]
    cited: dict[str, Any] = {}
    for question, answer in conversation.turns:
        # Each sentence with its status mark and evidence: the export is for checking.
        parts.append(f"## {plain(question)}\n\n{answer_markdown(answer, evidence=True)}\n")
        papers = {h.paper.paper_id: h.paper for h in answer.sources}
        for c in answer.citations:
            if c.paper_id in papers:
                cited.setdefault(c.paper_id, papers[c.paper_id])
    if library is not None and cited:
        # A reopened chat keeps only titles and abstracts; the catalogue has the rest.
        try:
            full = library.papers(cited)
            cited = {pid: full.get(pid, p) for pid, p in cited.items()}
        except Exception:
            pass
    md_path = folder / f"{stem}.md"
    bib_path = folder / f"{stem}.bib"
    md_path.write_text("\n".join(parts), encoding="utf-8")
    bib_path.write_text(references_bibtex(list(cited.values())), encoding="utf-8")
    return md_path, bib_path


def run(
    store: str | None = None,
    llm: str | None = None,
    *,
    seeds: str | Path | None = None,
    history_path: str | Path | None = None,
) -> int:
    """Run the chat app until the user quits; returns the exit code."""
    app = PapersApp(store=store, llm=llm, seeds=seeds, history_path=history_path)
    result = app.run()
    return int(result or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="papers chat", description="Chat with your library of papers."
    )
    parser.add_argument(
        "--store", help="library folder (default: the user data dir; env PAPERS_STORE)"
    )
    parser.add_argument(
        "--llm", help="auto (default), ollama[:model], embedded, or none (extractive)"
    )
    parser.add_argument("--seeds", help="corpus offered for ingestion when the library is empty")
    parser.add_argument("--history", help="chats database (default: next to the store)")
    args = parser.parse_args(argv)
    return run(store=args.store, llm=args.llm, seeds=args.seeds, history_path=args.history)
