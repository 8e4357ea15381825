"""A sync httpx transport over urllib3 (the connection pool ``requests`` uses).

Why: measured in ``bench/`` (sections 2a and 9), httpcore's sync path costs about twice what
urllib3's does per network read, and a streamed answer is one small read per token. httpx stays
the API (requests, responses, redirects, auth, timeouts); only the bytes move through urllib3.

What the adapter does, and no more: sends an ``httpx.Request`` through a ``urllib3.PoolManager``
(or ``ProxyManager``), with httpx's connect/read/pool timeouts; hands the body back as it arrives
(``read1``: whatever one read brings, so a stream is not held back to fill a buffer; read from
the ``http.client`` response under urllib3's, skipping urllib3's context managers and calls per
token, with urllib3's error mapping and Content-Length check done here instead); leaves
content decoding to httpx; returns the connection to the pool when a body was read to the end
and drops it when the caller closed early; and raises urllib3's failures as the httpx exceptions
they correspond to (``nvnb.client._boundary`` maps those to ``nvnb.errors``).
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import urllib3
from urllib3 import exceptions as u3

_READ = 64 * 1024


def _httpx_error(exc: Exception) -> httpx.TransportError:
    """The httpx exception for a urllib3 one (most specific first)."""
    if isinstance(exc, u3.NewConnectionError | u3.NameResolutionError):  # before: a subclass
        return httpx.ConnectError(str(exc))  # of ConnectTimeoutError, for history's sake
    if isinstance(exc, u3.ConnectTimeoutError):
        return httpx.ConnectTimeout(str(exc))
    if isinstance(exc, u3.ReadTimeoutError):
        return httpx.ReadTimeout(str(exc))
    if isinstance(exc, u3.EmptyPoolError):
        return httpx.PoolTimeout(str(exc))
    if isinstance(exc, u3.ProxyError):
        return httpx.ProxyError(str(exc))
    if isinstance(exc, u3.SSLError):
        return httpx.ConnectError(str(exc))
    if isinstance(exc, u3.LocationParseError | u3.URLSchemeUnknown):
        return httpx.UnsupportedProtocol(str(exc))
    if isinstance(exc, u3.ProtocolError | u3.IncompleteRead | u3.InvalidChunkLength):
        return httpx.RemoteProtocolError(str(exc))
    if isinstance(exc, http.client.HTTPException):  # a body read straight from http.client
        return httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc!r}")
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout(str(exc) or "timed out reading the response")
    if isinstance(exc, OSError):
        return httpx.ReadError(str(exc))
    return httpx.TransportError(str(exc))


_URLLIB3_ERRORS = (u3.HTTPError, OSError, http.client.HTTPException)


class _Body(httpx.SyncByteStream):
    """A response body read as it arrives; closing it early drops the connection."""

    def __init__(self, response: urllib3.BaseHTTPResponse, transport: Urllib3Transport) -> None:
        self._response = response
        self._transport = transport
        self._done = False
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        fp = getattr(self._response, "_fp", None)
        if isinstance(fp, http.client.HTTPResponse) and not fp.isclosed():
            yield from self._read_raw(fp)
            return
        read1 = self._response.read1
        try:
            while True:
                data = read1(_READ)
                if not data:
                    self._done = True
                    return
                yield data
        except _URLLIB3_ERRORS as exc:
            raise _httpx_error(exc) from exc

    def _read_raw(self, fp: http.client.HTTPResponse) -> Iterator[bytes]:
        """The body straight from ``http.client`` (which undoes the chunked framing), without
        urllib3's two context managers and three calls per read: measured in ``bench/`` 9, a
        streamed token is one read. What urllib3 would add here is its error mapping (done
        below) and its check that a ``Content-Length`` body arrived whole (done at the end)."""
        read1 = fp.read1
        try:
            while True:
                data = read1(_READ)
                if not data:
                    break
                yield data
        except _URLLIB3_ERRORS as exc:
            raise _httpx_error(exc) from exc
        fp.close()  # as urllib3 does at the end: http.client then lets the connection be reused
        left = fp.length  # bytes of a Content-Length body still due (None: chunked, or unknown)
        if left:
            raise httpx.RemoteProtocolError(
                f"the connection closed with {left} bytes of the response body still to come"
            )
        self._done = True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._transport._finished()
        if not self._done:
            self._response.close()  # an unfinished body: the connection is not reused
        self._response.release_conn()


class Urllib3Transport(httpx.BaseTransport):
    """``httpx.BaseTransport`` over a urllib3 pool: at most ``max_connections`` per host."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None,
        verify: bool,
        max_connections: int,
        proxy: str | None = None,
    ) -> None:
        options: dict[str, Any] = dict(
            maxsize=max_connections,
            block=True,  # wait for a free connection (httpx's pool timeout) rather than open more
            retries=False,  # nvnb retries, and httpx follows redirects
            cert_reqs="CERT_REQUIRED" if verify else "CERT_NONE",
        )
        if verify and ssl_context is not None:
            options["ssl_context"] = ssl_context
        self._pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        )
        self._verify = verify
        self._lock = threading.Lock()
        self.active = 0  # responses whose body is not closed yet

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        timeout = urllib3.Timeout(connect=timeouts.get("connect"), read=timeouts.get("read"))
        body = request.read()
        quiet = warnings.catch_warnings() if not self._verify else contextlib.nullcontext()
        with quiet:
            if not self._verify:  # verify_ssl=False was asked for: no warning per request
                warnings.simplefilter("ignore", u3.InsecureRequestWarning)
            try:
                response = self._pool.urlopen(
                    request.method,
                    str(request.url),
                    body=body or None,
                    # Title-Case: ProxyManager merges its own Host/Accept by exact name
                    headers=urllib3.HTTPHeaderDict(
                        [(k.title(), v) for k, v in request.headers.multi_items()]
                    ),
                    redirect=False,
                    assert_same_host=False,
                    preload_content=False,
                    decode_content=False,  # httpx decodes content-encoding itself
                    timeout=timeout,
                    pool_timeout=timeouts.get("pool"),
                )
            except _URLLIB3_ERRORS as exc:
                raise _httpx_error(exc) from exc
        with self._lock:
            self.active += 1
        return httpx.Response(
            status_code=response.status,
            headers=list(response.headers.items()),
            stream=_Body(response, self),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason.encode()}
            if response.reason
            else {"http_version": b"HTTP/1.1"},
        )

    def _finished(self) -> None:
        with self._lock:
            self.active -= 1

    def stats(self) -> dict[str, int]:
        """Open connections: ``connections``, ``active`` (a body still open), ``idle``."""
        idle = 0
        for key in list(self._pool.pools.keys()):
            pool = self._pool.pools.get(key)
            queue = getattr(getattr(pool, "pool", None), "queue", ())
            idle += sum(1 for conn in list(queue) if conn is not None and conn.is_connected)
        return {"connections": idle + self.active, "active": self.active, "idle": idle}

    def close(self) -> None:
        self._pool.clear()
