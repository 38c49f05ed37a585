"""The one small interface every language-model backend implements."""

from __future__ import annotations

import abc
import asyncio
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")

# Per-message overhead of a chat template, in tokens.
MESSAGE_OVERHEAD_TOKENS = 8


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class GenerationOptions:
    """How much and how to generate. ``num_ctx`` is the context the caller budgeted for."""

    max_tokens: int = 256
    temperature: float = 0.1
    stop: tuple[str, ...] = ()
    num_ctx: int | None = None
    timeout_s: float = 120.0


@dataclass
class ChatModel(abc.ABC):
    """A chat model that streams text.

    Implementations: ``OllamaChat`` (rag.llm.ollama), ``EmbeddedChat`` (rag.llm.embedded),
    and ``ScriptedChat`` (rag.llm.fake) for tests.
    """

    backend: str = field(init=False, default="?")
    model: str = ""
    # Whether the model can rewrite a follow-up question into a standalone one. A tiny base
    # model cannot; the conversation then condenses with a word-based rule instead.
    can_condense: ClassVar[bool] = True

    @abc.abstractmethod
    def context_window(self) -> int:
        """The model's context window in tokens."""

    @abc.abstractmethod
    def astream_chat(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[str]:
        """Yield text deltas of the reply. Raise ``LLMError`` subclasses on failure."""

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's context (an estimate unless overridden)."""
        return max(1, len(text) // 3)

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens a prompt of ``messages`` takes, template overhead included."""
        return sum(self.count_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in messages)

    def stop_strings(self) -> tuple[str, ...]:
        """Strings that end the reply, beyond the model's own end of turn."""
        return ()

    def writes_documents(self) -> bool:
        """Whether the model continues the prompt as a plain document rather than chatting.

        Such a model (a base model without a chat template) goes on past its answer to
        invent the next "Question:" or excerpt, so the answer layer cuts its reply there.
        A chat model's reply is its answer, even one that begins "Answer:". A method, not a
        class flag: an embedded model knows whether it has a chat template only once loaded.
        """
        return False

    def quotes_first(self) -> bool:
        """Whether the checked abstract sentences come first in the answer, at once, and the
        model's checked sentences after them, instead of the model leading.

        For a small base model (the packaged Gemma 3 270M) whose sentences mostly fail the
        check: leading with its text kept the first shown sentence waiting on a reply that
        was then dropped (see README "The embedded model" for the measurements).
        """
        return self.writes_documents()

    def check(self) -> None:  # noqa: B027 - optional hook
        """Raise an ``LLMError`` if the model cannot be used (called before first use)."""

    def stream_chat(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> Iterator[str]:
        """Sync twin of :meth:`astream_chat` for scripts and notebooks."""
        yield from iterate_async(self.astream_chat(messages, options))


def iterate_async(agen: AsyncIterator[T]) -> Iterator[T]:
    """Drive an async iterator from sync code, on a private event loop in a thread.

    A thread keeps this usable from inside a running loop (a notebook, a Textual worker).
    """
    import queue

    q: queue.Queue[tuple[str, Any]] = queue.Queue()

    async def pump() -> None:
        try:
            async for item in agen:
                q.put(("item", item))
        except BaseException as exc:  # forwarded to the consumer
            q.put(("error", exc))
        else:
            q.put(("done", None))

    t = threading.Thread(target=lambda: asyncio.run(pump()), daemon=True)
    t.start()
    while True:
        kind, value = q.get()
        if kind == "item":
            yield value
        elif kind == "error":
            raise value
        else:
            break
    t.join()
