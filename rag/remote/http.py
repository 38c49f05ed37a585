"""HTTP for the online services: a timeout on every request, retries with backoff that
honour Retry-After, and failures turned into one line that names the service."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests

from rag.errors import RemoteError
from rag.settings import RemoteSettings

T = TypeVar("T")

# What a later try may cure: rate limits and server trouble. Other statuses (400, 403) are
# the request's fault and fail at once.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A Retry-After longer than this is not waited out: the user is told instead (OpenAlex answers
# a spent daily quota with hours until midnight UTC).
MAX_RETRY_AFTER_S = 120.0

Notify = Callable[[str], None]


class TransientError(Exception):
    """One try failed in a way a later try may not: ``why`` goes into the final message."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.retry_after = retry_after


class TimeoutSession(requests.Session):
    """A ``requests`` session that times out and remembers its last response.

    ``requests`` has no default timeout and neither ``arxiv`` nor ``pyalex`` passes one, so a
    stalled server would hang `papers add` for ever; the last response is kept for its
    Retry-After, which ``arxiv.HTTPError`` does not carry.
    """

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s
        self.last_response: requests.Response | None = None

    def request(self, method: Any, url: Any, *args: Any, **kw: Any) -> Any:
        kw.setdefault("timeout", self.timeout_s)
        self.last_response = None
        response = super().request(method, url, *args, **kw)
        self.last_response = response
        return response


def retry_after(response: requests.Response | None) -> float | None:
    """Seconds a response's Retry-After asks for (a number or an HTTP date), if any."""
    raw = response.headers.get("Retry-After") if response is not None else None
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def status_failure(service: str, status: int, response: requests.Response | None) -> Exception:
    """The error for an HTTP status that is not success: transient, or a refusal."""
    if status in RETRY_STATUSES:
        return TransientError(f"HTTP {status}", retry_after(response))
    return RemoteError(
        f"{service} refused the request (HTTP {status}); check the ids or query given"
    )


def connection_failure(exc: requests.RequestException, timeout_s: float) -> TransientError:
    """What went wrong with the connection, in the user's words."""
    text = str(exc).lower()
    if isinstance(exc, requests.Timeout) or "timed out" in text:
        return TransientError(f"no answer in {timeout_s:g} s")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return TransientError("the connection dropped mid-answer")
    if "newconnectionerror" in text or "name resolution" in text or "refused" in text:
        return TransientError("cannot connect")
    return TransientError("the connection dropped")


def with_retries(
    service: str,
    settings: RemoteSettings,
    attempt: Callable[[], T],
    *,
    on_wait: Notify | None = None,
) -> T:
    """``attempt()``, tried again after a ``TransientError`` up to ``settings.retries`` times.

    The wait doubles from ``backoff_s``; a longer Retry-After wins. Raises ``RemoteError``
    naming the service and the last failure once the tries are spent.
    """
    tries = 1 + settings.retries
    last = TransientError("no answer")
    for i in range(tries):
        try:
            return attempt()
        except TransientError as exc:
            last = exc
        if i + 1 == tries:
            break
        wait = settings.backoff_s * 2**i
        if last.retry_after is not None:
            if last.retry_after > MAX_RETRY_AFTER_S:
                raise RemoteError(
                    f"{service} asks to wait {last.retry_after:.0f} s ({last.why}); try again later"
                )
            wait = max(wait, last.retry_after)
        if on_wait:
            on_wait(f"{service}: {last.why}; trying again in {wait:.3g} s")
        time.sleep(wait)
    raise RemoteError(
        f"{service} did not answer after {tries} {'try' if tries == 1 else 'tries'} "
        f"({last.why}); try again later"
    )
