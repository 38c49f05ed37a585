"""Chat with a model served by Ollama, through the official ``ollama`` client."""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag.errors import BackendUnavailable, LLMError, ModelNotFound
from rag.llm.base import ChatMessage, ChatModel, GenerationOptions
from rag.llm.ollama_errors import (
    CONNECT_TIMEOUT_S,
    DEFAULT_HOST,
    METADATA_TIMEOUT_S,
    call,
    cause,
    check_ollama_host,
    choose_from,
    import_ollama,
    interrupted,
    make_client,
    missing_model_message,
    sync_client,
    translate,
)

if TYPE_CHECKING:
    import ollama

# httpx and ollama are imported where used: together they cost a fifth of a second, which
# commands that never talk to Ollama should not pay.

__all__ = [
    "DEFAULT_HOST",
    "OllamaChat",
    "check_ollama_host",
    "import_ollama",
    "ollama_chat_models",
]

# Ollama's own default when neither the Modelfile nor the request sets num_ctx.
_FALLBACK_WINDOW = 2048
# Embedding-only architectures, for servers too old to report capabilities.
_EMBEDDING_FAMILIES = frozenset({"bert", "nomic-bert", "nomic-bert-moe", "xlm-roberta", "gte"})


@dataclass
class OllamaChat(ChatModel):
    """An Ollama chat model.

    ``timeout_s`` bounds the metadata calls (list, show); a chat's timeout comes from
    ``GenerationOptions.timeout_s`` and applies to each read, so a long answer that keeps
    streaming never times out, but a server that stops sending does.
    """

    model: str = ""
    host: str = DEFAULT_HOST
    timeout_s: float = 120.0
    _window: int | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.backend = "ollama"
        if not self.model:
            raise ValueError("OllamaChat needs a model name, e.g. OllamaChat(model='llama3.2')")
        # A malformed address fails here, in words, rather than deep in httpx at first use.
        self.host = check_ollama_host(self.host)

    # --- metadata (sync) -------------------------------------------------------------

    def _client(self) -> ollama.Client:
        return sync_client(self.host, min(self.timeout_s, METADATA_TIMEOUT_S))

    def check(self) -> None:
        """Raise unless the server answers and has this model, able to chat."""
        client = self._client()
        try:
            chat_models = _chat_models(client, self.host)
            if _same_model(self.model, chat_models):
                return
            installed = _installed(client, self.host)
        finally:
            client.close()
        if _same_model(self.model, [name for name, _ in installed]):
            raise ModelNotFound(
                f"Ollama model '{self.model}' cannot chat (it is an embedding model); "
                f"{choose_from(chat_models)}"
            )
        raise ModelNotFound(missing_model_message(self.model, chat_models))

    def context_window(self) -> int:
        """The window from ``/api/show``: the Modelfile's ``num_ctx`` if set, capped at the
        trained context length. Read once and cached."""
        with self._lock:
            if self._window is None:
                client = self._client()
                try:
                    shown = call(lambda: client.show(self.model), self.host, self.model)
                except ModelNotFound:
                    self.check()  # raises the same error, listing the models there are
                    raise
                finally:
                    client.close()
                self._window = _window_from_show(shown)
            return self._window

    # --- chat (async) ----------------------------------------------------------------

    async def astream_chat(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[str]:
        """Stream the reply's text deltas; raise an ``LLMError`` subclass on failure."""
        import httpx

        ollama = import_ollama()

        # A client per call: httpx's async pool belongs to one event loop, and the sync
        # twin runs each call on a fresh loop.
        client = make_client(
            ollama.AsyncClient,
            self.host,
            httpx.Timeout(options.timeout_s, connect=min(options.timeout_s, CONNECT_TIMEOUT_S)),
        )
        parts = 0  # stream objects received, text or not
        started = finished = False
        try:
            try:
                stream = await client.chat(
                    model=self.model,
                    messages=[{"role": m.role, "content": m.content} for m in messages],
                    stream=True,
                    options=_request_options(options),
                    # Thinking tokens would count against num_predict and could use up
                    # the whole answer budget before any answer text arrives.
                    think=False,
                )
                async for part in stream:
                    parts += 1
                    text = part.message.content if part.message else None
                    if text:
                        started = True
                        yield text
                    if part.done:
                        finished = True
                        break
            except ollama.ResponseError as exc:
                names = await _achat_names(client) if exc.status_code == 404 else []
                raise translate(exc, self.host, self.model, names=names) from None
            except Exception as exc:
                raise translate(
                    exc, self.host, self.model, chat=True, started=started,
                    timeout_s=options.timeout_s,
                ) from cause(exc)  # fmt: skip
        finally:
            await client.close()
        if not finished and parts:
            raise interrupted("the server ended the answer without its final message")
        if not finished:
            raise BackendUnavailable(
                f"Ollama at {self.host} ended the answer before sending any of it; try again, "
                "and check that OLLAMA_HOST points at an Ollama server"
            )


# --- discovery ------------------------------------------------------------------------


def ollama_chat_models(host: str = DEFAULT_HOST, timeout: float = 1.0) -> list[str]:
    """Installed models that can chat, most recently modified first.

    Raises ``ConfigError`` if ``host`` is no address, ``BackendUnavailable`` if nothing (or
    something other than Ollama) answers there, ``LLMTimeout`` if the server is too slow.
    """
    host = check_ollama_host(host)
    client = sync_client(host, timeout)
    try:
        return _chat_models(client, host)
    finally:
        client.close()


def _installed(client: ollama.Client, host: str) -> list[tuple[str, str]]:
    """(name, family) of every installed model."""
    listed = call(client.list, host, "")
    out = []
    for m in listed.models:
        if m.model:
            out.append((m.model, (m.details.family if m.details else None) or ""))
    return out


def _chat_models(client: ollama.Client, host: str) -> list[str]:
    chat = []
    for name, family in _installed(client, host):
        try:
            caps = call(lambda name=name: client.show(name), host, name).capabilities
        except LLMError:
            caps = None  # judge by name and family below
        if caps is not None:
            if "completion" in caps:
                chat.append(name)
        elif family not in _EMBEDDING_FAMILIES and "embed" not in name:
            chat.append(name)
    return chat


async def _achat_names(client: ollama.AsyncClient) -> list[str]:
    """Chat-capable model names for an error message; best effort, never raises."""
    try:
        listed = await client.list()
        names = []
        for m in listed.models:
            if not m.model:
                continue
            caps = (await client.show(m.model)).capabilities
            if caps is None or "completion" in caps:
                names.append(m.model)
        return names
    except Exception:
        return []


# --- helpers --------------------------------------------------------------------------


def _request_options(options: GenerationOptions) -> dict[str, Any]:
    opts: dict[str, Any] = {"num_predict": options.max_tokens, "temperature": options.temperature}
    if options.num_ctx:
        opts["num_ctx"] = options.num_ctx
    if options.stop:
        opts["stop"] = list(options.stop)
    return opts


def _window_from_show(shown: Any) -> int:
    trained = None
    for key, value in (shown.modelinfo or {}).items():
        if key.endswith(".context_length") and isinstance(value, int):
            trained = value
    match = re.search(r"^\s*num_ctx\s+(\d+)", shown.parameters or "", re.MULTILINE)
    configured = int(match.group(1)) if match else None
    sizes = [n for n in (trained, configured) if n]
    return min(sizes) if sizes else _FALLBACK_WINDOW


def _full_name(name: str) -> str:
    # Ollama treats a name without a tag as ":latest".
    return (name if ":" in name else f"{name}:latest").lower()


def _same_model(name: str, names: Sequence[str]) -> bool:
    return _full_name(name) in {_full_name(n) for n in names}
