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
from rag.retrieve import SearchMode
from rag.retrieve import search as retrieve_search
from rag.settings import Settings
from rag.storage import Storage
from rag.types import Answer, Hit, Paper

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

    from rag.answer import AnswerEvent
    from rag.conversation import Conversation
    from rag.doctor import HealthReport
    from rag.ingest import IngestReport
    from rag.llm.base import ChatModel
    from rag.relevance import Relevance
    from rag.retriever import PapersRetriever
    from rag.sources import Problem, Record

    # What ``llm=`` takes: a backend name, a ChatModel, or any llama-index LLM.
    LLMChoice = str | ChatModel | LLM | None


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

    def add(
        self,
        ids: Iterable[str] = (),
        *,
        query: str | None = None,
        max_results: int = 20,
        missing: Iterable[tuple[str, Record]] = (),
        progress: Callable[[int, int], None] | None = None,
        on_fetch: Callable[[str, int, int], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
        on_problem: Callable[[Problem], None] | None = None,
    ) -> IngestReport:
        """Fetch papers by id (``arxiv:2306.00978``, ``doi:10.1145/…``), with ``query`` up to
        ``max_results`` of an arXiv search, and the abstracts of the ``missing`` entries
        (``(where, record)`` read without one) from OpenAlex; then store them in one ingest.

        ``on_fetch(service, done, total)`` follows the fetching, ``progress`` the embedding.
        Raises ``RemoteError`` (and stores nothing) when a service fails after its retries;
        an id no service knows, or an abstract found nowhere, costs a ``Problem``.
        """
        from rag.ingest import IngestReport
        from rag.remote import enrich_abstracts, fetch_papers
        from rag.sources import Problem

        remote = self.settings.remote
        fetched = fetch_papers(
            remote, ids, query=query, max_results=max_results, progress=on_fetch, on_wait=on_wait
        )
        missing = list(missing)
        if missing:
            enriched = enrich_abstracts(
                [r for _, r in missing], remote, progress=on_fetch, on_wait=on_wait
            )
            for (where, rec), new in zip(missing, enriched.records, strict=True):
                if new.abstract:
                    fetched.records.append((where, new))
                else:
                    why = f"title {rec.title[:60]!r} has no abstract here or in OpenAlex; skipped"
                    fetched.problems.append(Problem(where, rec.line, why))
        for problem in fetched.problems:
            if on_problem:
                on_problem(problem)
        if not fetched.records:
            return IngestReport(problems=list(fetched.problems))
        rep = self.ingest(records=fetched.records, progress=progress, on_problem=on_problem)
        rep.problems[:0] = fetched.problems
        return rep

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

    def relevance(self, query: str, hits: list[Hit]) -> Relevance:
        """Whether ``hits`` (from :meth:`search`) answer ``query``: the decision ``ask`` makes
        before answering, with a one-line reason and the closest papers when it declines."""
        from rag.relevance import judge

        return judge(
            self.storage, query, hits, min_probability=self.settings.retrieval.min_relevance
        )

    def as_retriever(
        self,
        *,
        k: int = 5,
        filters: Mapping[str, Any] | Filters | None = None,
        mode: SearchMode = "hybrid",
    ) -> PapersRetriever:
        """This library's search as a llama-index retriever, for any llama-index query engine.

        Example:
            >>> from llama_index.core.query_engine import RetrieverQueryEngine  # doctest: +SKIP
            >>> retriever = lib.as_retriever(k=5)                               # doctest: +SKIP
            >>> engine = RetrieverQueryEngine.from_args(retriever, llm=llm)     # doctest: +SKIP
        """
        from rag.retriever import PapersRetriever

        return PapersRetriever(self, k=k, filters=filters, mode=mode)

    def warm(self) -> None:
        """Load the embedder and indexes now, so the first question is not the slow one."""
        self.storage.warm()

    # -- answering --------------------------------------------------------------
    def chat_model(self, llm: LLMChoice = None) -> ChatModel | None:
        """The chat model for ``llm``: a name (auto, ollama[:model], embedded, none), made
        once; a ``ChatModel`` as it is; a llama-index ``LLM`` wrapped in ``LlamaIndexChat``."""
        if llm is not None and not isinstance(llm, str):
            from rag.llm import as_chat_model

            return as_chat_model(llm)
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
        llm: LLMChoice = None,
        k: int | None = None,
        filters: Mapping[str, Any] | Filters | None = None,
        show_unsupported: bool | None = None,
        floor: bool | None = None,
    ) -> AsyncIterator[AnswerEvent]:
        """Answer ``question``: yields ``SourcesReady``, then ``TextDelta``s, then ``AnswerDone``.

        ``llm`` is a backend name (see :meth:`chat_model`), a ``ChatModel``, or any
        llama-index LLM (e.g. ``OpenAILike`` pointed at LM Studio or a llama.cpp server).
        ``floor=False`` answers even when no paper seems to (default: ``retrieval.floor``);
        a declined answer names the closest papers (``Answer.closest``) and why (``note``).

        Example:
            >>> question = "Which papers quantize LLM weights?"
            >>> async for event in lib.astream(question):  # doctest: +SKIP
            ...     print(event)
        """
        import asyncio
        import time

        from rag.answer import astream_answer
        from rag.conversation import Conversation, acondense_question
        from rag.relevance import declined

        conversation = conversation if conversation is not None else Conversation()
        chat = await asyncio.to_thread(self.chat_model, llm)
        await asyncio.to_thread(self.warm)
        # A question without pointing words is searched as asked first, to tell a new one from
        # a follow-up (rag/followup.py): one more retrieval, ~10-20 ms, on those turns only.
        standalone = await acondense_question(
            question,
            conversation,
            chat,
            search=lambda q: self.search(q, k=k, filters=filters),
        )
        t0 = time.perf_counter()
        hits = await asyncio.to_thread(self.search, standalone, k=k, filters=filters)
        verdict = None
        if self.settings.retrieval.floor if floor is None else floor:
            verdict = await asyncio.to_thread(self.relevance, standalone, hits)
            hits = hits if verdict.answers else []
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
            show_unsupported=(
                self.settings.answer.show_unsupported
                if show_unsupported is None
                else show_unsupported
            ),
        ):
            yield event if verdict is None or verdict.answers else declined(event, verdict)

    async def aask(
        self,
        question: str,
        *,
        conversation: Conversation | None = None,
        llm: LLMChoice = None,
        k: int | None = None,
        filters: Mapping[str, Any] | Filters | None = None,
        show_unsupported: bool | None = None,
        floor: bool | None = None,
    ) -> Answer:
        """Answer ``question`` and return the checked ``Answer`` (see :meth:`astream`)."""
        from rag.answer import AnswerDone

        answer = None
        async for event in self.astream(
            question,
            conversation=conversation,
            llm=llm,
            k=k,
            filters=filters,
            show_unsupported=show_unsupported,
            floor=floor,
        ):
            if isinstance(event, AnswerDone):
                answer = event.answer
        return _produced(answer)

    def stream(
        self,
        question: str,
        *,
        conversation: Conversation | None = None,
        llm: LLMChoice = None,
        k: int | None = None,
        filters: Mapping[str, Any] | Filters | None = None,
        show_unsupported: bool | None = None,
        floor: bool | None = None,
    ) -> Iterator[AnswerEvent]:
        """Sync twin of :meth:`astream`: an iterator of the same events."""
        from rag.llm.base import iterate_async

        return iterate_async(
            self.astream(
                question,
                conversation=conversation,
                llm=llm,
                k=k,
                filters=filters,
                show_unsupported=show_unsupported,
                floor=floor,
            )
        )

    def ask(
        self,
        question: str,
        *,
        conversation: Conversation | None = None,
        llm: LLMChoice = None,
        k: int | None = None,
        filters: Mapping[str, Any] | Filters | None = None,
        show_unsupported: bool | None = None,
        floor: bool | None = None,
    ) -> Answer:
        """Sync twin of :meth:`aask`.

        Example:
            >>> answer = lib.ask("What does AWQ protect?", llm="none")  # doctest: +SKIP
            >>> print(answer.text)                                       # doctest: +SKIP
        """
        from rag.answer import AnswerDone

        answer = None
        for event in self.stream(
            question,
            conversation=conversation,
            llm=llm,
            k=k,
            filters=filters,
            show_unsupported=show_unsupported,
            floor=floor,
        ):
            if isinstance(event, AnswerDone):
                answer = event.answer
        return _produced(answer)


def _produced(answer: Answer | None) -> Answer:
    # The answer stream always ends with ``AnswerDone`` unless it raised; this is the guard.
    if answer is None:
        raise PapersError("no answer was produced")
    return answer
