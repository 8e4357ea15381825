"""The run's pace: even spacing at rpm, one shared pause per 429 burst, recovery afterwards."""

from __future__ import annotations

import asyncio
import time

import pytest

from nvnb.dataset.limiter import RateLimiter


async def starts(limiter: RateLimiter, n: int, workers: int = 8) -> list[float]:
    times: list[float] = []
    left = iter(range(n))

    async def worker() -> None:
        for _ in left:
            await limiter.acquire()
            times.append(time.monotonic())

    await asyncio.gather(*(worker() for _ in range(workers)))
    return times


async def test_unpaced_acquire_does_not_wait() -> None:
    t0 = time.monotonic()
    times = await starts(RateLimiter(None), 200)
    assert len(times) == 200 and times[-1] - t0 < 0.2


async def test_starts_are_spaced_at_the_rate_with_no_burst() -> None:
    times = await starts(RateLimiter(3000), 11)  # one every 20 ms
    span = times[-1] - times[0]
    assert 0.19 <= span <= 0.3
    assert all(t - times[0] >= k * 0.02 - 0.005 for k, t in enumerate(times))


async def test_a_429_pauses_every_waiting_worker_for_its_retry_after() -> None:
    limiter = RateLimiter(None)
    await limiter.acquire()
    t0 = time.monotonic()
    limiter.throttle(0.3)
    times = await starts(limiter, 5)
    assert min(times) - t0 >= 0.29


async def test_429s_from_requests_already_in_flight_cut_the_pace_once() -> None:
    limiter = RateLimiter(600)
    for _ in range(3):
        limiter.throttle(0.01)
    assert limiter.throttled == 3 and limiter.episodes == 1
    assert limiter.current_rpm == 300


async def test_a_429_without_retry_after_backs_off_doubling() -> None:
    limiter = RateLimiter(None)
    first = limiter.throttle(None)
    second = limiter.throttle(None)
    assert second == 2 * first


async def test_successes_bring_the_pace_back_to_the_configured_rate() -> None:
    limiter = RateLimiter(6000)
    limiter.throttle(0.0)
    assert limiter.current_rpm == 3000
    await asyncio.sleep(60 / 3000 + 0.01)  # past the episode
    for _ in range(200):
        limiter.succeeded()
    assert limiter.current_rpm == 6000


async def test_an_unpaced_run_paces_after_a_429_then_stops_pacing_again() -> None:
    limiter = RateLimiter(None)
    await starts(limiter, 20)  # a fast observed rate
    limiter.throttle(0.0)
    assert limiter.current_rpm is not None
    await asyncio.sleep(60 / limiter.current_rpm + 0.01)
    for _ in range(500):
        limiter.succeeded()
    assert limiter.current_rpm is None


def test_rpm_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rpm"):
        RateLimiter(0)
