"""A stand-in Ollama server: real HTTP on 127.0.0.1, Ollama's API shapes, scripted replies.

Tests queue replies with :meth:`OllamaStandin.reply`, then talk to ``server.url`` with the
real ``ollama`` client (or our backends) and assert on :attr:`OllamaStandin.requests`.
Shapes and error texts follow ollama's docs/api.md and server/routes.go.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "OllamaStandin",
    "RecordedRequest",
    "Reply",
    "StandinModel",
    "chat_model",
    "embedding_model",
    "free_port",
]

VERSION = "0.12.6"
_CHAT_EMBEDDING_LENGTH = 3072


@dataclass
class StandinModel:
    """One installed model as the stand-in reports it."""

    name: str  # "llama3.2:latest"
    family: str = "llama"
    context_length: int = 131072
    capabilities: tuple[str, ...] = ("completion",)
    num_ctx: int | None = None  # a ``PARAMETER num_ctx`` in the Modelfile
    parameter_size: str = "3.2B"
    embedding_dim: int = 0  # > 0 for embedding models; chat models embed at 3072

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()


def chat_model(name: str = "llama3.2:latest", **kw: Any) -> StandinModel:
    return StandinModel(name=name, **kw)


def embedding_model(name: str = "nomic-embed-text:latest", dim: int = 64) -> StandinModel:
    return StandinModel(
        name=name,
        family="nomic-bert",
        context_length=2048,
        capabilities=("embedding",),
        parameter_size="137M",
        embedding_dim=dim,
    )


@dataclass
class Reply:
    """One scripted answer to a ``/api/chat`` request.

    ``chunks`` are the content deltas, streamed in order. ``drop_after`` closes the
    connection after that many chunks (no final chunk, no terminating HTTP chunk);
    ``hang_up`` closes it before sending anything, headers included. ``delay_s`` waits
    before the response headers (a model still loading); ``chunk_delay_s`` waits before
    each chunk; ``stall_after`` chunks, the stream stops for ``stall_s`` (a server that
    hangs mid-answer). ``done=False`` ends the HTTP response cleanly but without the
    ``done: true`` object. ``error`` is ``(status, message)`` sent instead of a reply;
    ``stream_error`` is an ``{"error": ...}`` line sent after the chunks; ``raw_lines``
    are sent as they are after the chunks (a broken server: ``b"not json"``, ``b"[1]"``).
    ``body`` replaces the whole response: ``status``, ``content_type`` and these bytes
    (an HTML error page from a proxy, a JSON error that is no object).
    """

    chunks: list[str]
    drop_after: int | None = None
    hang_up: bool = False
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    stall_after: int | None = None
    stall_s: float = 0.0
    done: bool = True
    done_reason: str = "stop"
    error: tuple[int, str] | None = None
    stream_error: str | None = None
    raw_lines: list[bytes] = field(default_factory=list)
    body: bytes | None = None
    status: int = 200
    content_type: str = "application/x-ndjson"


@dataclass
class RecordedRequest:
    method: str
    path: str
    body: Any  # parsed JSON, or None


def split_tokens(text: str) -> list[str]:
    """Split like a tokenizer would stream: words with their leading space."""
    return re.findall(r"\s*\S+|\s+$", text) or [text]


def bag_of_words_embedding(text: str, dim: int) -> list[float]:
    """A deterministic, L2-normalised embedding where texts sharing words are close."""
    vec = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()):
        h = hashlib.sha256(word.encode()).digest()
        vec[int.from_bytes(h[:4], "little") % dim] += 1.0 if h[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0:
        vec[0], norm = 1.0, 1.0
    return [v / norm for v in vec]


def free_port() -> int:
    """A TCP port nothing listens on right now (for "server not running" tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class OllamaStandin:
    """A scriptable Ollama server in a background thread.

    Use as a context manager, or :meth:`start` / :meth:`stop`.
    """

    def __init__(self, models: list[StandinModel] | None = None) -> None:
        self.models: list[StandinModel] = (
            models if models is not None else [chat_model(), embedding_model()]
        )
        self.replies: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        self.default_reply = "Hello from the stand-in."
        self.foreign: tuple[int, str, bytes] | None = None
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting -------------------------------------------------------------------

    def reply(self, text: str | list[str], **kw: Any) -> OllamaStandin:
        """Queue a chat reply: a text (split into word tokens) or explicit chunks."""
        chunks = split_tokens(text) if isinstance(text, str) else list(text)
        self.replies.append(Reply(chunks=chunks, **kw))
        return self

    def fail(self, status: int, message: str) -> OllamaStandin:
        """Queue an HTTP error answer to the next chat request."""
        self.replies.append(Reply(chunks=[], error=(status, message)))
        return self

    def respond(
        self, status: int, body: bytes | str, content_type: str = "text/html; charset=utf-8"
    ) -> OllamaStandin:
        """Queue a whole response of any status, type and body to the next chat request."""
        data = body.encode() if isinstance(body, str) else body
        self.replies.append(Reply(chunks=[], body=data, status=status, content_type=content_type))
        return self

    def impersonate(
        self, status: int, body: bytes | str, content_type: str = "text/html; charset=utf-8"
    ) -> OllamaStandin:
        """Answer every request, on every path, with this response: another web server
        where OLLAMA_HOST points. ``impersonate`` again with ``status=0`` to stop."""
        data = body.encode() if isinstance(body, str) else body
        self.foreign = (status, content_type, data) if status else None
        return self

    def reset(self) -> None:
        """Forget queued replies, recorded requests and any impersonation."""
        self.replies.clear()
        self.requests.clear()
        self.foreign = None

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/api/chat"]

    def find(self, name: str) -> StandinModel | None:
        """The installed model ``name`` refers to; a missing tag means ``:latest``."""
        full = name if ":" in name else f"{name}:latest"
        return next((m for m in self.models if m.name.lower() == full.lower()), None)

    # --- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OllamaStandin:
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OllamaStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck in a delay must not block stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients drop keep-alive connections and time out on purpose in these tests.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: OllamaStandin
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as Ollama does
    server_version = "ollama-standin"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
        pass

    # --- plumbing --------------------------------------------------------------------

    def _read_json(self) -> tuple[Any, str | None]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None, "missing request body"
        try:
            return json.loads(raw), None
        except json.JSONDecodeError as exc:
            return None, f"invalid character in request body: {exc.msg}"

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def _send_raw(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _foreign(self) -> bool:
        """Answer as the other server the stand-in impersonates, if it does."""
        if self.owner.foreign is None:
            return False
        self._send_raw(*self.owner.foreign)
        return True

    def _write_chunk(self, obj: Any) -> None:
        self._write_raw_line(json.dumps(obj).encode())

    def _write_raw_line(self, data: bytes) -> None:
        line = data + b"\n"
        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()

    def _drop_connection(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- routes ----------------------------------------------------------------------

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", "17")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self.owner.requests.append(RecordedRequest("GET", self.path, None))
        if self._foreign():
            return
        if self.path == "/":
            data = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path == "/api/tags":
            self._send_json(200, {"models": [self._tag(m) for m in self.owner.models]})
        elif self.path == "/api/version":
            self._send_json(200, {"version": VERSION})
        else:
            self._send_404()

    def do_POST(self) -> None:  # noqa: N802
        body, err = self._read_json()
        self.owner.requests.append(RecordedRequest("POST", self.path, body))
        routes = {"/api/chat": self._chat, "/api/show": self._show, "/api/embed": self._embed}
        handler = routes.get(self.path)
        if self._foreign():
            return
        if handler is None:
            self._send_404()
        elif err is not None:
            self._error(400, err)
        else:
            try:
                handler(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client hung up (e.g. after its timeout)

    def _send_404(self) -> None:
        data = b"404 page not found"
        self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    @staticmethod
    def _details(m: StandinModel) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": m.family,
            "families": [m.family],
            "parameter_size": m.parameter_size,
            "quantization_level": "Q4_K_M",
        }

    def _tag(self, m: StandinModel) -> dict[str, Any]:
        return {
            "name": m.name,
            "model": m.name,
            "modified_at": "2025-01-01T12:00:00.000000+00:00",
            "size": 2019393189,
            "digest": m.digest,
            "details": self._details(m),
        }

    def _show(self, body: dict[str, Any]) -> None:
        name = body.get("model") or body.get("name")
        if not name:
            self._error(400, "model is required")
            return
        m = self.owner.find(name)
        if m is None:
            self._error(404, f"model '{name}' not found")
            return
        params = []
        if m.num_ctx is not None:
            params.append(f"num_ctx                        {m.num_ctx}")
        if "completion" in m.capabilities:
            params.append('stop                           "<|eot_id|>"')
        self._send_json(
            200,
            {
                "license": "",
                "modelfile": f'# Modelfile generated by "ollama show"\nFROM {m.name}\n',
                "parameters": "\n".join(params),
                "template": "{{ .Prompt }}" if "completion" in m.capabilities else "",
                "details": self._details(m),
                "model_info": {
                    "general.architecture": m.family,
                    "general.parameter_count": 3212749888,
                    f"{m.family}.context_length": m.context_length,
                    f"{m.family}.embedding_length": m.embedding_dim or _CHAT_EMBEDDING_LENGTH,
                },
                "capabilities": list(m.capabilities),
                "modified_at": "2025-01-01T12:00:00.000000+00:00",
            },
        )

    def _chat(self, body: dict[str, Any]) -> None:
        name = body.get("model")
        if not name:
            self._error(400, "model is required")
            return
        m = self.owner.find(name)
        if m is None:
            self._error(404, f'model "{name}" not found, try pulling it first')
            return
        if "completion" not in m.capabilities:
            self._error(400, f'"{name}" does not support chat')
            return
        reply = self.owner.replies.popleft() if self.owner.replies else None
        if reply is None:
            reply = Reply(chunks=split_tokens(self.owner.default_reply))
        self.owner.sleep(reply.delay_s)
        if reply.hang_up:
            self._drop_connection()
            return
        if reply.error is not None:
            self._error(*reply.error)
            return
        if reply.body is not None:
            self._send_raw(reply.status, reply.content_type, reply.body)
            return
        if body.get("stream") is False:
            self._chat_whole(name, reply)
        else:
            self._chat_stream(name, reply)

    def _final(self, name: str, reply: Reply) -> dict[str, Any]:
        return {
            "model": name,
            "created_at": _now(),
            "message": {"role": "assistant", "content": ""},
            "done_reason": reply.done_reason,
            "done": True,
            "total_duration": 4883583458,
            "load_duration": 1334875,
            "prompt_eval_count": 26,
            "prompt_eval_duration": 342546000,
            "eval_count": len(reply.chunks),
            "eval_duration": 4535599000,
        }

    def _chat_whole(self, name: str, reply: Reply) -> None:
        final = self._final(name, reply)
        final["message"]["content"] = "".join(reply.chunks)
        self._send_json(200, final)

    def _chat_stream(self, name: str, reply: Reply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, text in enumerate(reply.chunks):
            if reply.drop_after is not None and i >= reply.drop_after:
                self._drop_connection()
                return
            if reply.stall_after is not None and i == reply.stall_after:
                self.owner.sleep(reply.stall_s)
            self.owner.sleep(reply.chunk_delay_s)
            self._write_chunk(
                {
                    "model": name,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": text},
                    "done": False,
                }
            )
        if reply.drop_after is not None:
            self._drop_connection()
            return
        for line in reply.raw_lines:
            self._write_raw_line(line)
        if reply.stream_error is not None:
            self._write_chunk({"error": reply.stream_error})
        elif reply.done:
            self._write_chunk(self._final(name, reply))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _embed(self, body: dict[str, Any]) -> None:
        name = body.get("model") or ""
        raw = body.get("input")
        if isinstance(raw, str):
            texts = [raw] if raw else []
        elif isinstance(raw, list) and all(isinstance(t, str) for t in raw):
            texts = raw
        elif raw is None:
            texts = []
        else:
            self._error(400, "invalid input type")
            return
        m = self.owner.find(name) if name else None
        if m is None:
            self._error(404, f"model '{name}' not found")
            return
        # Ollama embeds with any model; a chat model gives its hidden size.
        dim = m.embedding_dim or _CHAT_EMBEDDING_LENGTH
        started = time.perf_counter_ns()
        self._send_json(
            200,
            {
                "model": name,
                "embeddings": [bag_of_words_embedding(t, dim) for t in texts],
                "total_duration": time.perf_counter_ns() - started,
                "load_duration": 1019500,
                "prompt_eval_count": sum(len(t.split()) for t in texts),
            },
        )
