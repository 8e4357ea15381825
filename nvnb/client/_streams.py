"""Streamed chat completions: ``ChatStream`` and ``AsyncChatStream`` only send, read and close;
``StreamState`` does the rest for both (status checks, SSE decoding with ``nvnb.client.sse``, the
retry allowed before output starts, errors that carry the partial text).

A stream is given the ``send`` and ``read`` functions of the client that opened it (``Sender`` /
``Reader``), so this module knows no client class."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx

from nvnb.calls.record import ANSWER_EXTENSION, BODY_EXTENSION
from nvnb.client._boundary import (
    TRANSPORT_ERRORS,
    request_id_from,
    stream_error,
    translated_error,
)
from nvnb.client._core import ClientCore
from nvnb.client._exchange import Request, release
from nvnb.client._retry import RetryPlan
from nvnb.client.sse import ChatStreamDecoder
from nvnb.errors import NVNBError, StreamInterrupted

# What a stream needs of its client: send with retries (body unread), and read a whole body.
Sender = Callable[[Request, RetryPlan], httpx.Response]
Reader = Callable[[httpx.Response, Request], bytes]
AsyncSender = Callable[[Request, RetryPlan], Awaitable[httpx.Response]]
AsyncReader = Callable[[httpx.Response, Request], Awaitable[bytes]]

_END = object()
_NEED = object()
_DRAIN_TIMEOUT = 1.0  # async: how long the rest of a body after [DONE] may take
_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+


class StreamState:
    """What a stream does without I/O: status checks, decoding, errors with partial text."""

    def __init__(self, core: ClientCore, req: Request) -> None:
        self.core = core
        self.req = req
        self.decoder = ChatStreamDecoder()
        self.queue: deque[dict[str, Any] | NVNBError] = deque()
        self.request_id: str | None = None
        self.eof = False
        self.closed = False
        self.whole = False  # the answer came as one JSON body, not as events
        self.plan = RetryPlan(core.settings.retry, req.url)  # shared by every (re)open

    def hand_over(self, resp: httpx.Response | None) -> None:
        """At ``[DONE]``, give the call log the answer as decoded here (its text and usage),
        so it does not parse the same events again on its thread."""
        if resp is not None and self.decoder.done and not self.whole:
            reader = resp.extensions.get(ANSWER_EXTENSION)
            if reader is not None:
                reader.provide(self.decoder.partial_text, self.decoder.usage)

    def after_read_error(self, err: NVNBError) -> float | None:
        """The pause before sending again when reading broke off, or None: ``err`` is queued
        for the caller. Only a connection that broke before any chunk reached the caller is
        tried again (with a fresh decoder); once output has started, never."""
        retry = not (self.decoder.chunks_received or self.queue)
        delay = self.plan.after_error(err) if retry else None
        if delay is None:
            self.fail(err)
        else:
            self.decoder = ChatStreamDecoder()
        return delay

    def accept(self, resp: httpx.Response) -> bool:
        self.request_id = request_id_from(resp.headers)
        return resp.status_code < 300 and resp.status_code != 202

    def refused(self, resp: httpx.Response, body: bytes) -> NVNBError:
        return self.core.stream_refused(resp, body, self.req)

    def whole_answer(self, resp: httpx.Response) -> bool:
        """A JSON answer to a stream request (e.g. ``stream`` dropped by ``payload_fn``)."""
        ctype = resp.headers.get("content-type", "")
        return "json" in ctype and "event-stream" not in ctype

    def take_whole(self, body: bytes) -> None:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.fail(StreamInterrupted("the answer to a stream request was neither SSE nor JSON"))
            return
        self.request_id = self.request_id or request_id_from(None, data)
        if data.get("error") and not data.get("choices"):
            self.fail(stream_error(data["error"]))
            return
        self.queue.append(_completion_as_chunk(data))
        self.whole = True
        self.eof = True
        self.decoder.done = True

    def received(self, data: bytes | None) -> None:
        if data is None:
            self.eof = True
            self.queue.extend(self.decoder.finish())
        elif data:
            self.queue.extend(self.decoder.feed(data))

    def fail(self, err: NVNBError) -> None:
        self.queue.append(err)

    def next_item(self) -> Any:
        """A chunk to deliver, an error to raise (annotated), ``_END`` or ``_NEED`` (read more)."""
        if self.closed:
            return _END
        if self.queue:
            item = self.queue.popleft()
            if isinstance(item, NVNBError):
                self.queue.clear()
                self.closed = True
                return self._annotate(item)
            self.decoder.delivered(item)
            return item
        if self.decoder.done or self.eof:
            return _END
        return _NEED

    def _annotate(self, err: NVNBError) -> NVNBError:
        self.decoder.annotate(err)
        err.request_id = err.request_id or self.request_id
        err.model = err.model or self.req.model
        err.url = err.url or self.req.url
        err.args = (err.message,)
        return self.core.scrub(err)


def body_chunks(resp: httpx.Response) -> Iterator[bytes]:
    """The body's bytes as they arrive. Without a content encoding, straight from the
    response's stream: httpx's ``iter_bytes`` adds an identity decoder, two re-chunkers and
    two generator frames per read (measured in ``bench/`` 9, where each token is one read);
    the stream's own close, which ``close()`` calls, still returns the connection."""
    encoding = resp.headers.get("content-encoding")
    stream = resp.stream
    if (encoding is None or encoding.lower() == "identity") and isinstance(
        stream, httpx.SyncByteStream
    ):
        return iter(stream)
    return resp.iter_bytes()


