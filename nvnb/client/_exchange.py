"""One HTTP exchange as both clients see it: the request we build (``Request``), the answer we
hand back (``ChatResponse``), and the facts read off headers (``parse_retry_after``)."""

from __future__ import annotations

import email.utils
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from nvnb._version import __version__
from nvnb.settings import Timeouts

USER_AGENT = f"nvnb/{__version__}"


class ChatResponse(dict):
    """A chat completion (the JSON body) with ``.request_id``, ``.headers`` and ``.status``."""

    request_id: str | None
    headers: httpx.Headers
    status: int

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        request_id: str | None = None,
        headers: httpx.Headers | None = None,
        status: int = 200,
    ) -> None:
        super().__init__(data)
        self.request_id = request_id
        self.headers = headers if headers is not None else httpx.Headers()
        self.status = status


@dataclass
class Request:
    """One HTTP request, built once, sent (and re-sent on retry) by either client."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None = None
    model: str | None = None
    timeout: httpx.Timeout | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    def build(
        self, http: httpx.Client | httpx.AsyncClient, extensions: dict[str, Any] | None = None
    ) -> httpx.Request:
        """The httpx request; ``extensions`` reach the transport (the call log's retry note).

        What ``http.build_request`` would build, without its header merging (measured in
        ``bench/`` at ~200 µs a request under load: six ``Headers`` built, each re-scanned):
        the pool's headers not overridden, then ours, as httpx's merge orders them. A pool
        with cookies, query parameters or a base URL goes through httpx's own merge."""
        url = _parsed_url(self.url)
        if http.cookies or http.params or url.is_relative_url:
            return http.build_request(
                self.method,
                url,
                headers=self.headers,
                content=self.content,
                timeout=self.timeout,
                extensions=extensions,
            )
        ours = {name.lower() for name in self.headers}
        headers: list[tuple[Any, Any]] = [
            (name, value)
            for name, value in http.headers.raw
            if name.lower().decode("latin-1") not in ours
        ]
        headers.extend(self.headers.items())
        timeout = self.timeout if self.timeout is not None else http.timeout
        return httpx.Request(
            self.method,
            url,
            headers=headers,
            content=self.content,
            extensions={"timeout": timeout.as_dict(), **(extensions or {})},
        )


# what a closed response's body becomes (see ``release``): empty, and referring to nothing
_SPENT = httpx.ByteStream(b"")


def release(resp: httpx.Response) -> None:
    """After ``resp`` is closed, replace its body stream by an empty one. httpx's stream
    refers back to its response (a reference cycle), so without this every exchange's objects
    (request, response, aiohttp's, the call log's: ~50 per request) wait for the cyclic GC,
    and under load they outlive its young generations and make its full collections
    frequent (measured in ``bench/`` load); with it they go as the last reference does."""
    if resp.is_closed:
        resp.stream = _SPENT


@functools.lru_cache(maxsize=256)
def _parsed_url(url: str) -> httpx.URL:
    """httpx's parse of a URL (~200 µs under load, the same few endpoints every request);
    httpx copies a URL it is given rather than changing it, so one parse serves them all."""
    return httpx.URL(url)


def httpx_timeout(timeouts: Timeouts, *, read: float | None = None) -> httpx.Timeout:
    """Our ``Timeouts`` as httpx's (``read`` replaces the read timeout, e.g. for a poll)."""
    t = timeouts
    return httpx.Timeout(
        connect=t.connect, read=t.read if read is None else read, write=t.write, pool=t.pool
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
