"""Language-model backends behind one small interface, and the choice between them."""

from __future__ import annotations

from rag.errors import ConfigError, LLMError, ModelNotFound
from rag.llm.base import ChatMessage, ChatModel, GenerationOptions, iterate_async
from rag.llm.embedded import EmbeddedChat
from rag.llm.fake import ScriptedChat
from rag.llm.llamaindex_llm import LlamaIndexChat, is_llamaindex_llm
from rag.llm.ollama import OllamaChat, check_ollama_host, ollama_chat_models
from rag.settings import Settings

__all__ = [
    "ChatMessage",
    "ChatModel",
    "EmbeddedChat",
    "GenerationOptions",
    "LlamaIndexChat",
    "OllamaChat",
    "ScriptedChat",
    "check_ollama_host",
    "as_chat_model",
    "iterate_async",
    "make_chat_model",
    "ollama_chat_models",
]

# "auto" must decide fast: a live local server answers in milliseconds.
AUTO_PROBE_TIMEOUT_S = 1.0

_CHOICES = "auto, ollama, ollama:<model>, embedded or none"


def make_chat_model(settings: Settings, backend: str | None = None) -> ChatModel:
    """The chat model ``backend`` names (default ``settings.llm.backend``).

    ``backend`` is ``"auto"`` (Ollama if a server answers within a second and has a chat
    model, else embedded), ``"ollama"``, ``"ollama:<model>"`` or ``"embedded"``. Nothing is
    loaded here; call ``check()`` on the result before first use.

    Raises:
        ValueError: for ``"none"``: the answer layer answers extractively without a model.
        ConfigError: for a name that is no backend.
        BackendUnavailable, ModelNotFound: for ``"ollama"`` without a model name, when the
            server is down or has no chat model to default to.
    """
    choice = (backend or settings.llm.backend).strip()
    kind, _, model = choice.partition(":")  # model names have colons too: ollama:qwen3:4b
    kind = kind.lower()
    host = settings.ollama_host()
    if kind in ("none", "extractive"):
        raise ValueError("backend 'none' has no chat model; the answer layer answers without one")
    if kind == "ollama":
        name = model or settings.llm.ollama_model or _default_ollama_model(host)
        return _ollama(settings, name)
    if model:
        raise ConfigError(f"--llm {choice!r}: only ollama takes a model name; use ollama:{model}")
    if kind == "embedded":
        return EmbeddedChat(n_threads=settings.llm.n_threads)
    if kind == "auto":
        found = _auto_ollama_model(host, settings.llm.ollama_model)
        if found is not None:
            return _ollama(settings, found)
        return EmbeddedChat(n_threads=settings.llm.n_threads)
    raise ConfigError(f"unknown LLM backend {choice!r}; choose {_CHOICES}")


def as_chat_model(llm: object) -> ChatModel:
    """``llm=`` given as an object: a ``ChatModel`` as it is, a llama-index ``LLM`` (e.g.
    ``OpenAILike`` for LM Studio, llama.cpp's server or vLLM) wrapped in ``LlamaIndexChat``.

    Raises:
        ConfigError: for anything else.
    """
    if isinstance(llm, ChatModel):
        return llm
    if is_llamaindex_llm(llm):
        return LlamaIndexChat(llm=llm)
    raise ConfigError(
        f"llm= takes a backend name ({_CHOICES}), a ChatModel or a llama-index LLM, "
        f"not {type(llm).__name__}"
    )


def _ollama(settings: Settings, model: str) -> OllamaChat:
    return OllamaChat(model=model, host=settings.ollama_host(), timeout_s=settings.llm.timeout_s)


def _default_ollama_model(host: str) -> str:
    models = ollama_chat_models(host, timeout=AUTO_PROBE_TIMEOUT_S * 5)
    if not models:
        raise ModelNotFound(
            f"Ollama at {host} has no chat model; run `ollama pull llama3.2` or use --llm embedded"
        )
    return models[0]


def _auto_ollama_model(host: str, preferred: str | None) -> str | None:
    """The Ollama model "auto" should use, or None to fall back to the embedded model."""
    try:
        models = ollama_chat_models(host, timeout=AUTO_PROBE_TIMEOUT_S)
    except LLMError:
        return None
    if preferred:
        wanted = preferred if ":" in preferred else f"{preferred}:latest"
        for name in models:
            if name.lower() == wanted.lower():
                return name
    return models[0] if models else None
