"""Helpers for dataset runs against the local server: a client with faults, and what it sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from nvnb.client import AsyncClient
from nvnb.server import LocalServer
from nvnb.settings import RetryPolicy

FAST_RETRY = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05, budget=10.0)


@pytest.fixture(autouse=True)
def _no_progress_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVNB_PROGRESS", "off")


def client_for(server: LocalServer, fault: str | None = None, **options: Any) -> AsyncClient:
    headers = {"X-NVNB-Fault": fault} if fault else None
    options.setdefault("retry", FAST_RETRY)
    return AsyncClient(base_url=server.base_url, default_headers=headers, **options)


def sent_prompts(server: LocalServer) -> list[str]:
    """The last user message of every chat request the server received, in order."""
    prompts = []
    for req in server.requests:
        if req.path.endswith("/chat/completions") and isinstance(req.json, dict):
            content = req.json["messages"][-1]["content"]
            prompts.append(content if isinstance(content, str) else json.dumps(content))
    return prompts


class SendLog:
    """A client ``payload_fn`` noting when each request body went out (retries included)."""

    def __init__(self) -> None:
        self.sends: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.sends.append((time.monotonic(), payload["messages"][-1]["content"]))
        return payload


def interrupt_when(condition: Callable[[], bool]) -> Callable[[], None]:
    """Raise KeyboardInterrupt in the main thread (as the kernel interrupt does) once
    ``condition()`` holds; returns a function that disarms it."""
    import _thread

    armed = threading.Event()
    armed.set()

    def watch() -> None:
        while armed.is_set():
            if condition():
                armed.clear()
                _thread.interrupt_main()
                return
            time.sleep(0.002)

    threading.Thread(target=watch, daemon=True).start()
    return armed.clear
