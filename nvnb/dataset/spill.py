"""The spill file of a large result: outcomes (and the input rows of a one-shot iterable) beyond
the result's resident window, in a temporary SQLite file owned by one :class:`MapResult`.

Why a file of its own and not the run file of ``cache=``: the result outlives the run (the run
file is closed when ``map`` returns, and may be any ``RunStore``, even a general cache), failed
rows belong in it too, and the user's resume file should not grow by a copy of every run.

The file is made with ``mkstemp`` (mode 0600, in ``TMPDIR``) and removed, with its ``-wal`` and
``-shm`` companions, by :meth:`SpillFile.close`, when the object is garbage-collected or at
interpreter exit (``weakref.finalize``). Durability is not wanted (a crash loses the process's
result anyway), so writes skip fsync: WAL with ``synchronous=OFF``, one transaction per batch.
What goes in: answer texts, request ids, finish reasons, token counts, latencies, pickled
values and errors (nvnb errors carry no key), input rows pickled a window at a time. Never
the request or a header.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

OUTCOME_COLUMNS = (
    "text",
    "value",
    "prompt_tokens",
    "completion_tokens",
    "latency",
    "request_id",
    "finish_reason",
    "cached",
    "failed",
    "error",
)

SCHEMA = """
CREATE TABLE outcomes (
    idx INTEGER PRIMARY KEY,
    text TEXT,
    value BLOB,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency REAL NOT NULL,
    request_id TEXT,
    finish_reason TEXT,
    cached INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    error BLOB
);
CREATE TABLE rows (start INTEGER PRIMARY KEY, chunk BLOB);
"""

CACHE_KB = 512
"""SQLite's page cache for the file (its default is 2 MB): writes append, reads go in order,
and the operating system caches the file anyway; this is memory a result keeps while open."""

READ_CHUNK = 2_000
"""Rows fetched per query when reading in order (one query, not one per row)."""


class SpillClosed(RuntimeError):
    """The result was closed: the rows it had spilled to disk are gone."""


class SpillFile:
    """A temporary SQLite file of outcomes and rows by input index."""

    def __init__(self, directory: str | None = None) -> None:
        fd, self.path = tempfile.mkstemp(prefix="nvnb-map-", suffix=".sqlite", dir=directory)
        os.close(fd)
        self._lock = threading.Lock()
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db: sqlite3.Connection | None = db
        self._finalizer = weakref.finalize(self, _remove, db, self.path, os.getpid())
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = OFF")
        db.execute(f"PRAGMA cache_size = -{CACHE_KB}")
        db.executescript(SCHEMA)

    # -- writing ----------------------------------------------------------------------------

    def write(
        self,
        outcomes: Iterable[tuple[Any, ...]],
        rows: Iterable[tuple[int, bytes]] = (),
    ) -> None:
        """Outcomes ``(idx, *OUTCOME_COLUMNS)`` and chunks of rows ``(first idx, pickled
        list)``, in one transaction."""
        with self._lock:
            db = self._open()
            db.execute("BEGIN")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    outcomes,
                )
                db.executemany("INSERT OR REPLACE INTO rows VALUES (?, ?)", rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- reading ----------------------------------------------------------------------------

    def outcome(self, index: int) -> tuple[Any, ...] | None:
        """``OUTCOME_COLUMNS`` of row ``index``, or None when it was not written."""
        with self._lock:
            return (
                self._open()
                .execute(
                    f"SELECT {', '.join(OUTCOME_COLUMNS)} FROM outcomes WHERE idx = ?", (index,)
                )
                .fetchone()
            )

    def outcomes(
        self, start: int, stop: int, columns: tuple[str, ...] = OUTCOME_COLUMNS
    ) -> Iterator[tuple[Any, ...]]:
        """``(idx, *columns)`` of the written rows in ``[start, stop)``, in index order."""
        names = ", ".join(("idx", *columns))
        yield from self._ranged(f"SELECT {names} FROM outcomes", start, stop)

    def failures(self, stop: int) -> list[tuple[int, bytes | None]]:
        """``(idx, pickled error)`` of the failed rows before ``stop``, in index order."""
        with self._lock:
            return (
                self._open()
                .execute(
                    "SELECT idx, error FROM outcomes WHERE failed = 1 AND idx < ? ORDER BY idx",
                    (stop,),
                )
                .fetchall()
            )

    def rows(self, stop: int) -> Iterator[tuple[int, bytes]]:
        """``(first idx, pickled list of rows)`` of the chunks before ``stop``, in order."""
        with self._lock:
            chunks = (
                self._open()
                .execute("SELECT start FROM rows WHERE start < ? ORDER BY start", (stop,))
                .fetchall()
            )
        for (start,) in chunks:  # one chunk in memory at a time
            with self._lock:
                blob = self._open().execute("SELECT chunk FROM rows WHERE start = ?", (start,))
                yield start, blob.fetchone()[0]

    def _ranged(self, select: str, start: int, stop: int) -> Iterator[tuple[Any, ...]]:
        query = f"{select} WHERE idx >= ? AND idx < ? ORDER BY idx"
        for low in range(start, stop, READ_CHUNK):
            with self._lock:
                chunk = self._open().execute(query, (low, min(low + READ_CHUNK, stop))).fetchall()
            yield from chunk

    # -- lifetime ---------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            raise SpillClosed(
                "this result was closed: the rows it kept on disk are gone (read what you "
                "need, e.g. to_dataframe(), before closing it)"
            )
        return self._db

    @property
    def closed(self) -> bool:
        return self._db is None

    def close(self) -> None:
        """Close and remove the file (again: nothing)."""
        with self._lock:
            self._db = None
            self._finalizer()

    def __repr__(self) -> str:
        return f"SpillFile({self.path!r}{', closed' if self.closed else ''})"


def _remove(db: sqlite3.Connection, path: str, owner: int) -> None:
    with contextlib.suppress(sqlite3.Error):
        db.close()
    if os.getpid() != owner:  # a forked child exiting: the file is its parent's
        return
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(name)
