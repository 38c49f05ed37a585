"""OllamaChat and the real ``ollama`` client against a stand-in Ollama server over HTTP."""

from __future__ import annotations

import time

import httpx
import ollama
import pytest

from rag.errors import (
    BackendUnavailable,
    ConfigError,
    LLMError,
    LLMTimeout,
    ModelNotFound,
    StreamInterrupted,
)
from rag.llm import (
    EmbeddedChat,
    OllamaChat,
    check_ollama_host,
    make_chat_model,
    ollama_chat_models,
)
from rag.llm.base import ChatMessage, GenerationOptions
from rag.settings import LLMSettings, Settings
from tests.support.ollama_standin import OllamaStandin, chat_model, embedding_model

QUESTION = [
    ChatMessage("system", "Answer from the excerpts; cite them as [1]."),
    ChatMessage("user", "What does the paper propose?"),
]
ANSWER = "The paper proposes a sparse attention scheme [1]."


def chat(server_or_host: OllamaStandin | str, model: str = "llama3.2") -> OllamaChat:
    host = server_or_host if isinstance(server_or_host, str) else server_or_host.url
    return OllamaChat(model=model, host=host, timeout_s=5)


async def collect(model: OllamaChat, options: GenerationOptions | None = None) -> list[str]:
    return [d async for d in model.astream_chat(QUESTION, options or GenerationOptions())]


def settings_for(host: str, **llm: object) -> Settings:
    return Settings(llm=LLMSettings(ollama_host=host, **llm))


def assert_one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


# --- the stand-in speaks Ollama: the official client parses every answer -----------------


def test_official_client_parses_the_standin(ollama_server: OllamaStandin) -> None:
    client = ollama.Client(host=ollama_server.url)
    assert [m.model for m in client.list().models] == ["llama3.2:latest", "nomic-embed-text:latest"]
    shown = client.show("llama3.2")
    assert shown.modelinfo["llama.context_length"] == 131072
    assert shown.capabilities == ["completion"]

    ollama_server.reply(ANSWER)
    parts = list(client.chat("llama3.2", [{"role": "user", "content": "hi"}], stream=True))
    assert "".join(p.message.content for p in parts) == ANSWER
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].done_reason == "stop" and parts[-1].eval_count == len(parts) - 1

    ollama_server.reply(ANSWER)
    whole = client.chat("llama3.2", [{"role": "user", "content": "hi"}], stream=False)
    assert whole.message.content == ANSWER and whole.done

    embedded = client.embed(model="nomic-embed-text", input=["a paper", "a paper", "other"])
    assert len(embedded.embeddings) == 3 and len(embedded.embeddings[0]) == 64
    assert embedded.embeddings[0] == embedded.embeddings[1] != embedded.embeddings[2]


def test_standin_errors_look_like_ollamas(ollama_server: OllamaStandin) -> None:
    client = ollama.Client(host=ollama_server.url)
    with pytest.raises(ollama.ResponseError) as exc:
        client.chat("nope", [{"role": "user", "content": "hi"}])
    assert exc.value.status_code == 404
    assert exc.value.error == 'model "nope" not found, try pulling it first'
    with pytest.raises(ollama.ResponseError) as exc:
        client.show("nope")
    assert exc.value.status_code == 404
    # The client refuses an empty model name itself; ask over plain HTTP.
    bare = httpx.post(f"{ollama_server.url}/api/chat", json={"messages": []})
    assert (bare.status_code, bare.json()) == (400, {"error": "model is required"})
    assert httpx.post(f"{ollama_server.url}/api/chat").json() == {"error": "missing request body"}


# --- streaming -------------------------------------------------------------------------


async def test_deltas_arrive_in_order_and_join_to_the_text(ollama_server: OllamaStandin) -> None:
    chunks = ["The paper", " proposes", " a sparse", " attention", " scheme [1]."]
    ollama_server.reply(chunks)
    assert await collect(chat(ollama_server)) == chunks


def test_sync_twin_streams_too(ollama_server: OllamaStandin) -> None:
    ollama_server.reply(ANSWER)
    assert "".join(chat(ollama_server).stream_chat(QUESTION, GenerationOptions())) == ANSWER


async def test_options_and_messages_reach_the_server(ollama_server: OllamaStandin) -> None:
    options = GenerationOptions(max_tokens=77, temperature=0.3, stop=("\n\n", "Q:"), num_ctx=6144)
    await collect(chat(ollama_server), options)
    body = ollama_server.chat_requests()[-1].body
    assert body["model"] == "llama3.2" and body["stream"] is True
    assert body["messages"] == [{"role": m.role, "content": m.content} for m in QUESTION]
    assert body["options"] == {
        "num_ctx": 6144,
        "num_predict": 77,
        "temperature": 0.3,
        "stop": ["\n\n", "Q:"],
    }
    assert body["think"] is False


