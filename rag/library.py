"""``Library``: the public face of papers. Open a store, ingest, search, ask.

A thin facade: the store's parts live in ``rag.storage``, the search pipeline in
``rag.retrieve``, the answer in ``rag.answer``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import PapersError
from rag.filters import Filters
from rag.retrieve import SearchMode, relevance_floor
from rag.retrieve import search as retrieve_search
from rag.settings import Settings
from rag.storage import Storage
from rag.types import Answer, Hit, Paper

if TYPE_CHECKING:
    from rag.answer import AnswerEvent
    from rag.conversation import Conversation
    from rag.doctor import HealthReport
    from rag.ingest import IngestReport
    from rag.llm.base import ChatModel
    from rag.sources import Problem, Record


class Library:
    """A library of papers on disk (or on a Chroma server).

    Example:
        >>> lib = Library.open("~/papers-store")            # doctest: +SKIP
        >>> lib.ingest(["../shared/seeds"])                 # doctest: +SKIP
        >>> hits = lib.search("weight quantization of LLMs", k=3)  # doctest: +SKIP
        >>> [h.paper.title for h in hits]                   # doctest: +SKIP
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage = Storage(settings)
        # Chat models by spec, each made once (tests put scripted ones here).
        self._chat_models: dict[str, ChatModel | None] = {}

    @classmethod
    def open(
        cls, store: str | Path | None = None, *, settings: Settings | None = None, **overrides: Any
    ) -> Library:
        """Open (or create) the library at ``store``; other settings as keyword overrides."""
        if settings is None:
            settings = Settings.load(store=store, **overrides)
        elif store is not None:
            settings = settings.model_copy(update={"store": Path(store)})
        return cls(settings)

    @property
    def store_dir(self) -> Path:
        """The folder the library keeps its catalogue, vectors and BM25 index in."""
        return self.storage.store_dir

    # -- what the library holds ---------------------------------------------------------
    def paper_count(self) -> int:
        """How many papers the library holds."""
        return self.storage.catalogue.counts()["papers"]

    def sources(self) -> dict[str, int]:
        """Each source (file or page name) the papers came from, with its number of papers."""
        return self.storage.catalogue.source_counts()

    def papers(self, paper_ids: Iterable[str]) -> dict[str, Paper]:
        """The papers with these ids, by id; ids the library does not hold are left out."""
        return self.storage.catalogue.get_papers(paper_ids)

    def stats(self) -> dict[str, Any]:
        """Counts, embedder, where the store is, its size, and the chunk-length distribution."""
        return self.storage.stats()

    # -- writing ----------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[str | Path] = (),
        *,
        fmt: str | None = None,
        rebuild: bool = False,
        progress: Callable[[int, int], None] | None = None,
        on_problem: Callable[[Problem], None] | None = None,
        records: Iterable[tuple[str, Record]] | None = None,
    ) -> IngestReport:
        """Add or update papers from files/folders and ``(where, Record)`` pairs (papers
        fetched from an API); returns an ``IngestReport``.

        ``rebuild=True`` forgets the store first, inside the writer lock (``ingest --rebuild``).
        """
        from rag.ingest import ingest

        return ingest(
            self.storage,
            paths,
            fmt=fmt,
            rebuild=rebuild,
            progress=progress,
            on_problem=on_problem,
            records=records,
        )

    def remove(
        self, *, source: str | None = None, paper_ids: list[str] | None = None
    ) -> list[Paper]:
        """Remove papers by id or by source; returns the papers removed."""
        from rag.ingest import remove

        return remove(self.storage, source=source, paper_ids=paper_ids)

    def rebuild(self) -> None:
        """Forget everything stored, under the writer lock (``StoreBusy`` while an ingest
        runs). ``ingest(paths, rebuild=True)`` rebuilds and ingests in one lock."""
        self.storage.rebuild()

    def check(self, *, repair: bool = False) -> HealthReport:
        """Compare the catalogue, the Chroma collection and the BM25 index (``papers doctor``);
        with ``repair``, fix every disagreement and check again. Holds the writer lock."""
        from rag.doctor import check

        return check(self.storage, repair=repair)

    def repair(self) -> HealthReport:
        """``check(repair=True)``: re-embed missing vectors, delete orphans, rebuild BM25."""
        return self.check(repair=True)

    def close(self) -> None:
        self.storage.close()

    # -- reading ----------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        filters: Mapping[str, Any] | Filters | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        """The ``k`` papers best matching ``query``; ``mode`` is hybrid, dense or bm25."""
        f = filters if isinstance(filters, Filters) else Filters.from_mapping(filters)
        return retrieve_search(
            self.storage, query, k=k, filters=f, mode=mode, settings=self.settings.retrieval
        )

    def warm(self) -> None:
        """Load the embedder and indexes now, so the first question is not the slow one."""
        self.storage.warm()

    # -- answering --------------------------------------------------------------
    def chat_model(self, llm: str | None = None) -> ChatModel | None:
        """The chat model for ``llm`` (auto, ollama[:model], embedded, none), made once."""
        spec = llm or self.settings.llm.backend
        if spec == "none":
            return None
        cache = self._chat_models
        if spec not in cache:
            from rag.llm import make_chat_model

            cache[spec] = make_chat_model(self.settings, spec)
        return cache[spec]

    async def astream(
        self,
        question: str,
        *,
        conversation: Conversation | None = None,
        llm: str | None = None,
        k: int | None = None,
        filters: Mapping[str, Any] | Filters | None = None,
    ) -> AsyncIterator[AnswerEvent]:
        """Answer ``question``: yields ``SourcesReady``, then ``TextDelta``s, then ``AnswerDone``.

        Example:
            >>> question = "Which papers quantize LLM weights?"
            >>> async for event in lib.astream(question):  # doctest: +SKIP
            ...     print(event)
        """
        import asyncio
        import time

        from rag.answer import astream_answer
        from rag.conversation import Conversation, acondense_question

        conversation = conversation if conversation is not None else Conversation()
        chat = await asyncio.to_thread(self.chat_model, llm)
        await asyncio.to_thread(self.warm)
        standalone = await acondense_question(question, conversation, chat)
        t0 = time.perf_counter()
        hits = await asyncio.to_thread(self.search, standalone, k=k, filters=filters)
        hits = relevance_floor(hits, min_dense_score=self.settings.retrieval.min_dense_score)
        retrieval_ms = (time.perf_counter() - t0) * 1000
        async for event in astream_answer(
            question,
            hits,
            conversation=conversation,
            chat=chat,
            embedder=self.storage.embedder,
            settings=self.settings,
            retrieval_ms=retrieval_ms,
            standalone_question=standalone,
        ):
            yield event

    async def aask(
        self,
        question: str,
        *,
        conversation: Conversation | None = None,
        llm: str | None = None,
        k: int | None = None,
        filters: Mapping[str, Any] | Filters | None = None,
    ) -> Answer:
        """Answer ``question`` and return the checked ``Answer`` (see :meth:`astream`)."""
        from rag.answer import AnswerDone

        answer = None
        async for event in self.astream(
            question, conversation=conversation, llm=llm, k=k, filters=filters
        ):
            if isinstance(event, AnswerDone):
                answer = event.answer
        return _produced(answer)

    def stream(
        self,
        question: str,
        *,
        conversation: Conversation | None = None,
        llm: str | None = None,
        k: int | None = None,
        filters: Mapping[str, Any] | Filters | None = None,
    ) -> Iterator[AnswerEvent]:
        """Sync twin of :meth:`astream`: an iterator of the same events."""
        from rag.llm.base import iterate_async

        return iterate_async(
            self.astream(question, conversation=conversation, llm=llm, k=k, filters=filters)
        )

    def ask(
        self,
        question: str,
        *,
        conversation: Conversation | None = None,
        llm: str | None = None,
        k: int | None = None,
        filters: Mapping[str, Any] | Filters | None = None,
    ) -> Answer:
        """Sync twin of :meth:`aask`.

        Example:
            >>> answer = lib.ask("What does AWQ protect?", llm="none")  # doctest: +SKIP
            >>> print(answer.text)                                       # doctest: +SKIP
        """
        from rag.answer import AnswerDone

        answer = None
        for event in self.stream(
            question, conversation=conversation, llm=llm, k=k, filters=filters
        ):
            if isinstance(event, AnswerDone):
                answer = event.answer
        return _produced(answer)


def _produced(answer: Answer | None) -> Answer:
    # The answer stream always ends with ``AnswerDone`` unless it raised; this is the guard.
    if answer is None:
        raise PapersError("no answer was produced")
    return answer
