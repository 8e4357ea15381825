"""Every API request the server receives, kept for tests to inspect (keys redacted)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

MAX_RECORDED = 10_000


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: the Authorization value is never kept, only its presence."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    has_auth: bool
    json: Any = None
    body_size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def redact(headers: dict[str, str]) -> tuple[dict[str, str], bool]:
    """Headers with Authorization replaced by ``Bearer ***`` (or ``***``) and whether it was set."""
    result = dict(headers)
    value = result.get("authorization")
    if value is None:
        return result, False
    result["authorization"] = "Bearer ***" if value.lower().startswith("bearer") else "***"
    return result, True


class Recorder:
    """A bounded, thread-safe list of :class:`RecordedRequest`."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._items: deque[RecordedRequest] = deque(maxlen=MAX_RECORDED)

    def add(self, item: RecordedRequest) -> None:
        if self.enabled:
            with self._lock:
                self._items.append(item)

    def list(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
