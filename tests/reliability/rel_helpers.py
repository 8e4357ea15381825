"""Helpers of the reliability and security tests: the local server, fault headers, request
counts from the server's recording, and the "nothing left behind" checks (threads, pools)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from nvnb.settings import RetryPolicy, Timeouts

MODEL = "meta/llama-3.1-8b-instruct"
PROMPT = "Tell me about GPUs"
MAX_RETRIES = 2
# Client-level settings, in milliseconds: backoff 1–2 ms, read timeout 300 ms, poll deadline 200 ms.
FAST_RETRY = RetryPolicy(max_retries=MAX_RETRIES, backoff_base=0.001, backoff_max=0.002, budget=5.0)
FAST_TIME = Timeouts(
    connect=1.0, read=0.3, write=1.0, pool=1.0, poll_interval=0.001, poll_deadline=0.2
)
LLM_TIMEOUT_S = 0.3  # ChatNVIDIA/Session take one number: connect/read/write/pool
CHAT_PATHS = ("/v1/chat/completions",)
# Threads that live as long as their owner by design: a Session's event-loop thread, the local
# servers, and the default executor of a Session's loop.
LONG_LIVED = (
    "nvnb-session",
    "nvnb-server-",
    "asyncio_",
    "ThreadPoolExecutor",
    "IPythonHistorySavingThread",
)

_ENV = ("NVIDIA_API_KEY", "NVIDIA_BASE_URL", "NVNB_LOCAL", "NVNB_HOSTED_ORIGIN")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, base URL or hosted origin from the machine leaks into a test."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def srv(nvnb_server: Any) -> Any:
    """The session's local server (auth off), its recording cleared."""
    return nvnb_server


def token() -> str:
    """A fresh ``id=`` for ``times=N`` faults, so counts never carry over between tests."""
    return uuid.uuid4().hex[:12]


def chat_posts(server: Any) -> list[Any]:
    """Chat requests the server received (retries included, polls excluded)."""
    return [r for r in server.requests if r.method == "POST" and r.path.startswith(CHAT_PATHS)]


def polls(server: Any) -> list[Any]:
    return [r for r in server.requests if r.method == "GET" and "/pexec/status/" in r.path]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_threads(before: set[threading.Thread], *, grace_s: float = 2.0) -> list[str]:
    """Threads started since ``before`` that are still alive after a short grace period, apart
    from the long-lived kinds (a Session's loop thread, servers, executors)."""
    deadline = time.monotonic() + grace_s
    while True:
        left = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and not t.name.startswith(LONG_LIVED)
        ]
        if not left or time.monotonic() > deadline:
            return [t.name for t in left]
        time.sleep(0.02)


@pytest.fixture
def thread_guard() -> Iterator[None]:
    """Fails the test when it leaves a thread running (a hung reader, a stuck timer…)."""
    before = set(threading.enumerate())
    yield
    left = new_threads(before)
    assert not left, f"threads left running: {left}"


def session_pool_stats(session: Any, model: str | None = None) -> dict[str, int]:
    """Pool statistics of the async pool a Session's requests use, read in its own loop."""
    loop = getattr(session, "_loop", None)
    if loop is None or loop.is_closed():
        return {"connections": 0, "active": 0, "idle": 0}
    aio = session.llm_for(model).client.aio

    async def stats() -> dict[str, int]:
        return aio.pool_stats()

    return asyncio.run_coroutine_threadsafe(stats(), loop).result(5)


def wait_idle(read: Any, *, timeout_s: float = 2.0) -> dict[str, int]:
    """Poll ``read()`` (pool stats) until no connection is active, or the timeout; the last read."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = read()
        if stats["active"] == 0 or time.monotonic() > deadline:
            return stats
        time.sleep(0.02)