async def test_unset_options_are_left_to_the_server(ollama_server: OllamaStandin) -> None:
    await collect(chat(ollama_server), GenerationOptions(num_ctx=None, stop=()))
    sent = ollama_server.chat_requests()[-1].body["options"]
    assert "num_ctx" not in sent and "stop" not in sent


async def test_closing_the_stream_early_is_prompt(ollama_server: OllamaStandin) -> None:
    ollama_server.reply(["a"] * 20, chunk_delay_s=0.3)
    started = time.perf_counter()
    stream = chat(ollama_server).astream_chat(QUESTION, GenerationOptions())
    async for _ in stream:
        break
    await stream.aclose()
    assert time.perf_counter() - started < 1.5


# --- model metadata --------------------------------------------------------------------


def test_context_window_comes_from_show_and_is_cached(ollama_server: OllamaStandin) -> None:
    model = chat(ollama_server)
    assert model.context_window() == 131072
    assert model.context_window() == 131072
    assert [r.path for r in ollama_server.requests].count("/api/show") == 1


def test_context_window_respects_a_modelfile_num_ctx() -> None:
    with OllamaStandin([chat_model("small:latest", num_ctx=8192)]) as server:
        assert chat(server, "small").context_window() == 8192


def test_check_passes_for_an_installed_chat_model(ollama_server: OllamaStandin) -> None:
    chat(ollama_server, "llama3.2:latest").check()
    chat(ollama_server, "LLAMA3.2").check()


def test_missing_model_names_the_pull_command_and_the_choices(
    ollama_server: OllamaStandin,
) -> None:
    with pytest.raises(ModelNotFound) as exc:
        chat(ollama_server, "mistral").check()
    assert assert_one_line(exc) == (
        "Ollama has no model 'mistral'; run `ollama pull mistral` or choose one of: llama3.2:latest"
    )


def test_an_embedding_model_cannot_chat(ollama_server: OllamaStandin) -> None:
    with pytest.raises(ModelNotFound, match="cannot chat.*llama3.2:latest"):
        chat(ollama_server, "nomic-embed-text").check()


async def test_model_missing_at_chat_time_is_model_not_found(
    ollama_server: OllamaStandin,
) -> None:
    with pytest.raises(ModelNotFound) as exc:
        await collect(chat(ollama_server, "mistral"))
    assert "ollama pull mistral" in assert_one_line(exc)
    assert "llama3.2:latest" in str(exc.value)


def test_context_window_of_a_missing_model(ollama_server: OllamaStandin) -> None:
    with pytest.raises(ModelNotFound, match="ollama pull mistral"):
        chat(ollama_server, "mistral").context_window()


# --- failures --------------------------------------------------------------------------


async def test_server_not_running_is_one_actionable_line(dead_host: str) -> None:
    expected = (
        f"Ollama is not running at {dead_host}; start it with `ollama serve` or use --llm embedded"
    )
    model = chat(dead_host)
    with pytest.raises(BackendUnavailable) as exc:
        model.check()
    assert assert_one_line(exc) == expected
    with pytest.raises(BackendUnavailable) as exc:
        await collect(model)
    assert str(exc.value) == expected
    with pytest.raises(BackendUnavailable):
        model.context_window()
    with pytest.raises(BackendUnavailable):
        ollama_chat_models(dead_host)


async def test_a_server_that_does_not_answer_times_out(ollama_server: OllamaStandin) -> None:
    ollama_server.reply(ANSWER, delay_s=3)
    started = time.perf_counter()
    with pytest.raises(LLMTimeout) as exc:
        await collect(chat(ollama_server), GenerationOptions(timeout_s=0.3))
    assert time.perf_counter() - started < 2
    assert "llm.timeout_s" in assert_one_line(exc)


async def test_a_stream_that_stalls_times_out(ollama_server: OllamaStandin) -> None:
    ollama_server.reply(["one", " two", " three"], chunk_delay_s=1.0)
    with pytest.raises(LLMTimeout):
        await collect(chat(ollama_server), GenerationOptions(timeout_s=0.3))


async def test_a_dropped_connection_interrupts_the_stream(ollama_server: OllamaStandin) -> None:
    ollama_server.reply(["The", " paper", " proposes", " more"], drop_after=2)
    got: list[str] = []
    with pytest.raises(StreamInterrupted) as exc:
        async for delta in chat(ollama_server).astream_chat(QUESTION, GenerationOptions()):
            got.append(delta)
    assert got == ["The", " paper"]
    assert assert_one_line(exc).startswith("the Ollama stream stopped part-way: ")


async def test_a_stream_without_its_final_message_is_interrupted(
    ollama_server: OllamaStandin,
) -> None:
    ollama_server.reply(ANSWER, done=False)
    with pytest.raises(StreamInterrupted, match="without its final message"):
        await collect(chat(ollama_server))


