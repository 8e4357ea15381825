"""The transport under every async pool: httpx's ``AsyncBaseTransport`` over aiohttp's connector.

It is the ``httpx-aiohttp`` transport (the route OpenAI's SDK offers; its connector set-up,
TLS, proxies and exception mapping are reused as they are) with its per-request path made
lean, measured in ``bench/`` (load: 500 concurrent streams, where the client's CPU per stream
is the wall time):

- the request's headers go to aiohttp as the raw pairs (``httpx.Headers.items()`` re-decodes
  and re-joins every header), its ``ClientTimeout`` is made once per set of timeouts, and its
  URL is parsed once per URL string (``yarl``, kept like ``nvnb.client._exchange`` keeps httpx's);
- the body is read with ``readany()`` (whatever arrived, in one piece) and exceptions are
  mapped with ``try``/``except`` instead of a context manager entered on every read;
- :meth:`AiohttpBody.read_chunk` lets a reader that knows it (a chat stream) take the next
  bytes with one ``await`` instead of through httpx's four async-generator layers: the body is
  offered in the response's ``extensions[BODY_EXTENSION]`` (the call log's wrapper puts its own
  observing one there), only when it has no ``Content-Encoding``, since httpx's layers are what
  decompress.

- requests wait for a free connection in the transport's own queue (:class:`InFlightGate`, an
  ``asyncio.Semaphore`` of the pool's size) before aiohttp is called, not in aiohttp's connector:
  measured in ``bench/`` load, 500 streams over 100 connections spend about a tenth less CPU
  (and the cyclic GC scans less) when the 400 waiting hold a semaphore waiter each instead of a
  started aiohttp request (its request object, headers, timers and connector waiter).

Errors arrive as httpx's exceptions with the aiohttp one as ``__cause__`` (as from
``httpx-aiohttp``), which ``nvnb.client._boundary`` reads to name what really happened.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import aiohttp
import httpx
import yarl
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AIOHTTP_EXC_MAP

from nvnb.calls.record import BODY_EXTENSION

__all__ = ["AiohttpBody", "InFlightGate", "LeanAiohttpTransport", "mapped_error"]

_HTTP11 = {"http_version": b"HTTP/1.1"}


def mapped_error(exc: Exception) -> Exception | None:
    """The httpx exception for an aiohttp one (the most specific in httpx-aiohttp's own
    table), or None for an exception it does not map (raised as it is)."""
    mapped: type[Exception] | None = None
    for from_exc, to_exc in AIOHTTP_EXC_MAP.items():
        if isinstance(exc, from_exc) and (mapped is None or issubclass(to_exc, mapped)):
            mapped = to_exc
    if mapped is None:
        return None
    error = mapped(str(exc))
    error.__cause__ = exc
    return error


def _raise_mapped(exc: Exception) -> None:
    """Raise the httpx exception for ``exc`` if it maps to one (else return: the caller
    re-raises ``exc``). No frame that catches it keeps it in a local: an exception whose
    traceback holds a frame holding the exception is a reference cycle."""
    error = mapped_error(exc)
    if error is not None:
        try:
            raise error from exc
        finally:
            del error


_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+


class InFlightGate:
    """At most ``limit`` requests of one transport between sending and the end of their
    answer; the others wait in order. The wait counts against the pool timeout (httpx's
    ``PoolTimeout`` when it runs out, as from httpcore's pool)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._free = asyncio.Semaphore(limit)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def enter(self, timeout: float | None) -> None:
        free = self._free
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if not free.locked() or timeout is None:  # no wait, or no limit on it: no timer
            await free.acquire()
            return
        try:
            if _timeout is None:  # Python 3.10
                await asyncio.wait_for(free.acquire(), timeout)
            else:
                async with _timeout(timeout):
                    await free.acquire()
        except (asyncio.TimeoutError, TimeoutError):
            raise httpx.PoolTimeout(
                f"no connection of the {self.limit} came free within {timeout} s"
            ) from None

    def leave(self) -> None:
        self._free.release()

    def leave_from_anywhere(self) -> None:
        """:meth:`leave` from a finalizer, which may run on any thread (or after the loop)."""
        loop = self._loop
        try:
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._free.release)
        except RuntimeError:  # the loop closed meanwhile: nothing waits on it any more
            pass


