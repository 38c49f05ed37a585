"""A scripted HTTP server for API stand-ins: real sockets on 127.0.0.1, faults on demand.

A stand-in subclasses :class:`ScriptedServer` and implements ``answer(path, query)``;
tests queue :class:`Fault`s, which the next requests meet in order (an HTTP 503 page, a 429
with Retry-After, a connection dropped mid-answer, a stall past the client's timeout), and
read :attr:`ScriptedServer.requests` to see what was asked and when.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Answer", "Fault", "RecordedRequest", "ScriptedServer", "html_error_page"]


def html_error_page(status: int, reason: str) -> bytes:
    """The kind of page a proxy or load balancer answers with (not the API's format)."""
    return (
        f"<!DOCTYPE html><html><head><title>{status} {reason}</title></head><body>"
        f"<h1>{reason}</h1><p>The server is temporarily unable to service your request. "
        "Please try again later.</p><hr><address>Apache Server</address></body></html>"
    ).encode()


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """What the next request meets instead of (or on the way to) its answer.

    ``status`` > 0: that status with ``body`` (an HTML error page by default) and, if given,
    a ``Retry-After`` header. ``drop``: the real answer's headers and half its body, then
    the socket is closed. ``stall_s``: wait that long before answering (the client should
    have given up by then).
    """

    status: int = 0
    body: bytes | None = None
    content_type: str = "text/html; charset=utf-8"
    retry_after: str | None = None
    drop: bool = False
    stall_s: float = 0.0


@dataclass
class RecordedRequest:
    at: float  # time.monotonic() when it arrived
    path: str
    query: dict[str, list[str]]


class ScriptedServer:
    """A threaded HTTP server answering GETs with ``answer()``; use as a context manager."""

    server_version = "standin"

    def __init__(self) -> None:
        self.faults: deque[Fault] = deque()
        self.requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- to implement ------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        raise NotImplementedError

    # --- scripting ---------------------------------------------------------------------

    def fail(self, status: int, times: int = 1, **kw: Any) -> ScriptedServer:
        """The next ``times`` requests get ``status`` (an HTML error page unless ``body``)."""
        for _ in range(times):
            self.faults.append(Fault(status=status, **kw))
        return self

    def drop(self, times: int = 1) -> ScriptedServer:
        for _ in range(times):
            self.faults.append(Fault(drop=True))
        return self

    def stall(self, seconds: float, times: int = 1) -> ScriptedServer:
        for _ in range(times):
            self.faults.append(Fault(stall_s=seconds))
        return self

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ScriptedServer:
        owner = self

        class Handler(_Handler):
            pass

        Handler.owner = owner
        Handler.server_version = self.server_version
        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up after their timeout, and faults close sockets, on purpose.
        if not isinstance(sys.exc_info()[1], ConnectionError | OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: ScriptedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        owner = self.owner
        owner.requests.append(RecordedRequest(time.monotonic(), parts.path, query))
        fault = owner.faults.popleft() if owner.faults else None
        if fault is not None and fault.stall_s:
            owner.sleep(fault.stall_s)
        if fault is not None and fault.status:
            reason = self.responses.get(fault.status, ("Error",))[0]
            body = fault.body if fault.body is not None else html_error_page(fault.status, reason)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._send(Answer(fault.status, body, fault.content_type, headers))
            return
        answer = owner.answer(parts.path, query)
        try:
            self._send(answer, drop=fault is not None and fault.drop)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout)

    def _send(self, answer: Answer, *, drop: bool = False) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not drop:
            self.wfile.write(answer.body)
            return
        self.wfile.write(answer.body[: len(answer.body) // 2])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
