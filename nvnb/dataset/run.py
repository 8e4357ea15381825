"""The scheduling of a run: ``concurrency`` workers over one ``AsyncClient``, each taking the next
row, building its request, waiting for its turn at the :class:`RateLimiter` and sending it.

Rows are read one at a time as workers free up, so memory holds at most ``concurrency`` rows in
flight. Every row ends in its :class:`Outcome`; nothing a row does aborts the run:

- a ``429`` pauses every worker (:meth:`RateLimiter.throttle`) and the row waits its turn again;
- 502/503/504, a refused connection or a dropped answer are sent again as the client's own
  ``RetryPlan`` decides (backoff with jitter, ``Retry-After``, ``retry.max_retries`` times within
  its time budget, counted from the row's first failure); the client itself is told not to
  retry, so each decision is made once, here, by the same rules;
- anything else is that row's ``error``.

With a run store, a row whose request is already finished there is not sent, and each finished
row is written before the next one starts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from typing import Any

from nvnb.client._retry import RetryPlan
from nvnb.dataset.answer_schema import AnswerSchema
from nvnb.dataset.limiter import RateLimiter
from nvnb.dataset.outcomes import Cancelled, MapResult, SchemaMismatch
from nvnb.dataset.row_requests import RequestBuilder, request_key
from nvnb.dataset.rows import not_a_mapping
from nvnb.dataset.runfile import Finished, RunStore
from nvnb.errors import NVNBError, RateLimitError
from nvnb.settings import RetryPolicy

MAX_THROTTLES_PER_ROW = 20
"""A row answered 429 this many times fails (the run keeps going at its slower pace)."""


class Run:
    """One run of a builder over rows; ``await run.execute()`` fills ``run.result``."""

    def __init__(
        self,
        rows: Iterator[Any],
        builder: RequestBuilder,
        client: Any,
        *,
        result: MapResult,
        concurrency: int,
        limiter: RateLimiter,
        retry: RetryPolicy,
        schema: AnswerSchema | None = None,
        store: RunStore | None = None,
    ) -> None:
        self._rows = rows
        self.builder = builder
        self.client = client
        self.result = result
        self.concurrency = concurrency
        self.limiter = limiter
        self.retry = retry
        self.schema = schema
        self.store = store
        self._url = client.endpoint_for(builder.model)
        self._needs_thread = bool(builder.images)
        self._started = 0.0

    async def execute(self) -> MapResult:
        """Run every row; on cancellation mark the unfinished rows and re-raise."""
        stats = self.result.stats
        self._started = time.monotonic()
        feed = self._feed()
        workers = [asyncio.ensure_future(self._worker(feed)) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.result.stopped = True
            raise
        finally:
            stats.seconds = time.monotonic() - self._started
            stats.throttled = self.limiter.throttled
        return self.result

    def _feed(self) -> Iterator[tuple[int, Any]]:
        for row in self._rows:
            yield self.result._reserve(row), row

    async def _worker(self, feed: Iterator[tuple[int, Any]]) -> None:
        for index, row in feed:
            self.result.stats.started += 1
            try:
                await self._one(index, row)
            except asyncio.CancelledError:
                self.result._cancel(
                    index, Cancelled("the run was stopped before this row finished")
                )
                raise

    async def _one(self, index: int, row: Any) -> None:
        stats = self.result.stats
        if not isinstance(row, Mapping):
            return self._failed(index, not_a_mapping(row, index))
        try:
            if self._needs_thread:  # reading and fitting images is CPU work
                payload = await asyncio.to_thread(self.builder.payload, row)
            else:
                payload = self.builder.payload(row)
        except Exception as exc:  # the row's own bad input: a missing column, an unreadable image
            return self._failed(index, exc)
        key = request_key(self._url, payload) if self.store is not None else None
        if key is not None:
            finished = self.store.get(key)  # type: ignore[union-attr]
            if finished is not None:
                stats.cached += 1
                return self._answered(index, finished, cached=True)
        sent = time.monotonic()
        throttles = 0
        plan: RetryPlan | None = None  # made at the first failure: the budget starts there
        while True:
            await self.limiter.acquire()
            stats.sent += 1
            try:
                answer = await self.client.chat(payload)
            except RateLimitError as exc:
                throttles += 1
                self.limiter.throttle(exc.retry_after)
                if throttles >= MAX_THROTTLES_PER_ROW:
                    return self._failed(index, exc)
                continue
            except NVNBError as exc:
                plan = plan or RetryPlan(self.retry, self._url)
                delay = plan.after_failure(exc)
                if delay is None:
                    return self._failed(index, exc)
                stats.retried += 1
                await asyncio.sleep(delay)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let one row end the run
                return self._failed(index, exc)
            break
        self.limiter.succeeded()
        finished = _finished(answer, time.monotonic() - sent, self.builder.model)
        if finished is None:
            return self._failed(
                index, NVNBError("the answer has no choices", request_id=answer.request_id)
            )
        ok = self._answered(index, finished, cached=False)
        if ok and key is not None:
            self.store.put(key, finished)  # type: ignore[union-attr]

    def _answered(self, index: int, finished: Finished, *, cached: bool) -> bool:
        stats = self.result.stats
        value, error = None, None
        if self.schema is not None:
            try:
                value = self.schema.parse(
                    finished.text, request_id=finished.request_id, model=finished.model
                )
            except SchemaMismatch as exc:
                error = exc
        self.result._fill(
            index,
            text=finished.text,
            value=value,
            prompt_tokens=finished.prompt_tokens,
            completion_tokens=finished.completion_tokens,
            latency=finished.latency,
            request_id=finished.request_id,
            finish_reason=finished.finish_reason,
            cached=cached,
            error=error,
        )
        stats.tokens += finished.prompt_tokens + finished.completion_tokens
        if error is None:
            stats.done += 1
        else:
            stats.failed += 1
        return error is None

    def _failed(self, index: int, error: BaseException) -> None:
        self.result._fill(index, text=None, error=error)
        self.result.stats.failed += 1

    def rpm(self) -> float:
        """Requests sent per minute so far."""
        elapsed = time.monotonic() - self._started if self._started else 0.0
        return self.result.stats.sent * 60.0 / elapsed if elapsed > 0.05 else 0.0


def _finished(answer: Any, latency: float, model: str) -> Finished | None:
    choices = answer.get("choices") or []
    if not choices:
        return None
    first = choices[0]
    message = first.get("message") or {}
    usage = answer.get("usage") or {}
    return Finished(
        text=message.get("content") or "",
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        latency=latency,
        request_id=getattr(answer, "request_id", None),
        finish_reason=first.get("finish_reason"),
        model=answer.get("model") or model,
    )