class AiohttpBody(httpx.AsyncByteStream):
    """An aiohttp response's body as httpx reads it, and :meth:`read_chunk` for one read.
    It holds its request's place in the transport's :class:`InFlightGate` until the body
    ends, is closed, or (never closed) is collected."""

    def __init__(self, response: aiohttp.ClientResponse, gate: InFlightGate | None) -> None:
        self._response = response
        self._content = response.content
        self._gate = gate
        # a body httpx must decompress is read only through its layers
        self.direct = not response.headers.get("Content-Encoding")

    def _leave(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.leave()

    async def read_chunk(self) -> bytes:
        """The bytes that arrived (waiting for some), ``b""`` at the end of the body."""
        try:
            data = await self._content.readany()
        except Exception as exc:
            _raise_mapped(exc)
            raise
        if not data:  # aiohttp has given the connection back: so does the gate
            self._leave()
        return data

    async def __aiter__(self) -> Any:
        while True:
            chunk = await self.read_chunk()
            if not chunk:
                return
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._response.__aexit__(None, None, None)
        except Exception as exc:
            _raise_mapped(exc)
            raise
        finally:
            self._leave()

    def __del__(self) -> None:
        gate = self._gate
        if gate is not None:  # a response nobody closed: aiohttp frees its connection too
            self._gate = None
            gate.leave_from_anywhere()


class LeanAiohttpTransport(AiohttpTransport):
    """``httpx-aiohttp``'s transport with the lean request path described above."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        limit = self.limits.max_connections
        self.gate = InFlightGate(limit) if limit else None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        extensions = request.extensions
        timeout = extensions.get("timeout") or {}
        gate = self.gate
        if gate is not None:
            await gate.enter(timeout.get("pool"))
        try:
            return await self._send(request, extensions, timeout, gate)
        except BaseException:  # no answer came (an error, a cancellation): its place is free
            if gate is not None:
                gate.leave()
            raise

    async def _send(
        self,
        request: httpx.Request,
        extensions: dict[str, Any],
        timeout: dict[str, Any],
        gate: InFlightGate | None,
    ) -> httpx.Response:
        try:
            data: Any = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # a streamed upload (nvnb sends none); aiohttp frames it
            request.headers.pop("transfer-encoding", None)
        proxy = self.proxy
        try:
            response = await self.client.request(
                request.method,
                _yarl_url(str(request.url)),
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ],
                data=data,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=_client_timeout(
                    timeout.get("connect"), timeout.get("read"), timeout.get("pool")
                ),
                server_hostname=extensions.get("sni_hostname"),
                proxy=str(proxy.url) if proxy else None,
                proxy_auth=aiohttp.BasicAuth(*proxy.auth) if proxy and proxy.auth else None,
                proxy_headers=proxy.headers if proxy else None,
            )
        except Exception as exc:
            _raise_mapped(exc)
            raise
        body = AiohttpBody(response, gate)
        answer = {BODY_EXTENSION: body} if body.direct else {}
        answer.update(_HTTP11)
        if response.reason:
            answer["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=body,
            request=request,
            extensions=answer,
        )


@functools.lru_cache(maxsize=64)
def _client_timeout(
    connect: float | None, read: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    """httpx's timeouts in aiohttp's terms (as httpx-aiohttp maps them), one object per set."""
    return aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)


@functools.lru_cache(maxsize=256)
def _yarl_url(url: str) -> yarl.URL:
    """aiohttp's parse of a URL, once per URL string (a yarl URL is immutable)."""
    return yarl.URL(url)
