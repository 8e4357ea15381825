"""The last request and response, as sent and received: for "View the code" and ``%nvchat last``.

The client reports each chat request it builds (:func:`note_request`: the URL, the exact JSON body
after ``payload_fn``, the headers without ``Authorization``) and each response it receives
(:func:`note_response`: status, headers, retries so far) to the :class:`Exchange` that the
current task or thread is *capturing*, if any. Nothing is recorded otherwise, so the hooks cost
one context-variable read per request.

A capture is scoped with a :mod:`contextvars` variable, so concurrent requests in one event loop
(the Arena's columns) each fill their own exchange::

    with capture() as exchange:
        llm.invoke("Hi")
    exchange.body, exchange.request_id, exchange.retries

The API key is never kept: ``Authorization`` is dropped from the request headers and only its
presence is remembered (``exchange.authorized``); ``Set-Cookie`` is dropped from the response.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Exchange", "capture", "note_request", "note_response"]

_SECRET_REQUEST_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_SECRET_RESPONSE_HEADERS = frozenset({"set-cookie"})


@dataclass
class Exchange:
    """One request (the last one noted in a capture) and the response it got."""

    url: str = ""
    method: str = "POST"
    body: dict[str, Any] | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    authorized: bool = False
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    sent_at: float | None = None  # time.time() when the request was built

    @property
    def request_id(self) -> str | None:
        """The request id the service gave (``NVCF-REQID`` or ``x-request-id``)."""
        from nvnb.client._boundary import request_id_from

        return request_id_from(self.response_headers)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (what a widget trait or a notebook cell's metadata holds)."""
        return {
            "url": self.url,
            "method": self.method,
            "body": self.body,
            "request_headers": dict(self.request_headers),
            "authorized": self.authorized,
            "status": self.status,
            "response_headers": dict(self.response_headers),
            "retries": self.retries,
            "request_id": self.request_id,
            "sent_at": self.sent_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Exchange:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields)


_current: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "nvnb_exchange", default=None
)


@contextlib.contextmanager
def capture(into: Exchange | None = None) -> Iterator[Exchange]:
    """Record the requests made inside the block (this task or thread only) into one exchange."""
    exchange = into if into is not None else Exchange()
    token = _current.set(exchange)
    try:
        yield exchange
    finally:
        _current.reset(token)


def start_capture() -> Exchange:
    """Capture from here to the end of the current task (for a coroutine that owns its task)."""
    exchange = Exchange()
    _current.set(exchange)
    return exchange


def note_request(url: str, headers: Mapping[str, str], content: bytes) -> None:
    """Called by the client for every chat-style request it builds."""
    exchange = _current.get()
    if exchange is None:
        return
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    exchange.url = url
    exchange.body = body if isinstance(body, dict) else None
    exchange.authorized = any(k.lower() == "authorization" for k in headers)
    exchange.request_headers = {
        k: v for k, v in headers.items() if k.lower() not in _SECRET_REQUEST_HEADERS
    }
    exchange.status = None
    exchange.response_headers = {}
    exchange.retries = 0
    exchange.sent_at = time.time()


def note_response(status: int, headers: Mapping[str, str], retries: int) -> None:
    """Called by the client for the response it hands back (after its retries)."""
    exchange = _current.get()
    if exchange is None:
        return
    exchange.status = status
    exchange.retries = retries
    exchange.response_headers = {
        k.lower(): v for k, v in headers.items() if k.lower() not in _SECRET_RESPONSE_HEADERS
    }