def _completion_as_chunk(data: dict[str, Any]) -> dict[str, Any]:
    """A whole chat completion in the shape of one stream chunk (message → delta)."""
    choices = []
    for i, choice in enumerate(data.get("choices") or []):
        if isinstance(choice, dict):
            choices.append(
                {
                    "index": choice.get("index", i),
                    "delta": choice.get("message") or choice.get("delta") or {},
                    "finish_reason": choice.get("finish_reason"),
                }
            )
    chunk = {k: v for k, v in data.items() if k not in ("choices", "object")}
    chunk["object"] = "chat.completion.chunk"
    chunk["choices"] = choices
    return chunk


class _Stream:
    """What both streams hold and show: the request, the response once sent, the state."""

    def __init__(self, core: ClientCore, req: Request) -> None:
        self._req = req
        self._resp: httpx.Response | None = None
        self._state = StreamState(core, req)
        self.closed = False

    @property
    def request_id(self) -> str | None:
        return self._state.request_id

    @property
    def partial_text(self) -> str:
        return self._state.decoder.partial_text

    @property
    def headers(self) -> httpx.Headers | None:
        return self._resp.headers if self._resp is not None else None


class ChatStream(_Stream):
    """Chunk dicts of a streamed completion. ``close()`` closes the connection; errors after
    output started carry ``.partial_text``. Never retried once a chunk reached the caller."""

    def __init__(self, core: ClientCore, req: Request, send: Sender, read: Reader) -> None:
        super().__init__(core, req)
        self._send, self._read = send, read
        self._bytes: Iterator[bytes] | None = None

    def open(self) -> None:
        """Send the request and check the status (done by ``stream_chat``)."""
        if self._resp is not None or self.closed:
            return
        resp = self._send(self._req, self._state.plan)
        self._resp = resp
        if not self._state.accept(resp):
            raise self._state.refused(resp, self._read(resp, self._req))
        if self._state.whole_answer(resp):
            self._state.take_whole(self._read(resp, self._req))
            return
        self._bytes = body_chunks(resp)

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> dict[str, Any]:
        state = self._state
        while True:
            item = state.next_item()
            if isinstance(item, dict):
                return item
            if isinstance(item, NVNBError):
                self.close()
                try:
                    raise item
                finally:  # this frame holding its own exception would be a reference cycle
                    del item
            if item is _END:
                if not self.closed:
                    state.hand_over(self._resp)
                    self._drain()
                    self.close()
                raise StopIteration
            if self._resp is None:
                self.open()
                continue
            try:  # (no context manager here: this runs once per network read)
                data = next(self._bytes, None) if self._bytes is not None else None
            except TRANSPORT_ERRORS as exc:
                # (no local holds the error: it is raised from this frame later)
                delay = state.after_read_error(translated_error(exc, self._req, reading=True))
                if delay is not None:
                    self._resp.close()
                    release(self._resp)
                    self._resp = self._bytes = None
                    time.sleep(delay)
                continue
            state.received(data)

    def _drain(self) -> None:
        """After [DONE], read the (empty) rest so the connection can go back to the pool.
        (Bounded by the read timeout: a sync read cannot be given a shorter one midway.)"""
        if self._bytes is None:
            return
        with contextlib.suppress(httpx.HTTPError, httpx.StreamError):
            for _, _chunk in zip(range(16), self._bytes, strict=False):
                pass

    def close(self) -> None:
        """Stop: close the connection (an unfinished response is not reused)."""
        self.closed = True
        self._state.closed = True
        if self._resp is not None:
            self._resp.close()
            release(self._resp)

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if not self.closed:
                self.close()


