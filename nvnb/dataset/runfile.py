"""The run file behind ``cache=``: finished rows on disk, keyed by their normalised request, so a
run started again (after a Stop, a crash or a kernel restart) sends only what is not done.

SQLite in WAL mode, one row committed per finished request (a kernel killed mid-run loses no
finished row, and several processes can share one file). Only successes are kept: a failed row
is sent again next time. Any object with ``get``/``put``/``close`` (:class:`RunStore`) can stand
in, e.g. a general response cache.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Protocol

SCHEMA = """
CREATE TABLE IF NOT EXISTS finished (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency REAL NOT NULL,
    request_id TEXT,
    finish_reason TEXT,
    model TEXT,
    finished_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Finished:
    """A finished request's answer as the run file keeps it."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0
    request_id: str | None = None
    finish_reason: str | None = None
    model: str | None = None


class RunStore(Protocol):
    """What a run needs from its store of finished requests."""

    def get(self, key: str) -> Finished | None: ...

    def put(self, key: str, finished: Finished) -> None: ...

    def close(self) -> None: ...


class RunFile:
    """A SQLite run file at ``path`` (created if missing)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 10000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute(SCHEMA)

    def get(self, key: str) -> Finished | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, prompt_tokens, completion_tokens, latency, request_id, "
                "finish_reason, model FROM finished WHERE key = ?",
                (key,),
            ).fetchone()
        return Finished(*row) if row else None

    def put(self, key: str, finished: Finished) -> None:
        f = finished
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO finished VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    f.text,
                    f.prompt_tokens,
                    f.completion_tokens,
                    f.latency,
                    f.request_id,
                    f.finish_reason,
                    f.model,
                    time.time(),
                ),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM finished").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RunFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunFile({self.path!r})"
