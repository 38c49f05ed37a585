"""The embedded backend: Gemma 3 270M in-process through llama.cpp.

Tests marked slow load the real model (about a second, once for the module).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from rag.errors import BackendUnavailable
from rag.llm.base import ChatMessage, GenerationOptions
from rag.llm.embedded import DEFAULT_N_CTX, EmbeddedChat, plain_prompt

STORY = [ChatMessage("user", "Write a long story about a dragon who learns to read.")]
GROUNDED = [
    ChatMessage("system", "Answer from the excerpts."),
    ChatMessage(
        "user",
        "Excerpts:\n[1] The Transformer uses self-attention instead of recurrence.\n\n"
        "Question: What does the Transformer use instead of recurrence?",
    ),
]


@pytest.fixture(scope="module")
def gemma() -> Iterator[EmbeddedChat]:
    model = EmbeddedChat()
    model.check()
    yield model


def greedy(max_tokens: int = 48, stop: tuple[str, ...] = ()) -> GenerationOptions:
    return GenerationOptions(max_tokens=max_tokens, temperature=0.0, stop=stop)


async def collect(model: EmbeddedChat, messages: list[ChatMessage], **kw: object) -> list[str]:
    return [d async for d in model.astream_chat(messages, greedy(**kw))]  # type: ignore[arg-type]


# --- without the model -----------------------------------------------------------------


def test_chats_render_as_a_document_that_ends_in_answer() -> None:
    prompt = plain_prompt(
        [
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "Q one?"),
            ChatMessage("assistant", "A one."),
            ChatMessage("user", "Q two?"),
        ]
    )
    assert prompt == "Be brief.\n\nQ one?\nAnswer: A one.\n\nQ two?\nAnswer:"


def test_missing_llama_cpp_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(BackendUnavailable) as exc:
        EmbeddedChat(n_ctx=512, n_threads=1).check()  # a size nothing else has loaded
    assert "pip install 'papers[embedded]'" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_importing_the_backends_loads_no_model_library() -> None:
    code = "import sys, rag.llm; print(sorted({'llama_cpp', 'ollama'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_nothing_loads_before_use() -> None:
    model = EmbeddedChat()
    assert model.context_window() == DEFAULT_N_CTX == 4096
    assert model.backend == "embedded"


# --- with the model --------------------------------------------------------------------


@pytest.mark.slow
async def test_streams_a_short_grounded_answer(gemma: EmbeddedChat) -> None:
    deltas = await collect(gemma, GROUNDED)
    answer = "".join(deltas)
    assert all(deltas) and answer == answer.strip()
    assert "self-attention" in answer
    assert "<end_of_turn>" not in answer and "Question:" not in answer


@pytest.mark.slow
async def test_max_tokens_is_honoured(gemma: EmbeddedChat) -> None:
    answer = "".join(await collect(gemma, STORY, max_tokens=5))
    assert answer and gemma.count_tokens(answer) <= 5


@pytest.mark.slow
async def test_a_stop_sequence_ends_the_answer_before_it(gemma: EmbeddedChat) -> None:
    full = "".join(await collect(gemma, STORY, max_tokens=24))
    words = full.split()
    assert len(words) >= 4, full
    stop = " " + words[3]
    cut = "".join(await collect(gemma, STORY, max_tokens=24, stop=(stop,)))
    assert cut == full[: full.index(stop)].strip()


@pytest.mark.slow
def test_count_tokens_uses_gemmas_tokenizer(gemma: EmbeddedChat) -> None:
    assert gemma.count_tokens("<end_of_turn>") == 1  # one special token, not 5 pieces
    short, long = gemma.count_tokens("attention"), gemma.count_tokens("attention " * 50)
    assert 1 <= short <= 2 and 45 <= long <= 110


@pytest.mark.slow
def test_the_model_is_loaded_once_and_shared(gemma: EmbeddedChat) -> None:
    assert EmbeddedChat()._load() is gemma._load()


@pytest.mark.slow
def test_sync_twin(gemma: EmbeddedChat) -> None:
    assert "self-attention" in "".join(gemma.stream_chat(GROUNDED, greedy()))


@pytest.mark.slow
async def test_generation_does_not_block_the_event_loop(gemma: EmbeddedChat) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await collect(gemma, STORY, max_tokens=40)
    elapsed = time.perf_counter() - started
    task.cancel()
    assert ticks >= elapsed / 0.01 * 0.5  # the loop kept ticking through generation


@pytest.mark.slow
async def test_closing_the_stream_stops_generation(gemma: EmbeddedChat) -> None:
    stream = gemma.astream_chat(STORY, greedy(max_tokens=400))
    async for _ in stream:
        break
    await stream.aclose()
    lock = gemma._load().generate_lock
    started = time.perf_counter()
    assert await asyncio.to_thread(lock.acquire, timeout=1.0)  # the worker let go at once
    lock.release()
    assert time.perf_counter() - started < 0.5


@pytest.mark.slow
async def test_cancelling_the_task_stops_generation(gemma: EmbeddedChat) -> None:
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in gemma.astream_chat(STORY, greedy(max_tokens=400)):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), timeout=30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The next question is answered at once, not after 400 tokens of the cancelled story.
    started = time.perf_counter()
    assert "self-attention" in "".join(await collect(gemma, GROUNDED, max_tokens=12))
    assert time.perf_counter() - started < 3
