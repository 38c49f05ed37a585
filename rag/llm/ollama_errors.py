"""What can go wrong talking to Ollama, as our own errors: the host check, the import of
the ``ollama`` package, and the translation of whatever its client raises.

Every message names the host or model and says what to do next; ``translate`` is the one
place that knows which httpx, ollama and pydantic exceptions can escape the client.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag.errors import (
    BackendUnavailable,
    ConfigError,
    LLMError,
    LLMTimeout,
    ModelNotFound,
    PapersError,
    StreamInterrupted,
)

if TYPE_CHECKING:
    import ollama

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_HOST",
    "METADATA_TIMEOUT_S",
    "call",
    "cause",
    "check_ollama_host",
    "choose_from",
    "import_ollama",
    "interrupted",
    "make_client",
    "missing_model_message",
    "not_running",
    "sync_client",
    "translate",
]

DEFAULT_HOST = "http://127.0.0.1:11434"
# Listing and showing models is quick on a live server; don't let a hung one stall startup.
METADATA_TIMEOUT_S = 10.0
# Seconds to wait for a connection: a live server, even a remote one, accepts in far less.
CONNECT_TIMEOUT_S = 10.0
# Server words quoted in an error message are cut here: a proxy's error page is long HTML.
_QUOTE_CHARS = 200


def choose_from(names: Sequence[str]) -> str:
    """The end of a missing-model message: the models there are, or how to get one."""
    if names:
        return "choose one of: " + ", ".join(names)
    return "pull a chat model with `ollama pull llama3.2` or use --llm embedded"


def missing_model_message(model: str, chat_models: Sequence[str]) -> str:
    """Ollama lacks ``model``: how to pull it, and the chat models to choose from instead."""
    missing = f"Ollama has no model '{model}'; run `ollama pull {model}`"
    return f"{missing} or {choose_from(chat_models)}" if chat_models else missing


def check_ollama_host(host: str) -> str:
    """``host`` (an Ollama server address as in ``OLLAMA_HOST``), stripped of spaces at its
    ends; ``ConfigError`` naming it if the ``ollama`` client could not use it."""
    import httpx

    text = host.strip()
    scheme = text.partition("://")[0].lower() if "://" in text else "http"
    problem = ""
    if not text:
        problem = "it is empty"
    elif any(c.isspace() for c in text):
        problem = "it contains a space"
    elif scheme not in ("http", "https"):
        problem = f"{scheme}:// is not http:// or https://"
    else:
        try:
            port = urllib.parse.urlsplit(text if "://" in text else f"http://{text}").port
            if port == 0:
                problem = "port 0 is no port"
            else:
                import_ollama().Client(host=text).close()  # what the client itself rejects
        except (ValueError, httpx.InvalidURL) as exc:
            problem = _one_line(exc) or type(exc).__name__
    if problem:
        raise ConfigError(
            f"the Ollama host {host!r} is not a valid address ({problem}); set OLLAMA_HOST "
            f"(or llm.ollama_host) to one like {DEFAULT_HOST}, or use --llm embedded"
        )
    return text


def import_ollama() -> Any:
    """The ``ollama`` package, or ``ConfigError`` if it cannot be imported because of
    OLLAMA_HOST: the package makes a default client from that variable as it loads, and a
    malformed value (``http://127.0.0.1:99999``) makes the import itself fail."""
    import httpx

    try:
        import ollama
    except (ValueError, httpx.InvalidURL) as exc:
        raise ConfigError(
            f"the ollama package rejects OLLAMA_HOST ({_one_line(exc)}); set it to an address "
            f"like {DEFAULT_HOST}, or unset it"
        ) from None
    return ollama


def make_client(cls: Any, host: str, timeout: Any) -> Any:
    """``cls(host=host, timeout=timeout)`` for ``ollama.Client`` or ``AsyncClient``; a
    ``ConfigError`` instead of the ValueError a malformed host raises."""
    import httpx

    try:
        return cls(host=host, timeout=timeout)
    except (ValueError, httpx.InvalidURL):
        check_ollama_host(host)  # raises the ConfigError that says what is wrong
        raise


def sync_client(host: str, timeout: float) -> ollama.Client:
    """A sync client whose every read waits ``timeout`` s at most (connecting: 10 s)."""
    import httpx

    return make_client(
        import_ollama().Client,
        host,
        httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S)),
    )


def not_running(host: str) -> BackendUnavailable:
    """Nothing accepts connections at ``host``."""
    return BackendUnavailable(
        f"Ollama is not running at {host}; start it with `ollama serve` or use --llm embedded"
    )


def _not_ollama(host: str, what: str) -> BackendUnavailable:
    return BackendUnavailable(
        f"the server at {host} does not answer like Ollama ({what}); check that OLLAMA_HOST "
        "points at an Ollama server, or use --llm embedded"
    )


def interrupted(why: str) -> StreamInterrupted:
    """The answer stream broke off; ``why`` is httpx's or our words for it."""
    return StreamInterrupted(f"the Ollama stream stopped part-way: {why.rstrip('.')}; try again")


def _one_line(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS].rstrip() + "…"


