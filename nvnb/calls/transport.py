"""The httpx transport wrapper that writes the call log and serves the response cache.

``observe(transport)`` wraps any sync or async httpx transport. Each request it passes on is
read once (``nvnb.calls.digest``); its answer's bytes are watched as they stream (first-token
time, text, usage: ``nvnb.calls.record.AnswerReader``) and kept for the cache when one records.
A cached answer is replayed chunk by chunk, as it first arrived, without touching the network.

Retries are the client's business: its retry loop passes a ``RetryNote`` in the request's
``extensions["nvnb.retry"]`` and marks attempts it will retry, so they fold into one log row.
Logging never breaks a request: any failure in it is one notice, then the request goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from nvnb._notices import notify_once
from nvnb.calls import cache as response_cache
from nvnb.calls import log as calllog
from nvnb.calls.cache import CacheMiss, Recorded, ResponseCache
from nvnb.calls.capture import note_started
from nvnb.calls.digest import RequestDigest, digest_request
from nvnb.calls.record import (
    ANSWER_EXTENSION,
    BODY_EXTENSION,
    CACHE_HEADER,
    RETRY_EXTENSION,
    AnswerReader,
    CallRecord,
    RetryNote,
    answer_headers,
    remember,
    request_id_of,
)

log = logging.getLogger("nvnb.client")


def _cacheable(request: httpx.Request) -> bool:
    path = request.url.path
    # polls (random request ids) and asset uploads (signed, single-use URLs) never repeat
    return request.method in ("POST", "GET") and "/status/" not in path and "assets" not in path


class Call:
    """One request through the wrapper: its record, its answer's reader, the cache's part.
    The sync and async transports share it; it does no network I/O."""

    def __init__(
        self, request: httpx.Request, cache: ResponseCache | None, log_to: Path | None
    ) -> None:
        try:
            body = request.content if request.method != "GET" else b""
        except httpx.RequestNotRead:  # a streamed upload (nvnb sends none): known by its URL
            body = b""
        self.digest: RequestDigest = digest_request(request.method, str(request.url), body)
        self.record = CallRecord.start(self.digest, str(request.url), body, request.headers)
        note_started(self.record)  # the answer being captured here is this record
        note = request.extensions.get(RETRY_EXTENSION)
        self.note: RetryNote | None = note if isinstance(note, RetryNote) else None
        self.cache = cache if cache is not None and _cacheable(request) else None
        self.log_to = log_to  # the call log's file as the request began (None: off)
        self.started = time.monotonic()
        self.reader: AnswerReader | None = None
        self.chunks: list[bytes] | None = None
        self.done = False
        self.headers = httpx.Headers()

    @classmethod
    def begin(cls, request: httpx.Request) -> Call | None:
        """A Call for the request (None if bookkeeping failed: the request passes untouched).
        With the log and the cache off it is still kept in memory, for ``last_call()``."""
        try:
            return cls(request, response_cache.active_cache(), calllog.log_path())
        except Exception as err:  # never let bookkeeping break a request
            _notice(err)
            return None

    def replay(self) -> Recorded | None:
        """The recorded answer to serve, or None to send; raises CacheMiss in replay mode."""
        if self.cache is None:
            return None
        try:
            recorded = self.cache.lookup(self.digest)
        except Exception as err:
            _notice(err)
            return None
        if recorded is None and self.cache.mode == "replay":
            raise self.cache.miss(self.digest)
        if recorded is not None:
            self.record.cached = True
        return recorded

    def responded(self, status: int, headers: httpx.Headers) -> None:
        self.headers = headers
        # one pass over the headers (each lookup in httpx.Headers scans them all): the record's
        # few are all that is read here
        kept, read = answer_headers(headers)
        self.record.status = status
        self.record.request_id = request_id_of(kept)
        self.record.response_headers = kept
        self.reader = AnswerReader(self.record, read, self.started)
        if self.cache is not None and status == 200 and not self.record.cached:
            self.chunks = []

    def chunk(self, data: bytes) -> None:
        try:
            if self.reader is not None:
                self.reader.feed(data)
            if self.chunks is not None:
                self.chunks.append(bytes(data))
        except Exception as err:
            self.chunks = None
            _notice(err)

    def finish(self, complete: bool, error: BaseException | None = None) -> None:
        """The answer ended (read to its end, or closed early, or broken): log and record it."""
        if self.done:
            return
        self.done = True
        try:
            self._finish(complete, error)
        except Exception as err:
            _notice(err)

    def _finish(self, complete: bool, error: BaseException | None) -> None:
        record = self.record
        if self.note is not None and self.note.take_pending():
            return  # the retry loop sends this again: the final attempt's row tells it
        status = record.status or 0
        if error is not None and self.reader is None:
            record.total_s = time.monotonic() - self.started
            record.outcome, record.error = "error", f"{type(error).__name__}: {error}"[:500]
        elif self.reader is not None:
            outcome = "cached" if record.cached else "ok" if status < 400 else "http error"
            if not complete:
                outcome = "interrupted"
            self.reader.finish(outcome)
            if error is not None and record.error is None:
                record.error = f"{type(error).__name__}: {error}"[:500]
        if self.note is not None:
            record.retries = self.note.retries
            record.rate_limited = self.note.rate_limited
            record.waited_s = round(self.note.waited_s, 3)
        remember(record)
        if self.log_to is not None:
            calllog.record(record, self.log_to)
        if self.cache is not None and self.chunks is not None and complete and error is None:
            self.cache.store(self.digest, status, self.headers, self.chunks)

    def failed(self, error: BaseException) -> None:
        self.finish(False, error)

    def replayed_response(self, recorded: Recorded, stream: Any) -> httpx.Response:
        headers = httpx.Headers(recorded.headers)
        headers[CACHE_HEADER] = "hit"
        self.responded(recorded.status, headers)
        return httpx.Response(
            recorded.status, headers=headers, stream=stream, extensions=self._answer()
        )

    def observed_response(self, response: httpx.Response, stream: Any) -> httpx.Response:
        """The transport's response, its body now read through ``stream`` (swapped in place:
        a second Response would copy and re-scan its headers on every request)."""
        self.responded(response.status_code, response.headers)
        response.stream = stream
        response.extensions.update(self._answer())
        return response

    def _answer(self) -> dict[str, Any]:
        """``ANSWER_EXTENSION``: the reader a stream may hand its decoded answer to."""
        return {ANSWER_EXTENSION: self.reader} if self.reader is not None else {}


def _notice(err: BaseException) -> None:
    if isinstance(err, CacheMiss):
        raise err
    log.debug("call log/cache bookkeeping failed", exc_info=err)
    notify_once(
        "call-bookkeeping-failed",
        f"nvnb could not log or cache a request ({type(err).__name__}: {err}); requests go on.",
    )


# --- sync and async twins (deliberately parallel: the same steps, one awaits) -------------


class _ObservedStream(httpx.SyncByteStream):
    def __init__(self, chunks: Any, call: Call, closer: Any = None) -> None:
        self._chunks = chunks
        self._call = call
        self._closer = closer

    def __iter__(self) -> Iterator[bytes]:
        try:
            for data in self._chunks:
                self._call.chunk(data)
                yield data
        except BaseException as err:
            self._call.finish(False, err)
            raise
        self._call.finish(True)

    def close(self) -> None:
        try:
            if self._closer is not None:
                self._closer()
        finally:
            self._call.finish(False)


class _AsyncObservedStream(httpx.AsyncByteStream):
    def __init__(self, chunks: Any, call: Call, closer: Any = None) -> None:
        self._chunks = chunks
        self._call = call
        self._closer = closer
        self._replay: Iterator[bytes] | None = None

    async def read_chunk(self) -> bytes:
        """The next bytes (``b""`` at the end), watched as ``__aiter__`` watches them: the
        reader of ``BODY_EXTENSION`` (the inner body's own ``read_chunk``, or a replay)."""
        try:
            if hasattr(self._chunks, "read_chunk"):
                data = await self._chunks.read_chunk()
            else:  # a replay: recorded chunks
                if self._replay is None:
                    self._replay = iter(self._chunks)
                data = next(self._replay, b"")
        except BaseException as err:
            self._call.finish(False, err)
            raise
        if data:
            self._call.chunk(data)
        else:
            self._call.finish(True)
        return data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if hasattr(self._chunks, "__aiter__"):
                async for data in self._chunks:
                    self._call.chunk(data)
                    yield data
            else:  # a replay: recorded chunks
                for data in self._chunks:
                    self._call.chunk(data)
                    yield data
        except BaseException as err:
            self._call.finish(False, err)
            raise
        self._call.finish(True)

    async def aclose(self) -> None:
        try:
            if self._closer is not None:
                await self._closer()
        finally:
            self._call.finish(False)


class ObservedTransport(httpx.BaseTransport):
    """A sync transport that logs each request and serves/records the response cache."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        call = Call.begin(request)
        if call is None:
            return self.inner.handle_request(request)
        recorded = call.replay()
        if recorded is not None:
            return call.replayed_response(recorded, _ObservedStream(recorded.chunks, call))
        try:
            response = self.inner.handle_request(request)
        except BaseException as err:
            call.failed(err)
            raise
        stream = response.stream
        return call.observed_response(
            response, _ObservedStream(stream, call, getattr(stream, "close", None))
        )

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # the pool's internals (pool_stats reads _pool)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


class AsyncObservedTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`ObservedTransport`."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        call = Call.begin(request)
        if call is None:
            return await self.inner.handle_async_request(request)
        recorded = call.replay()
        if recorded is not None:
            replay = _AsyncObservedStream(recorded.chunks, call)
            response = call.replayed_response(recorded, replay)
            if "content-encoding" not in response.headers:  # else httpx's layers decode it
                response.extensions[BODY_EXTENSION] = replay
            return response
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as err:
            call.failed(err)
            raise
        stream = response.stream
        observed = _AsyncObservedStream(stream, call, getattr(stream, "aclose", None))
        # the inner body's one-read access (no decoding needed), now through the observer
        if response.extensions.get(BODY_EXTENSION) is stream:
            response.extensions[BODY_EXTENSION] = observed
        return call.observed_response(response, observed)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def observe(transport: Any) -> Any:
    """``transport`` wrapped (sync or async by its kind); None and wrapped ones pass as they are."""
    if transport is None or isinstance(transport, (ObservedTransport, AsyncObservedTransport)):
        return transport
    if isinstance(transport, httpx.AsyncBaseTransport):
        return AsyncObservedTransport(transport)
    return ObservedTransport(transport)