class AsyncChatStream(_Stream):
    """Async iterator of chunk dicts; ``await`` it to start, ``aclose()`` closes the connection."""

    def __init__(
        self, core: ClientCore, req: Request, send: AsyncSender, read: AsyncReader
    ) -> None:
        super().__init__(core, req)
        self._send, self._read = send, read
        self._bytes: AsyncIterator[bytes] | None = None
        # the body's one-read access when the transport offers it (BODY_EXTENSION), which
        # skips httpx's four async-generator layers per read; else httpx's aiter_bytes
        self._read_chunk: Callable[[], Awaitable[bytes]] | None = None

    async def open(self) -> AsyncChatStream:
        if self._resp is not None or self.closed:
            return self
        resp = await self._send(self._req, self._state.plan)
        self._resp = resp
        if not self._state.accept(resp):
            raise self._state.refused(resp, await self._read(resp, self._req))
        if self._state.whole_answer(resp):
            self._state.take_whole(await self._read(resp, self._req))
            return self
        body = resp.extensions.get(BODY_EXTENSION)
        if body is not None:
            self._read_chunk = body.read_chunk
        else:
            self._bytes = resp.aiter_bytes()
        return self

    async def _next_bytes(self) -> bytes | None:
        """The next bytes of the body, None at its end."""
        if self._read_chunk is not None:
            return await self._read_chunk() or None
        return await anext(self._bytes, None) if self._bytes is not None else None

    def __await__(self) -> Any:
        return self.open().__await__()

    def __aiter__(self) -> AsyncChatStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        state = self._state
        while True:
            item = state.next_item()
            if isinstance(item, dict):
                return item
            if isinstance(item, NVNBError):
                await self.aclose()
                try:
                    raise item
                finally:  # this frame holding its own exception would be a reference cycle
                    del item
            if item is _END:
                if not self.closed:
                    state.hand_over(self._resp)
                    await self._drain()
                    await self.aclose()
                raise StopAsyncIteration
            if self._resp is None:
                await self.open()
                continue
            try:  # (no context manager here: this runs once per network read)
                if self._read_chunk is not None:
                    data = await self._read_chunk() or None
                else:
                    data = await anext(self._bytes, None) if self._bytes is not None else None
            except TRANSPORT_ERRORS as exc:
                # (no local holds the error: it is raised from this frame later)
                delay = state.after_read_error(translated_error(exc, self._req, reading=True))
                if delay is not None:
                    await self._resp.aclose()
                    release(self._resp)
                    self._resp = self._bytes = self._read_chunk = None
                    await asyncio.sleep(delay)
                continue
            state.received(data)

    async def _drain(self) -> None:
        if self._bytes is None and self._read_chunk is None:
            return
        with contextlib.suppress(httpx.HTTPError, httpx.StreamError, asyncio.TimeoutError):
            # a server that keeps the body open after [DONE] costs at most _DRAIN_TIMEOUT
            if _timeout is None:  # Python 3.10
                for _ in range(16):
                    if await asyncio.wait_for(self._next_bytes(), _DRAIN_TIMEOUT) is None:
                        break
                return
            async with _timeout(_DRAIN_TIMEOUT):  # one timer for the whole drain, no task
                for _ in range(16):
                    if await self._next_bytes() is None:
                        break

    async def aclose(self) -> None:
        """Stop: close the connection (an unfinished response is not reused)."""
        self.closed = True
        self._state.closed = True
        if self._resp is not None:
            await self._resp.aclose()
            release(self._resp)

    async def __aenter__(self) -> AsyncChatStream:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
