"""The fault battery: whatever the server at OLLAMA_HOST does, a question gets an answer or a
one-line reason. Never a traceback; never a reply that came to nothing passed off as "the
library has no papers". Through ``Library.ask``/``astream`` and through ``papers ask``.

Every case runs against the stand-in Ollama over real HTTP, on a library of six papers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag.answer import AnswerDone, SourcesReady, TextDelta
from rag.errors import (
    BackendUnavailable,
    ConfigError,
    LLMError,
    LLMTimeout,
    ModelNotFound,
    PapersError,
    StreamInterrupted,
)
from rag.prompts import NOT_IN_LIBRARY
from rag.types import Answer
from tests.conftest import seed_records, write_jsonl
from tests.support.ollama_standin import OllamaStandin, free_port

ROOT = Path(__file__).resolve().parents[2]
MODEL = "llama3.2"
LLM = f"ollama:{MODEL}"
QUESTION = "How does activation-aware weight quantization protect salient weights?"
GOOD = "AWQ protects only 1% of salient weights, which greatly reduces quantization error [1]."
UNUSABLE = "The model's reply could not be used"
HTML = (
    "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
    "<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n"
)
MARKER = re.compile(r"\[(\d+)\]")
# Seconds the library waits on the stand-in; the stalls below last far longer.
TIMEOUT_S = 2.0
STALL_S = 30.0

Outcome = Answer | PapersError


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory, open_library) -> Path:
    """Six papers of the seed page 003, AWQ first."""
    root = tmp_path_factory.mktemp("faults")
    papers = write_jsonl(root / "papers.jsonl", seed_records("003")[:6])
    lib = open_library(root / "store")
    assert lib.ingest([papers]).added == 6
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
def lib_at(tiny_store: Path, open_library) -> Callable[[str], object]:
    """``lib_at(host)``: the tiny library, asking the Ollama at ``host``."""

    def make(host: str):
        return open_library(tiny_store, llm={"ollama_host": host, "timeout_s": TIMEOUT_S})

    return make


@pytest.fixture
def lib(lib_at, standin: OllamaStandin):
    return lib_at(standin.url)


def ask(lib, llm: str = LLM) -> Outcome:
    """The answer, or the error the library raised on purpose. Anything else escapes and
    fails the test with its traceback: exactly what must never happen."""
    try:
        return lib.ask(QUESTION, llm=llm)
    except PapersError as exc:
        return exc


def assert_reason(outcome: Outcome, kind: type[PapersError], *words: str) -> str:
    assert isinstance(outcome, kind), f"expected {kind.__name__}, got {outcome!r}"
    message = str(outcome)
    assert message and "\n" not in message and len(message) < 400, message
    assert "Traceback" not in message
    for word in words:
        assert word in message, message
    return message


def assert_answer(outcome: Outcome) -> Answer:
    assert isinstance(outcome, Answer), f"expected an answer, got {outcome!r}"
    assert not outcome.declined, outcome.text
    assert NOT_IN_LIBRARY not in outcome.text
    assert re.search(r"\w", MARKER.sub("", outcome.text)), f"empty answer {outcome.text!r}"
    listed = {c.n for c in outcome.citations}
    assert listed and {int(n) for n in MARKER.findall(outcome.text)} <= listed
    return outcome


# --- replies: whatever the model says, the researcher gets an answer -------------------


@pytest.mark.parametrize(
    "reply",
    [
        GOOD,
        f"Answer: {GOOD}",
        f"Excerpts: {GOOD}",
        f"**Answer:** {GOOD}",
        " ".join([GOOD] * 3000),  # about 270 kB: one sentence, repeated
    ],
    ids=["plain", "answer-label", "excerpts-label", "bold-label", "huge"],
)
def test_a_reply_is_the_answer_whatever_it_begins_with(lib, standin, reply: str) -> None:
    standin.reply(reply)
    answer = assert_answer(ask(lib))
    # The model's sentence first (checked); abstract sentences it did not carry may follow.
    assert answer.text.startswith(GOOD)
    assert answer.sentences[0].status == "supported" and answer.sentences[0].origin == "model"
    assert answer.raw_text == reply
    assert (answer.backend, answer.model) == ("ollama", MODEL)


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("", "it was empty"),
        (" \n\t ", "it was empty"),
        ("[1] [2] [3]", "it held only citation numbers"),
    ],
    ids=["empty", "whitespace", "only-citations"],
)
def test_a_reply_with_nothing_in_it_gives_the_abstracts_and_says_why(
    lib, standin, reply: str, why: str
) -> None:
    standin.reply(reply)
    answer = assert_answer(ask(lib))
    note, quoted = answer.note, answer.text
    assert note.startswith(f"{UNUSABLE} ({why})")
    assert "salient weights" in quoted and MARKER.search(quoted)


def test_a_model_that_says_the_library_cannot_answer_is_shown_the_quotes(lib, standin) -> None:
    # The papers passed the relevance decision and hold sentences close enough to quote:
    # those are shown, with a note, rather than an empty answer.
    standin.reply(f"Answer: {NOT_IN_LIBRARY}")
    answer = ask(lib)
    assert isinstance(answer, Answer)
    assert not answer.declined and "salient weights" in answer.text
    assert answer.note.startswith(f"{UNUSABLE} (the model found no answer")


async def test_the_stream_shows_sources_then_only_checked_sentences(lib, standin) -> None:
    invented = "AWQ was first proposed for protein folding on quantum computers [1]."
    reply = f"Answer: {GOOD} {invented}"
    standin.reply(reply)
    events = [e async for e in lib.astream(QUESTION, llm=LLM)]
    assert isinstance(events[0], SourcesReady) and isinstance(events[-1], AnswerDone)
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    answer = events[-1].answer
    assert streamed == answer.text and streamed.startswith(GOOD)
    # The unsupported sentence never reached the stream; it is kept, marked, in sentences.
    assert "protein" not in streamed and answer.raw_text == reply
    assert [s.status for s in answer.sentences if "protein" in s.text] == ["unsupported"]


# --- failures: one line that says what happened and what to do -------------------------


def _stream_error(s: OllamaStandin) -> None:
    s.reply(["AWQ", " protects"], stream_error="CUDA error: out of memory")


FAULTS: list[tuple[str, Callable[[OllamaStandin], object], type[PapersError], tuple[str, ...]]] = [
    (
        "chat-404",
        lambda s: s.fail(404, f'model "{MODEL}" not found, try pulling it first'),
        ModelNotFound,
        (f"ollama pull {MODEL}",),
    ),
    (
        "500",
        lambda s: s.fail(500, "llama runner process has terminated: exit status 2"),
        LLMError,
        ("HTTP 500", "llama runner process has terminated", "try again"),
    ),
    (
        "503",
        lambda s: s.fail(503, "server busy, please try again.  maximum pending requests exceeded"),
        BackendUnavailable,
        ("busy", "HTTP 503", "try again"),
    ),
    ("429", lambda s: s.fail(429, "too many requests"), BackendUnavailable, ("busy", "HTTP 429")),
    ("502-html", lambda s: s.respond(502, HTML), LLMError, ("HTTP 502", "502 Bad Gateway")),
    (
        "error-json-not-an-object",
        lambda s: s.respond(500, "[]", "application/json"),
        BackendUnavailable,
        ("does not answer like Ollama", "OLLAMA_HOST"),
    ),
    (
        "200-html",
        lambda s: s.respond(200, HTML),
        BackendUnavailable,
        ("does not answer like Ollama", "OLLAMA_HOST"),
    ),
    (
        "json-line-not-an-object",
        lambda s: s.reply([], raw_lines=[b"[1, 2]"]),
        BackendUnavailable,
        ("does not answer like Ollama",),
    ),
    (
        "malformed-json-mid-stream",
        lambda s: s.reply(["AWQ", " protects"], raw_lines=[b'{"model": "llama3.2", "mess']),
        StreamInterrupted,
        ("stopped part-way", "not Ollama's JSON", "try again"),
    ),
    (
        "dropped-mid-stream",
        lambda s: s.reply(GOOD, drop_after=3),
        StreamInterrupted,
        ("stopped part-way", "try again"),
    ),
    (
        "hang-up-before-headers",
        lambda s: s.reply(GOOD, hang_up=True),
        StreamInterrupted,
        ("stopped part-way", "try again"),
    ),
    (
        "no-final-message",
        lambda s: s.reply(GOOD, done=False),
        StreamInterrupted,
        ("without its final message",),
    ),
    ("error-line-mid-stream", _stream_error, LLMError, ("out of memory", "try again")),
    (
        "empty-body",
        lambda s: s.respond(200, b"", "application/x-ndjson"),
        BackendUnavailable,
        ("before sending any of it",),
    ),
]


@pytest.mark.parametrize(
    ("setup", "kind", "words"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS]
)
def test_a_failing_server_is_one_line(lib, standin, setup, kind, words) -> None:
    setup(standin)
    assert_reason(ask(lib), kind, *words)


@pytest.mark.slow
def test_a_server_that_stalls_before_answering_times_out(lib, standin) -> None:
    standin.reply(GOOD, delay_s=STALL_S)
    assert_reason(ask(lib), LLMTimeout, f"sent nothing for {TIMEOUT_S:g} s", "llm.timeout_s")


@pytest.mark.slow
def test_a_server_that_stalls_mid_answer_times_out(lib, standin) -> None:
    standin.reply(GOOD, stall_after=3, stall_s=STALL_S)
    assert_reason(ask(lib), LLMTimeout, "part-way", "llm.timeout_s")


# --- what stands at OLLAMA_HOST --------------------------------------------------------


def test_a_model_the_server_lacks(lib, standin) -> None:
    assert_reason(
        ask(lib, "ollama:mistral"), ModelNotFound, "ollama pull mistral", "llama3.2:latest"
    )


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [(404, "404 page not found", "text/plain"), (200, HTML, "text/html")],
    ids=["404-everywhere", "html-everywhere"],
)
def test_another_web_server_at_the_address(lib, standin, status, body, content_type) -> None:
    standin.impersonate(status, body, content_type)
    assert_reason(ask(lib), BackendUnavailable, standin.url, "does not answer like Ollama")


def test_nothing_listening(lib_at) -> None:
    host = f"http://127.0.0.1:{free_port()}"
    assert_reason(ask(lib_at(host)), BackendUnavailable, f"not running at {host}", "ollama serve")


@pytest.mark.parametrize(
    "host",
    ["http://127.0.0.1:99999", "127.0.0.1:abc", "http://[::1", "ftp://127.0.0.1", "http://a b"],
)
def test_a_malformed_host_is_a_config_error(lib_at, host: str) -> None:
    assert_reason(ask(lib_at(host)), ConfigError, repr(host), "OLLAMA_HOST")


# --- the same through `papers ask` -----------------------------------------------------


def papers_ask(store: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERS_", "OLLAMA_"))} | {
        "PAPERS_LLM__TIMEOUT_S": str(TIMEOUT_S),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "rag", "ask", QUESTION, "--store", str(store), "--llm", LLM],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


# (id, what the stand-in does, environment beyond OLLAMA_HOST=the stand-in, exit code, text)
CLI_CASES: list[tuple[str, Callable[[OllamaStandin], object], dict[str, str], int, str]] = [
    ("answer-label", lambda s: s.reply(f"Answer: {GOOD}"), {}, 0, GOOD),
    ("empty-reply", lambda s: s.reply(""), {}, 0, f"{UNUSABLE} (it was empty)"),
    ("500", lambda s: s.fail(500, "llama runner process has terminated"), {}, 2, "HTTP 500"),
    ("dropped", lambda s: s.reply(GOOD, drop_after=3), {}, 2, "stopped part-way"),
    ("200-html", lambda s: s.respond(200, HTML), {}, 2, "does not answer like Ollama"),
    (
        "bad-port",
        lambda s: None,
        {"OLLAMA_HOST": "http://127.0.0.1:99999"},
        2,
        "the Ollama host 'http://127.0.0.1:99999' is not a valid address",
    ),
    # The ollama package reads OLLAMA_HOST as it is imported, even when the settings name
    # another host, and fails to import on a malformed one.
    (
        "bad-env-good-setting",
        lambda s: None,
        {"OLLAMA_HOST": "http://256.1.1.1:11434", "PAPERS_LLM__OLLAMA_HOST": "{url}"},
        2,
        "the ollama package rejects OLLAMA_HOST",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("setup", "env", "code", "expected"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_papers_ask(tiny_store, standin, setup, env, code, expected) -> None:
    setup(standin)
    env = {"OLLAMA_HOST": standin.url} | {k: v.format(url=standin.url) for k, v in env.items()}
    done = papers_ask(tiny_store, env)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == code, done.stderr
    if code == 0:
        assert expected in done.stdout
        assert NOT_IN_LIBRARY not in done.stdout
        assert MARKER.search(done.stdout)
    else:
        errors = [line for line in done.stderr.splitlines() if line.startswith("papers: ")]
        assert len(errors) == 1 and expected in errors[0], done.stderr
        assert done.stderr.rstrip("\n").endswith(errors[0])
