"""The pace of a run: requests per minute, and one shared backoff when the service answers 429.

Starts are spaced evenly (``60 / rpm`` seconds apart, scheduled on absolute times so the pace does
not drift), which is what a per-minute quota wants: no bursts. A ``429`` pauses *every* worker
until its ``Retry-After`` has passed and halves the pace once per episode (429s from requests that
were already in flight do not compound); successes then raise the pace again, slowly, back to the
configured rate (or, for an unpaced run, until pacing no longer binds and is dropped).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

MIN_RPM = 1.0
"""The slowest pace a run slows down to."""

RECOVERY = 1.02
"""Each success after a 429 raises the pace by this factor (about ×2 in 35 successes)."""

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
"""The pause after a 429 without ``Retry-After``: doubles per episode, within these bounds."""


class RateLimiter:
    """Shared by every worker of a run: ``await acquire()`` before each request."""

    def __init__(self, rpm: float | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rpm is not None and rpm <= 0:
            raise ValueError(f"rpm must be a positive number of requests per minute, not {rpm!r}")
        self.rpm = rpm
        self.current_rpm: float | None = rpm
        self._clock = clock
        self._next = 0.0
        self._paused_until = 0.0
        self._episode_ends = 0.0
        self._backoff = FIRST_BACKOFF
        self._starts: deque[float] = deque()
        self._unpace_at: float | None = None
        self.throttled = 0
        """429s seen."""
        self.episodes = 0
        """Times the pace was cut (once per burst of 429s)."""

    # -- pacing ----------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait for this request's turn: past any 429 pause, then its slot in the pace."""
        while True:
            now = self._clock()
            if self._paused_until > now:
                await asyncio.sleep(self._paused_until - now)
                continue
            if self.current_rpm is None:
                self._note_start(now)
                return
            slot = max(now, self._next)
            self._next = slot + 60.0 / self.current_rpm
            if slot > now:
                await asyncio.sleep(slot - now)
                if self._paused_until > self._clock():
                    continue  # a 429 arrived while we waited for the slot
            self._note_start(self._clock())
            return

    def _note_start(self, now: float) -> None:
        starts = self._starts
        starts.append(now)
        while starts and starts[0] < now - 10.0:
            starts.popleft()

    def observed_rpm(self) -> float:
        """Requests started per minute over the last ten seconds."""
        starts = self._starts
        if len(starts) < 5:
            return 0.0  # too few to say
        span = max(starts[-1] - starts[0], 1e-3)
        return (len(starts) - 1) * 60.0 / span

    # -- feedback --------------------------------------------------------------------------

    def throttle(self, retry_after: float | None) -> float:
        """A 429: pause everyone (``Retry-After`` or a doubling backoff); cut the pace once per
        episode. Returns the pause in seconds."""
        now = self._clock()
        self.throttled += 1
        if retry_after is not None:
            wait = max(0.0, retry_after)
        else:
            wait = self._backoff
            self._backoff = min(MAX_BACKOFF, self._backoff * 2)
        self._paused_until = max(self._paused_until, now + wait)
        if now >= self._episode_ends:
            self.episodes += 1
            seen = self.observed_rpm()
            if self.current_rpm is not None:
                base: float | None = min(self.current_rpm, seen) if seen else self.current_rpm
            else:
                base = seen or None  # unpaced: pace from the rate that drew the 429
                if base is not None:
                    self._unpace_at = base * 4  # and stop pacing once well above it again
            if base is not None:
                self.current_rpm = max(MIN_RPM, base / 2)
                self._next = self._paused_until
        self._episode_ends = self._paused_until + 60.0 / (self.current_rpm or 60.0)
        return wait

    def succeeded(self) -> None:
        """A request went through: recover the pace step by step."""
        if self.current_rpm is None or self.current_rpm == self.rpm:
            return
        if self._clock() < self._episode_ends:
            return
        self._backoff = FIRST_BACKOFF
        raised = self.current_rpm * RECOVERY
        if self.rpm is not None:
            self.current_rpm = min(self.rpm, raised)
        elif self._unpace_at is not None and raised >= self._unpace_at:
            self.current_rpm = None
            self._unpace_at = None
        else:
            self.current_rpm = raised

    @property
    def paused_for(self) -> float:
        """Seconds left of the current 429 pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())