def cause(exc: BaseException) -> BaseException | None:
    # Failures we expect need no traceback behind their message; anything else keeps its
    # cause, for whoever debugs through the Python API (the CLI shows one line either way).
    return None if _expected(exc) else exc


def _expected(exc: BaseException) -> bool:
    import httpx
    import pydantic

    ollama = import_ollama()
    return isinstance(
        exc,
        (
            PapersError,
            ollama.ResponseError,
            ConnectionError,
            httpx.HTTPError,
            json.JSONDecodeError,
            pydantic.ValidationError,
        ),
    )


def translate(
    exc: BaseException,
    host: str,
    model: str,
    *,
    chat: bool = False,
    started: bool = False,
    timeout_s: float = METADATA_TIMEOUT_S,
    names: Sequence[str] = (),
) -> PapersError:
    """Our error, in words a user can act on, for anything the ``ollama`` client raised.

    ``chat`` says a chat stream was being read, ``started`` that answer text had come.
    ``names`` are the server's chat models, listed when a model is missing.
    """
    import httpx
    import pydantic

    if isinstance(exc, PapersError):
        return exc
    ollama = import_ollama()
    if isinstance(exc, ollama.ResponseError):
        return _response_error(exc, host, model, names)
    if isinstance(exc, httpx.ConnectTimeout):
        return BackendUnavailable(
            f"Ollama at {host} did not accept a connection within "
            f"{min(timeout_s, CONNECT_TIMEOUT_S):g} s; check OLLAMA_HOST and the network, "
            "or use --llm embedded"
        )
    if isinstance(exc, (ConnectionError, httpx.ConnectError)):
        if started:
            return interrupted("the connection was lost")
        # The sync client re-raises httpx's ConnectError as a bare ConnectionError; the
        # original, with the reason, is still its context.
        detail = _one_line(exc if exc.__context__ is None else exc.__context__)
        if re.search(r"name or service|nodename|name resolution|getaddrinfo", detail, re.I):
            return BackendUnavailable(
                f"cannot find the Ollama host {host} ({detail}); check OLLAMA_HOST "
                "or use --llm embedded"
            )
        return not_running(host)
    if isinstance(exc, httpx.TimeoutException):
        if started:
            return LLMTimeout(
                f"Ollama stopped sending part-way through the answer (nothing for "
                f"{timeout_s:g} s); try again, or raise llm.timeout_s"
            )
        if chat:
            return LLMTimeout(
                f"Ollama sent nothing for {timeout_s:g} s; the model may still be loading: "
                "try again, or raise llm.timeout_s"
            )
        return LLMTimeout(
            f"Ollama at {host} did not answer in time; check that `ollama serve` is healthy "
            "or use --llm embedded"
        )
    if isinstance(exc, httpx.TransportError):
        if chat:
            return interrupted(_one_line(exc) or type(exc).__name__)
        return BackendUnavailable(
            f"Ollama at {host} dropped the connection ({_one_line(exc) or type(exc).__name__});"
            " check `ollama serve`"
        )
    if isinstance(exc, httpx.HTTPError):  # a body that cannot be decoded, endless redirects
        return _not_ollama(host, _one_line(exc) or type(exc).__name__)
    # Not JSON (an HTML page), JSON of another shape, or JSON that is no object: the client
    # fails in json.loads, in pydantic, or on ``part.get`` (AttributeError).
    if isinstance(
        exc, (json.JSONDecodeError, pydantic.ValidationError, TypeError, KeyError, AttributeError)
    ):
        what = "a reply that is not Ollama's JSON"
        return interrupted(what) if started else _not_ollama(host, what)
    return LLMError(
        f"talking to Ollama at {host} failed ({type(exc).__name__}: {_one_line(exc)}); "
        "check `ollama serve`, or use --llm embedded"
    )


def _response_error(
    exc: ollama.ResponseError, host: str, model: str, names: Sequence[str]
) -> PapersError:
    text = _one_line(exc.error)
    status = exc.status_code
    if status < 0:  # an {"error": ...} line inside the stream
        return LLMError(
            f"Ollama failed while answering: {text}; try again, or see `ollama serve`'s log"
        )
    if status == 404:
        # Ollama's own 404s name the model; any other 404 ("404 page not found") is a
        # server without Ollama's API at that address.
        if model and "model" in text.lower():
            return ModelNotFound(missing_model_message(model, names))
        return _not_ollama(host, f"HTTP 404: {text}")
    if status in (429, 503):
        return BackendUnavailable(
            f"Ollama at {host} is busy (HTTP {status}: {text}); try again in a moment"
        )
    if status in (401, 403, 407):
        return BackendUnavailable(
            f"the server at {host} refused access (HTTP {status}: {text}); check OLLAMA_HOST "
            "and any proxy in between"
        )
    if status >= 500:
        return LLMError(
            f"Ollama failed (HTTP {status}): {text}; try again, or see `ollama serve`'s log"
        )
    return LLMError(
        f"Ollama refused the request (HTTP {status}): {text}; check --llm and the llm settings"
    )


def call(fn: Any, host: str, model: str) -> Any:
    """Run a sync client call, translating its failures into our errors."""
    try:
        return fn()
    except Exception as exc:
        raise translate(exc, host, model) from cause(exc)
