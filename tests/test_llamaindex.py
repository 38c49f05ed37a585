"""llama-index in both directions: our search as a llama-index retriever in its query engine,
and any llama-index LLM answering inside our checked-citation pipeline.

A real library of eight seed papers (real Chroma, real MiniLM); llama-index's own Ollama
LLM talks over real HTTP to the stand-in Ollama server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.llms import (
    CompletionResponse,
    CompletionResponseGen,
    CustomLLM,
    LLMMetadata,
    MockLLM,
)
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.llms.ollama import Ollama

from rag.errors import BackendUnavailable, ConfigError, FilterError, LLMError, PapersError
from rag.filters import Filters
from rag.ids import paper_id
from rag.llm import LlamaIndexChat, as_chat_model
from rag.prompts import SYSTEM_PROMPT
from rag.types import Answer
from tests.conftest import seed_records, write_jsonl
from tests.support.ollama_standin import OllamaStandin, free_port

QUESTION = "How does activation-aware weight quantization protect salient weights?"
# A sentence of AWQ's abstract, cited to it.
GOOD = "AWQ protects only 1% of salient weights, which greatly reduces quantization error [1]."
INVENTED = "AWQ was first used to win a chess tournament on a phone [1]."
AWQ_AUTHORS = ["Ji Lin", "Jiaming Tang", "Haotian Tang", "Shang Yang", "Song Han"]
AWQ_URL = "https://arxiv.org/abs/2306.00978"
MARKER = re.compile(r"\[(\d+)\]")

# Papers 0-3 of seed page 003 (AWQ first) in quant.jsonl, 4-7 in other.jsonl, with years.
YEARS = {"quant.jsonl": [2023, 2024, 2025, 2024], "other.jsonl": [2022, 2023, 2024, 2025]}


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, open_library) -> Path:
    root = tmp_path_factory.mktemp("llamaindex")
    records = seed_records("003")[:8]
    assert records[0].title.startswith("AWQ")
    files = []
    for i, (name, years) in enumerate(YEARS.items()):
        rows: list[dict[str, Any]] = [
            {"title": r.title, "abstract": r.abstract, "year": year}
            for r, year in zip(records[4 * i : 4 * i + 4], years, strict=True)
        ]
        files.append(write_jsonl(root / name, rows))
        if i == 0:  # AWQ with authors and a link, to see them reach the node's metadata
            rows[0].update(authors=AWQ_AUTHORS, url=AWQ_URL)
            write_jsonl(root / name, rows)
    lib = open_library(root / "store")
    report = lib.ingest(files)
    assert report.added == 8 and not report.problems, report.summary()
    lib.close()
    return root / "store"


@pytest.fixture(scope="module")
def server() -> Iterator[OllamaStandin]:
    with OllamaStandin() as standin:
        yield standin


@pytest.fixture
def standin(server: OllamaStandin) -> Iterator[OllamaStandin]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def lib(store: Path, open_library, standin: OllamaStandin):
    # The native backend (for comparison) asks the same stand-in.
    return open_library(store, llm={"ollama_host": standin.url, "timeout_s": 5.0})


@pytest.fixture(scope="module")
def awq_id() -> str:
    return paper_id(seed_records("003")[0].title)


def ollama_llm(url: str) -> Ollama:
    return Ollama(model="llama3.2", base_url=url, request_timeout=5.0)


# --- our search as a llama-index retriever ---------------------------------------------


async def test_a_query_engine_answers_from_our_papers(lib, awq_id) -> None:
    # MockLLM echoes its prompt: the response shows exactly what the LLM was given.
    engine = RetrieverQueryEngine.from_args(lib.as_retriever(k=3), llm=MockLLM())
    for response in (engine.query(QUESTION), await engine.aquery(QUESTION)):
        nodes = response.source_nodes
        assert len(nodes) == 3
        assert nodes[0].node.metadata["paper_id"] == awq_id
        assert nodes[0].node.node_id == awq_id
        held = lib.papers(n.node.metadata["paper_id"] for n in nodes)
        assert len(held) == 3
        for n in nodes:
            paper = held[n.node.metadata["paper_id"]]
            assert n.node.metadata["title"] == paper.title
            assert n.node.get_content() in paper.abstract
            assert n.score is not None and n.score > 0
        assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)

        prompt = str(response)
        awq = held[awq_id]
        assert f"title: {awq.title}" in prompt and "year: 2023" in prompt
        assert nodes[0].node.get_content() in prompt
        # Kept on the node, out of the prompt.
        for key in ("paper_id", "abstract", "authors", "url", "sources"):
            assert f"{key}:" not in prompt, key
        # A citekey (from a BibTeX entry, or made for the paper) is how the LLM may cite it.
        assert (f"citekey: {awq.citekey}" in prompt) if awq.citekey else ("citekey:" not in prompt)
        assert awq_id not in prompt and AWQ_URL not in prompt


def test_a_node_carries_the_papers_metadata(lib, awq_id) -> None:
    (node,) = lib.as_retriever(k=1).retrieve(QUESTION)
    meta = node.node.metadata
    assert meta["paper_id"] == awq_id
    assert meta["year"] == 2023
    assert meta["authors"] == AWQ_AUTHORS
    assert meta["url"] == AWQ_URL
    assert meta["sources"] == ["quant.jsonl"]
    assert meta["abstract"] == lib.papers([awq_id])[awq_id].abstract
    assert "citekey" in meta  # None until the paper has one; then it reaches the prompt too


def test_the_retriever_honours_year_and_source_filters(lib) -> None:
    query = "weight quantization of large language models"
    unfiltered = lib.as_retriever(k=8).retrieve(query)
    assert len(unfiltered) == 8
    assert {n.node.metadata["year"] for n in unfiltered} == {2022, 2023, 2024, 2025}

    since_2024 = lib.as_retriever(k=8, filters={"year": "2024-"}).retrieve(query)
    assert sorted(n.node.metadata["year"] for n in since_2024) == [2024, 2024, 2024, 2025, 2025]

    other = lib.as_retriever(k=8, filters=Filters(source="other")).retrieve(query)
    assert len(other) == 4
    assert all(n.node.metadata["sources"] == ["other.jsonl"] for n in other)

    both = lib.as_retriever(k=8, filters={"source": "other", "year": 2022}).retrieve(query)
    assert [(n.node.metadata["sources"], n.node.metadata["year"]) for n in both] == [
        (["other.jsonl"], 2022)
    ]


def test_a_bad_filter_fails_when_the_retriever_is_made(lib) -> None:
    with pytest.raises(FilterError, match="not a year"):
        lib.as_retriever(filters={"year": "last year"})


# --- a llama-index LLM inside our pipeline ---------------------------------------------


def test_llama_index_ollama_answers_with_a_checked_citation(lib, standin, awq_id) -> None:
    standin.reply(GOOD)
    answer = lib.ask(QUESTION, llm=ollama_llm(standin.url))
    assert isinstance(answer, Answer)
    assert answer.backend == "llama-index" and answer.model == "llama3.2"
    # The model's reply, checked: its sentence stands, cited to AWQ with the evidence.
    assert answer.raw_text == GOOD and answer.text.startswith(GOOD) and not answer.declined
    cite = next(c for c in answer.citations if c.n == 1)
    assert (cite.paper_id, cite.attributed) == (awq_id, False)
    assert "salient weights" in cite.evidence
    # Our prompt reached the server as a chat, excerpts and all.
    (request,) = standin.chat_requests()
    roles = [m["role"] for m in request.body["messages"]]
    assert roles == ["system", "user"]
    assert QUESTION in request.body["messages"][1]["content"]


def test_an_invented_claim_loses_its_citation_as_with_the_native_backend(
    lib, standin, awq_id
) -> None:
    reply = f"{GOOD} {INVENTED}"
    answers = []
    for llm in (ollama_llm(standin.url), "ollama:llama3.2"):
        standin.reply(reply)
        answers.append(lib.ask(QUESTION, llm=llm))
    ours, native = answers
    assert native.backend == "ollama"
    assert ours.text == native.text
    assert [c.to_dict() for c in ours.citations] == [c.to_dict() for c in native.citations]
    # The supported sentence keeps its citation; the invented one keeps none, if kept at all.
    assert ours.raw_text == reply and ours.text.startswith(GOOD)
    assert not re.search(r"chess tournament on a phone\.?\s*\[\d+\]", ours.text)
    assert next(c for c in ours.citations if c.n == 1).paper_id == awq_id


def test_the_same_llm_answers_again_and_again(lib, standin) -> None:
    # Each sync ask runs on a fresh event loop; the LLM's async client must not mind.
    llm = ollama_llm(standin.url)
    for _ in range(3):
        standin.reply(GOOD)
        assert lib.ask(QUESTION, llm=llm).raw_text == GOOD


async def test_the_async_twins_stream_the_same_answer(lib, standin) -> None:
    from rag.answer import AnswerDone, SourcesReady, TextDelta

    llm = ollama_llm(standin.url)
    standin.reply(GOOD)
    events = [e async for e in lib.astream(QUESTION, llm=llm)]
    assert isinstance(events[0], SourcesReady) and isinstance(events[-1], AnswerDone)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).startswith(GOOD)
    assert events[-1].answer.raw_text == GOOD
    standin.reply(GOOD)
    assert (await lib.aask(QUESTION, llm=llm)).raw_text == GOOD


def assert_one_line(exc: BaseException, kind: type[PapersError], *words: str) -> None:
    assert isinstance(exc, kind), repr(exc)
    message = str(exc)
    assert message and "\n" not in message and len(message) < 400, message
    assert "Traceback" not in message
    assert exc.__cause__ is None and exc.__suppress_context__
    for word in words:
        assert word in message, message


def test_a_hang_up_is_one_line_and_the_next_question_works(lib, standin) -> None:
    llm = ollama_llm(standin.url)
    standin.reply(GOOD, hang_up=True)
    with pytest.raises(LLMError) as exc:
        lib.ask(QUESTION, llm=llm)
    assert_one_line(exc.value, BackendUnavailable, "dropped the connection", standin.url)
    standin.reply(GOOD)
    assert lib.ask(QUESTION, llm=llm).raw_text == GOOD


def test_a_drop_mid_answer_is_one_line(lib, standin) -> None:
    standin.reply(GOOD, drop_after=3)
    with pytest.raises(LLMError) as exc:
        lib.ask(QUESTION, llm=ollama_llm(standin.url))
    assert_one_line(exc.value, LLMError, "stopped part-way", "try again")


def test_a_server_that_is_not_there_is_one_line(lib) -> None:
    dead_host = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LLMError) as exc:
        lib.ask(QUESTION, llm=ollama_llm(dead_host))
    assert_one_line(exc.value, BackendUnavailable, dead_host)


def test_a_silent_server_times_out_in_one_line(store, open_library, standin) -> None:
    lib = open_library(store, llm={"timeout_s": 0.5})
    standin.reply(GOOD, delay_s=10)
    with pytest.raises(LLMError) as exc:
        lib.ask(QUESTION, llm=ollama_llm(standin.url))
    assert_one_line(exc.value, LLMError, "sent nothing for 0.5 s", "llm.timeout_s")


class ScriptedCompletion(CustomLLM):
    """A completion-only llama-index LLM (no chat) that records its prompts."""

    reply: str = ""
    prompts: list[str] = []

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=2048, is_chat_model=False, model_name="scripted")

    def complete(self, prompt: str, formatted: bool = False, **kw: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        return CompletionResponse(text=self.reply)

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kw: Any
    ) -> CompletionResponseGen:
        self.prompts.append(prompt)
        words = self.reply.split(" ")
        for i, word in enumerate(words):
            yield CompletionResponse(text=" ".join(words[: i + 1]), delta=(" " if i else "") + word)


def test_a_completion_model_reads_our_document_prompt(lib, awq_id) -> None:
    # A base model goes on to invent the next question; the answer layer cuts it there.
    llm = ScriptedCompletion(reply=f"{GOOD}\nQuestion: What is PB-LLM?", prompts=[])
    chat = as_chat_model(llm)
    assert isinstance(chat, LlamaIndexChat) and chat.writes_documents()
    assert chat.context_window() == 2048
    answer = lib.ask(QUESTION, llm=llm)
    # A base model's checked sentence follows the quotes (ChatModel.quotes_first).
    assert answer.raw_text == GOOD and answer.text.endswith(GOOD)
    assert "PB-LLM?" not in answer.text
    assert next(c for c in answer.citations if c.n == 1).paper_id == awq_id
    # The document our embedded base model reads: system prompt, excerpts, "Answer:".
    (prompt,) = llm.prompts
    assert prompt.startswith(SYSTEM_PROMPT) and prompt.endswith(f"Question: {QUESTION}\nAnswer:")
    assert "[1] Title: AWQ" in prompt


def test_llm_takes_a_name_a_chat_model_or_a_llama_index_llm(lib) -> None:
    from rag.llm import ScriptedChat

    scripted = ScriptedChat()
    assert lib.chat_model(scripted) is scripted
    assert isinstance(lib.chat_model(MockLLM()), LlamaIndexChat)
    assert lib.chat_model("none") is None
    with pytest.raises(ConfigError, match="llama-index LLM, not int"):
        lib.chat_model(42)  # type: ignore[arg-type]
