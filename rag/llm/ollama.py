"""Chat with a model served by Ollama, through the official ``ollama`` client."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag.errors import BackendUnavailable, LLMError, LLMTimeout, ModelNotFound, StreamInterrupted
from rag.llm.base import ChatMessage, ChatModel, GenerationOptions

if TYPE_CHECKING:
    import ollama

# httpx and ollama are imported where used: together they cost a fifth of a second, which
# commands that never talk to Ollama should not pay.

__all__ = ["DEFAULT_HOST", "OllamaChat", "ollama_chat_models"]

DEFAULT_HOST = "http://127.0.0.1:11434"

# Listing and showing models is quick on a live server; don't let a hung one stall startup.
_METADATA_TIMEOUT_S = 10.0
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

    # --- metadata (sync) -------------------------------------------------------------

    def _client(self) -> ollama.Client:
        import ollama

        return ollama.Client(host=self.host, timeout=min(self.timeout_s, _METADATA_TIMEOUT_S))

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
                f"{_choose_from(chat_models)}"
            )
        raise ModelNotFound(_missing_model_message(self.model, chat_models))

    def context_window(self) -> int:
        """The window from ``/api/show``: the Modelfile's ``num_ctx`` if set, capped at the
        trained context length. Read once and cached."""
        with self._lock:
            if self._window is None:
                client = self._client()
                try:
                    shown = _call(lambda: client.show(self.model), self.host, self.model)
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
        import ollama

        # A client per call: httpx's async pool belongs to one event loop, and the sync
        # twin runs each call on a fresh loop.
        client = ollama.AsyncClient(
            host=self.host, timeout=httpx.Timeout(options.timeout_s, connect=10.0)
        )
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
                    text = part.message.content if part.message else None
                    if text:
                        started = True
                        yield text
                    if part.done:
                        finished = True
                        break
            except ollama.ResponseError as exc:
                if exc.status_code == 404:
                    raise ModelNotFound(
                        _missing_model_message(self.model, await _achat_names(client))
                    ) from None
                raise _response_error(exc, started) from None
            except (ConnectionError, httpx.ConnectError):
                if started:
                    raise _interrupted("the connection was refused") from None
                raise _not_running(self.host) from None
            except httpx.TimeoutException:
                raise LLMTimeout(
                    f"Ollama sent nothing for {options.timeout_s:g} s; the model may still be "
                    "loading: try again, or raise llm.timeout_s"
                ) from None
            except (httpx.TransportError, json.JSONDecodeError) as exc:
                raise _interrupted(_one_line(exc) or type(exc).__name__) from None
        finally:
            await client.close()
        if not finished:
            raise _interrupted("the server ended the answer without its final message")


# --- discovery ------------------------------------------------------------------------


def ollama_chat_models(host: str = DEFAULT_HOST, timeout: float = 1.0) -> list[str]:
    """Installed models that can chat, most recently modified first.

    Raises ``BackendUnavailable`` if nothing answers at ``host`` and ``LLMTimeout`` if the
    server is too slow.
    """
    import ollama

    client = ollama.Client(host=host, timeout=timeout)
    try:
        return _chat_models(client, host)
    finally:
        client.close()


def _installed(client: ollama.Client, host: str) -> list[tuple[str, str]]:
    """(name, family) of every installed model."""
    listed = _call(client.list, host, "")
    out = []
    for m in listed.models:
        if m.model:
            out.append((m.model, (m.details.family if m.details else None) or ""))
    return out


def _chat_models(client: ollama.Client, host: str) -> list[str]:
    import httpx
    import ollama

    chat = []
    for name, family in _installed(client, host):
        try:
            caps = client.show(name).capabilities
        except (ollama.ResponseError, httpx.HTTPError, ConnectionError):
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


def _choose_from(names: Sequence[str]) -> str:
    if names:
        return "choose one of: " + ", ".join(names)
    return "pull a chat model with `ollama pull llama3.2` or use --llm embedded"


def _missing_model_message(model: str, chat_models: Sequence[str]) -> str:
    missing = f"Ollama has no model '{model}'; run `ollama pull {model}`"
    return f"{missing} or {_choose_from(chat_models)}" if chat_models else missing


def _not_running(host: str) -> BackendUnavailable:
    return BackendUnavailable(
        f"Ollama is not running at {host}; start it with `ollama serve` or use --llm embedded"
    )


def _interrupted(why: str) -> StreamInterrupted:
    return StreamInterrupted(f"the Ollama stream stopped part-way: {why}; try again")


def _response_error(exc: ollama.ResponseError, started: bool) -> LLMError:
    text = _one_line(exc.error)
    if started or exc.status_code < 0:  # an {"error": ...} line inside the stream
        return LLMError(f"Ollama failed while answering: {text}")
    return LLMError(f"Ollama refused the request (HTTP {exc.status_code}): {text}")


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _call(fn: Any, host: str, model: str) -> Any:
    """Run a sync client call, translating its failures into our errors."""
    import httpx
    import ollama

    try:
        return fn()
    except ollama.ResponseError as exc:
        if exc.status_code == 404 and model:
            raise ModelNotFound(_missing_model_message(model, [])) from None
        raise _response_error(exc, False) from None
    except (ConnectionError, httpx.ConnectError):
        raise _not_running(host) from None
    except httpx.TimeoutException:
        raise LLMTimeout(
            f"Ollama at {host} did not answer in time; check that `ollama serve` is healthy "
            "or use --llm embedded"
        ) from None
    except httpx.TransportError as exc:
        raise BackendUnavailable(
            f"Ollama at {host} dropped the connection ({_one_line(exc)}); check `ollama serve`"
        ) from None
