"""When to send again, decided without I/O: retries (backoff with jitter, ``Retry-After``, a count
and a time budget) and NVCF 202 polling (a status request at an interval, within a deadline).

The clients do the sending and the sleeping; these plans only say whether and how long to wait.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

import httpx

from nvnb.calls.record import RetryNote
from nvnb.client._boundary import retryable_cause
from nvnb.client._exchange import Request, parse_retry_after
from nvnb.errors import APIError, NVNBError, RequestTimeout
from nvnb.settings import RetryPolicy, Timeouts

# The client's logger: retry decisions are part of the client's story in a debug log.
log = logging.getLogger("nvnb.client")

# (request id, the original request, seconds left) → the status request to send
PollRequestFn = Callable[[str, Request, float], Request]


class RetryPlan:
    """Decides whether and when to send a request again: bounded count, bounded total time."""

    def __init__(self, policy: RetryPolicy, url: str) -> None:
        self.policy = policy
        self.url = url
        self.retries = 0
        self.started = time.monotonic()
        # what the call log learns of this request's retries (sent in request extensions)
        self.note = RetryNote()

    def after_status(self, status: int, headers: httpx.Headers) -> float | None:
        """Seconds to wait before retrying this status, or None: hand the response back."""
        if status not in self.policy.statuses:
            return None
        delay = self._next(parse_retry_after(headers.get("retry-after")), f"HTTP {status}")
        if delay is not None:
            self.note.retrying(delay, status)
        return delay

    def after_error(self, err: NVNBError) -> float | None:
        """Seconds to wait before retrying after a transport error, or None: raise it."""
        why = retryable_cause(err)
        delay = None if why is None else self._next(None, why)
        if delay is not None:
            self.note.retrying(delay)
        return delay

    def after_failure(self, err: NVNBError) -> float | None:
        """Seconds to wait before sending again after ``err`` was raised by a client that does
        not retry on its own (a dataset run decides for its rows): a retryable HTTP status
        (a ``retry_after`` it carries honoured) or transport failure; None: ``err`` stands."""
        if isinstance(err, APIError) and err.status in self.policy.statuses:
            status = err.status
            delay = self._next(getattr(err, "retry_after", None), f"HTTP {status}")
            if delay is not None:
                self.note.retrying(delay, status)
            return delay
        return self.after_error(err)

    def _next(self, retry_after: float | None, why: str) -> float | None:
        p = self.policy
        if self.retries >= p.max_retries:
            return None
        if retry_after is not None:
            delay = retry_after
        else:
            ceiling = min(p.backoff_max, p.backoff_base * 2**self.retries)
            delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter"
        if time.monotonic() - self.started + delay > p.budget:
            log.debug(
                "%s from %s: not retrying, the retry budget (%.3g s) would run out",
                why,
                self.url,
                p.budget,
            )
            return None
        self.retries += 1
        log.debug(
            "%s from %s: retry %d of %d in %.3g s",
            why,
            self.url,
            self.retries,
            p.max_retries,
            delay,
        )
        return delay


class PollPlan:
    """NVCF 202 polling: ``GET {nvcf}/pexec/status/{id}`` until not 202, within a deadline."""

    def __init__(self, timeouts: Timeouts, original: Request, poll_request: PollRequestFn) -> None:
        self.poll_request = poll_request
        self.original = original
        self.timeouts = timeouts
        self.deadline = time.monotonic() + self.timeouts.poll_deadline
        self.polls = 0
        self.request_id: str | None = None

    def next(self, headers: httpx.Headers) -> tuple[Request, float]:
        """The status request to send after a 202 and the pause before it; raises at deadline."""
        reqid = headers.get("nvcf-reqid") or self.request_id
        if not reqid:
            raise APIError(
                "the service accepted the request (202) without an NVCF-REQID to poll",
                status=202,
                title="Accepted",
                url=self.original.url,
                model=self.original.model,
            )
        self.request_id = reqid
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise RequestTimeout(
                f"no result after polling for {self.timeouts.poll_deadline:g} s",
                request_id=reqid,
                url=self.original.url,
                model=self.original.model,
                hint="the poll deadline is Timeouts(poll_deadline=...); the request may still "
                "finish on the service",
            )
        self.polls += 1
        pause = min(self.timeouts.poll_interval, remaining)
        return self.poll_request(reqid, self.original, remaining), pause