async def test_a_server_error_carries_the_servers_words(ollama_server: OllamaStandin) -> None:
    ollama_server.fail(500, "llama runner process has terminated: exit status 2")
    with pytest.raises(LLMError) as exc:
        await collect(chat(ollama_server))
    assert type(exc.value) is LLMError
    assert assert_one_line(exc) == (
        "Ollama failed (HTTP 500): llama runner process has terminated: exit status 2; "
        "try again, or see `ollama serve`'s log"
    )


async def test_an_error_line_inside_the_stream(ollama_server: OllamaStandin) -> None:
    ollama_server.reply(["The", " paper"], stream_error="out of memory")
    with pytest.raises(LLMError, match="Ollama failed while answering: out of memory"):
        await collect(chat(ollama_server))


# --- discovery and the backend choice --------------------------------------------------


def test_chat_models_leave_out_embedding_models(ollama_server: OllamaStandin) -> None:
    assert ollama_chat_models(ollama_server.url) == ["llama3.2:latest"]


def test_auto_picks_ollama_when_the_server_answers(ollama_server: OllamaStandin) -> None:
    model = make_chat_model(settings_for(ollama_server.url), "auto")
    assert isinstance(model, OllamaChat)
    assert (model.backend, model.model) == ("ollama", "llama3.2:latest")
    assert model.host == ollama_server.url


def test_auto_prefers_the_configured_model() -> None:
    models = [chat_model("llama3.2:latest"), chat_model("qwen3:4b"), embedding_model()]
    with OllamaStandin(models) as server:
        model = make_chat_model(settings_for(server.url, ollama_model="qwen3:4b"))
        assert model.model == "qwen3:4b"
        absent = make_chat_model(settings_for(server.url, ollama_model="phi4"))
        assert absent.model == "llama3.2:latest"


def test_auto_falls_back_to_embedded_when_nothing_listens(dead_host: str) -> None:
    started = time.perf_counter()
    model = make_chat_model(settings_for(dead_host), "auto")
    assert isinstance(model, EmbeddedChat) and model.backend == "embedded"
    assert time.perf_counter() - started < 2


def test_auto_falls_back_when_ollama_has_only_embedding_models() -> None:
    with OllamaStandin([embedding_model()]) as server:
        assert isinstance(make_chat_model(settings_for(server.url)), EmbeddedChat)


def test_explicit_ollama_model_is_parsed(ollama_server: OllamaStandin) -> None:
    settings = settings_for(ollama_server.url)
    assert make_chat_model(settings, "ollama:qwen3:4b").model == "qwen3:4b"
    assert make_chat_model(settings, "ollama").model == "llama3.2:latest"
    assert make_chat_model(settings_for(ollama_server.url, ollama_model="x"), "ollama").model == "x"


def test_explicit_ollama_without_chat_models() -> None:
    with OllamaStandin([embedding_model()]) as server:
        with pytest.raises(ModelNotFound, match="ollama pull llama3.2"):
            make_chat_model(settings_for(server.url), "ollama")


def test_other_choices(dead_host: str) -> None:
    settings = settings_for(dead_host)
    assert isinstance(make_chat_model(settings, "embedded"), EmbeddedChat)
    with pytest.raises(ValueError):
        make_chat_model(settings, "none")
    with pytest.raises(ConfigError, match="unknown LLM backend 'gpt'"):
        make_chat_model(settings, "gpt")
    with pytest.raises(ConfigError, match="only ollama takes a model"):
        make_chat_model(settings, "embedded:gemma")
    with pytest.raises(BackendUnavailable, match="not running"):
        make_chat_model(settings, "ollama")


@pytest.mark.parametrize(
    "host",
    [
        "http://127.0.0.1:11434",
        "localhost:11434",
        "0.0.0.0",
        ":11434",
        "https://ollama.example.com/proxy/",
        "http://[::1]:11434",
        " http://127.0.0.1:11434 ",
    ],
)
def test_every_address_the_ollama_client_takes_is_accepted(host: str) -> None:
    assert check_ollama_host(host) == host.strip()
    assert OllamaChat(model="m", host=host).host == host.strip()


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("http://127.0.0.1:99999", "Port out of range"),
        ("http://127.0.0.1:0", "port 0"),
        ("http://256.1.1.1:11434", "Invalid IPv4 address"),
        ("htp://127.0.0.1", "htp:// is not http:// or https://"),
        ("http://local host", "contains a space"),
        ("  ", "empty"),
    ],
)
def test_a_malformed_address_is_one_config_error(host: str, why: str) -> None:
    with pytest.raises(ConfigError) as exc:
        OllamaChat(model="m", host=host)
    message = assert_one_line(exc)
    assert repr(host) in message and why in message and "OLLAMA_HOST" in message
    with pytest.raises(ConfigError):
        ollama_chat_models(host)
