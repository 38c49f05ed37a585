"""Any llama-index LLM as our chat model, inside the checked-citation pipeline: servers
that speak OpenAI's API (LM Studio, llama.cpp's server, vLLM, through ``OpenAILike``),
llama-index's own Ollama LLM, or any other llama-index integration.

llama-index is imported only when such an LLM is used: importing ``llama_index.core.llms``
took 1.5 s on the development machine, which ``import rag`` and every string ``llm=`` must
not pay.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.errors import BackendUnavailable, LLMError, LLMTimeout, ModelNotFound, StreamInterrupted
from rag.llm.base import ChatMessage, ChatModel, GenerationOptions
from rag.llm.embedded import plain_prompt

__all__ = ["LlamaIndexChat", "is_llamaindex_llm", "translate"]

# Exceptions (by class name) that say nothing answered at the LLM's address: httpx's,
# openai's and aiohttp's, and the OS's own.
_UNREACHABLE = frozenset(
    {"ConnectError", "APIConnectionError", "ClientConnectorError", "ConnectionRefusedError"}
)
# Server words quoted in an error message are cut here: a proxy's error page is long HTML.
_QUOTE_CHARS = 200


def is_llamaindex_llm(obj: object) -> bool:
    """Whether ``obj`` is a ``llama_index.core.llms.LLM``, importing llama-index only if
    something already has: nobody can hold such an LLM without having imported it."""
    if "llama_index.core" not in sys.modules:
        return False
    from llama_index.core.llms import LLM

    return isinstance(obj, LLM)


@dataclass
class LlamaIndexChat(ChatModel):
    """A llama-index ``LLM`` behind our small interface.

    A chat model (``llm.metadata.is_chat_model``) gets our messages through
    ``astream_chat``; a completion-only model gets them as the plain document our embedded
    base model reads (``plain_prompt``), through ``astream_complete``, and is then treated
    as a model that writes documents. The LLM's own settings (max_tokens, temperature,
    timeouts, stop words) stay its own: llama-index has no per-call options every
    integration honours, so ``GenerationOptions`` only bounds how long we wait for text.
    """

    llm: Any = None  # llama_index.core.llms.LLM
    _metadata: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.backend = "llama-index"
        if not is_llamaindex_llm(self.llm):
            raise TypeError(
                f"LlamaIndexChat needs a llama-index LLM, not {type(self.llm).__name__}"
            )
        self.model = self.model or _model_name(self.llm)

    @property
    def label(self) -> str:
        """The LLM in words for messages: "OpenAILike at http://localhost:1234/v1"."""
        name = type(self.llm).__name__
        where = _address(self.llm)
        return f"{name} at {where}" if where else f"the llama-index LLM {name}"

    def metadata(self) -> Any:
        """``llm.metadata``, read once: some integrations ask their server for it (llama-index's
        Ollama calls ``/api/show`` for the context window)."""
        if self._metadata is None:
            try:
                self._metadata = self.llm.metadata
            except Exception as exc:
                raise translate(exc, self.label, self.model) from _cause(exc)
        return self._metadata

    def check(self) -> None:
        self.metadata()

    def context_window(self) -> int:
        return int(self.metadata().context_window)

    def writes_documents(self) -> bool:
        return not self.metadata().is_chat_model

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        if self.writes_documents():
            return self.count_tokens(plain_prompt(messages))
        return super().prompt_tokens(messages)

    async def astream_chat(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[str]:
        """Stream the reply's text deltas; raise an ``LLMError`` subclass on failure.

        The LLM runs on one event loop of its own, in a thread (see :func:`_llm_loop`);
        its deltas come back to the caller's loop through a queue.
        """
        document = await asyncio.to_thread(self.writes_documents)
        caller = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def send(kind: str, value: Any) -> None:
            try:
                caller.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:
                pass  # the caller's loop is gone; nobody is listening

        async def pump() -> None:
            started = False
            try:
                async for delta in self._deltas(messages, document, options.timeout_s):
                    started = True
                    send("text", delta)
            except LLMError as exc:
                send("error", exc)
            except Exception as exc:
                error = translate(exc, self.label, self.model, started=started)
                error.__cause__ = _cause(exc)
                send("error", error)
            else:
                send("done", None)

        running = asyncio.run_coroutine_threadsafe(pump(), _llm_loop())
        try:
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    yield value
                elif kind == "error":
                    value.__suppress_context__ = True
                    raise value
                else:
                    return
        finally:
            running.cancel()  # the consumer stopped early: stop the LLM too

    async def _deltas(
        self, messages: Sequence[ChatMessage], document: bool, timeout_s: float
    ) -> AsyncIterator[str]:
        """The LLM's text deltas; runs on the LLM's loop.

        Each wait (for the stream, then for each part) is bounded by our timeout, whatever
        the LLM's client allows: a server that stops sending must not hang the question.
        """
        if document:
            opening = self.llm.astream_complete(plain_prompt(messages))
        else:
            from llama_index.core.llms import ChatMessage as LlamaMessage

            opening = self.llm.astream_chat(
                [LlamaMessage(role=m.role, content=m.content) for m in messages]
            )
        try:
            stream = await asyncio.wait_for(opening, timeout_s)
        except TimeoutError:
            raise _silent(self.label, timeout_s, started=False) from None
        started = False
        try:
            while True:
                try:
                    part = await asyncio.wait_for(anext(stream), timeout_s)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise _silent(self.label, timeout_s, started) from None
                if part.delta:
                    started = True
                    yield part.delta
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()


# --- the loop the LLMs run on -------------------------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _llm_loop() -> asyncio.AbstractEventLoop:
    """One event loop, in a daemon thread, for every llama-index LLM of this process.

    LLM integrations keep an async HTTP client bound to the loop of their first call
    (llama-index's Ollama caches ``ollama.AsyncClient``; ``OpenAI`` reuses its client).
    Our sync twins run each question on a fresh loop, so the second ``lib.ask`` with the
    same LLM failed with "Event loop is closed" (measured with llama-index-llms-ollama
    0.11 against the stand-in server). On one loop of their own, they always see the same.
    """
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="papers-llama-index")
            thread.daemon = True
            thread.start()
            _loop = loop
        return _loop


# --- errors -------------------------------------------------------------------------------


def translate(exc: BaseException, label: str, model: str, *, started: bool = False) -> LLMError:
    """Our error, in one line a user can act on, for whatever a llama-index LLM raised."""
    if isinstance(exc, LLMError):
        return exc
    detail = _one_line(exc) or type(exc).__name__
    kind = _kind(exc)
    if kind == "timeout":
        return LLMTimeout(
            f"{label} did not answer in time ({detail}); try again, or raise the LLM's own "
            "timeout (request_timeout, timeout)"
        )
    status = _status(exc)
    if status == 404:
        return ModelNotFound(
            f"{label} has no model '{model}' ({detail}); use a model name the server lists"
        )
    if status in (401, 403):
        return BackendUnavailable(
            f"{label} refused the request ({status}: {detail}); check the LLM's api_key"
        )
    if status is not None:
        return LLMError(f"{label} answered with HTTP {status} ({detail}); check its log, try again")
    if started:
        return StreamInterrupted(f"the answer from {label} stopped part-way ({detail}); try again")
    if kind == "unreachable":
        return BackendUnavailable(
            f"cannot reach {label} ({detail}); start the server or fix the LLM's address"
        )
    if kind == "dropped":
        return BackendUnavailable(
            f"{label} dropped the connection before answering ({detail}); check that the "
            "server is healthy and try again"
        )
    return LLMError(
        f"{label} failed ({type(exc).__name__}: {detail}); try again or use another llm"
    )


def _kind(exc: BaseException) -> str | None:
    """What went wrong: "timeout", "unreachable", "dropped", "status", or None for the rest.

    Integrations raise their own clients' exceptions (httpx, ollama, openai, aiohttp), none
    of which papers depends on; their class names, up the class hierarchy, tell timeouts,
    refused connections and dropped ones apart without importing any of them.
    """
    # Clients that re-raise keep the original as context: ollama's sync client turns
    # httpx's ConnectError into a bare ConnectionError.
    chain = (exc, exc.__cause__, exc.__context__)
    names = [c.__name__ for e in chain if e is not None for c in type(e).__mro__]
    if isinstance(exc, TimeoutError) or any("Timeout" in n for n in names):
        return "timeout"
    if _status(exc) is not None:
        return "status"
    if "RemoteProtocolError" in names or "ProtocolError" in names:
        return "dropped"  # httpx: the server closed the connection without a response
    if _UNREACHABLE.intersection(names):
        return "unreachable"
    if isinstance(exc, ConnectionError) or "TransportError" in names:
        return "dropped"
    return None


def _silent(label: str, timeout_s: float, started: bool) -> LLMTimeout:
    if started:
        return LLMTimeout(
            f"{label} stopped sending part-way through the answer (nothing for {timeout_s:g} s); "
            "try again, or raise llm.timeout_s"
        )
    return LLMTimeout(
        f"{label} sent nothing for {timeout_s:g} s; the model may still be loading: try again, "
        "or raise llm.timeout_s"
    )


def _status(exc: BaseException) -> int | None:
    """The HTTP status of a status error (ollama's, openai's, httpx's), if it is one."""
    response = getattr(exc, "response", None)
    for value in (getattr(exc, "status_code", None), getattr(response, "status_code", None)):
        if isinstance(value, int) and 100 <= value < 600:
            return value
    return None


def _cause(exc: BaseException) -> BaseException | None:
    # A failure we recognise needs no traceback behind its message; anything else keeps its
    # cause, for whoever debugs through the Python API (the CLI shows one line either way).
    return None if _kind(exc) is not None else exc


def _one_line(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS].rstrip() + "…"


def _model_name(llm: Any) -> str:
    # Not ``llm.metadata.model_name``: some integrations ask their server for metadata.
    for attr in ("model", "model_name"):
        value = getattr(llm, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(llm).__name__


def _address(llm: Any) -> str:
    for attr in ("api_base", "base_url", "endpoint"):
        value = getattr(llm, attr, None)
        if isinstance(value, str) and value:
            return value
    return ""
