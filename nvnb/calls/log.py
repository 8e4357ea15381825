"""The call log: every request nvnb makes, one row each, in a local SQLite file.

Where: ``NVNB_LOG`` (``off`` to turn it off, or a file path), or :func:`set_path` in Python,
else ``calls.sqlite`` in the user's data folder (``platformdirs.user_data_dir("nvnb")``).
Read it with :func:`log` (``nvnb.log()``), ``nvnb log`` in a shell, or ``%nvchat log``.

Why stdlib ``sqlite3``: one file, no server, safe for several kernels at once in WAL mode (each
writer holds the lock for one short transaction; ``busy_timeout`` waits out the others), and a
process killed mid-write leaves a usable file (the journal rolls the last transaction back).
Rows are written by one background thread per process in batches, so a request never waits for
the disk; a log that cannot be written is switched off with one notice and never breaks a request.
"""

from __future__ import annotations

import atexit
import json
import os
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from nvnb._notices import notify_once

_OFF = frozenset({"off", "0", "false", "no", "none", ""})
_COLUMNS = {
    "time": "REAL NOT NULL",
    "method": "TEXT",
    "endpoint": "TEXT",
    "model": "TEXT",
    "stream": "INTEGER",
    "parameters": "TEXT",  # JSON
    "labels": "TEXT",  # JSON or NULL
    "message_count": "INTEGER",
    "image_hashes": "TEXT",  # JSON list of "sha256:…"
    "status": "INTEGER",
    "outcome": "TEXT",
    "request_id": "TEXT",
    "tokens_in": "INTEGER",
    "tokens_out": "INTEGER",
    "first_token_s": "REAL",
    "total_s": "REAL",
    "retries": "INTEGER",
    "rate_limited": "INTEGER",
    "waited_s": "REAL",
    "text": "TEXT",
    "error": "TEXT",
    "cached": "INTEGER",
    "pid": "INTEGER",
}
_JSON_COLUMNS = ("parameters", "labels", "image_hashes")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, "
    + ", ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())
    + ");"
    "CREATE INDEX IF NOT EXISTS calls_time ON calls(time);"
    "CREATE INDEX IF NOT EXISTS calls_model ON calls(model, time);"
)
_INSERT = f"INSERT INTO calls ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
BUSY_TIMEOUT_MS = 10_000
BATCH_WINDOW_S = 0.05
# "database is locked" while another process holds the file (SQLite's busy handler is not
# called for every lock, e.g. when two processes create the file and switch it to WAL at
# once): the batch waits and is tried again, for about BUSY_TIMEOUT_MS, before the log is off
_BUSY_RETRIES = int(BUSY_TIMEOUT_MS / 1000 / BATCH_WINDOW_S)
IDLE_EXIT_S = 1.0

_override: str | Path | None = None
_override_set = False


def set_path(path: str | Path | None) -> None:
    """Log to ``path`` from now on in this process (``None`` or ``"off"``: log nothing).
    Overrides ``NVNB_LOG``; :func:`reset_path` goes back to it."""
    global _override, _override_set
    _override, _override_set = path, True


def reset_path() -> None:
    """Forget :func:`set_path`: ``NVNB_LOG`` or the default folder decide again."""
    global _override, _override_set
    _override, _override_set = None, False


_resolved: tuple[Any, Path | None] | None = None


def log_path() -> Path | None:
    """Where the log is written now, or None when it is off."""
    global _resolved
    value: Any = _override if _override_set else os.environ.get("NVNB_LOG")
    if value is None and not _override_set:
        return _default_path()
    spec = (_override_set, value)
    found = _resolved
    if found is not None and found[0] == spec:
        return found[1]
    path = None if value is None or str(value).strip().lower() in _OFF else Path(value).expanduser()
    _resolved = (spec, path)
    return path


# what platformdirs reads to place the data folder (XDG on Linux, the profile on Windows)
_FOLDER_ENV = (
    ("XDG_DATA_HOME", "HOME")
    if sys.platform.startswith("linux")
    else ("XDG_DATA_HOME", "HOME", "APPDATA", "LOCALAPPDATA", "USERPROFILE")
)
_default: tuple[tuple[str | None, ...], Path] | None = None


def _default_path() -> Path:
    """The data folder's log file, resolved again only when the variables it depends on
    change (platformdirs costs ~100 µs a call, and every request asks twice)."""
    global _default
    env = tuple(os.environ.get(name) for name in _FOLDER_ENV)
    found = _default
    if found is not None and found[0] == env:
        return found[1]
    import platformdirs

    path = Path(platformdirs.user_data_dir("nvnb", appauthor=False)) / "calls.sqlite"
    _default = (env, path)
    return path


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating) a log file in WAL mode with the table in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    return conn


def insert_rows(conn: sqlite3.Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert call rows (``CallRecord.to_row()`` dicts) in one transaction."""
    values = [_values(row) for row in rows]
    with conn:
        conn.executemany(_INSERT, values)


def _values(row: Mapping[str, Any]) -> tuple[Any, ...]:
    out = []
    for name in _COLUMNS:
        value = row.get(name)
        if name == "pid" and value is None:
            value = os.getpid()
        elif name in _JSON_COLUMNS and value is not None:
            value = json.dumps(value, ensure_ascii=False, default=str)
        elif isinstance(value, bool):
            value = int(value)
        out.append(value)
    return tuple(out)


class LogWriter:
    """Writes rows to one log file in batches from a background thread. The caller only
    appends to a deque; the thread wakes at most once per ``BATCH_WINDOW_S`` to write what
    gathered (so it does not contend with a stream for the interpreter), and ends after
    ``IDLE_EXIT_S`` without rows (a quiet kernel keeps no thread). A failure turns this
    writer off with one notice; requests never see it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failed: str | None = None
        self._busy = 0  # batches in a row refused because another process held the file
        self._pending: deque[Any] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # held while a batch is taken and written
        self._life = threading.Lock()  # held only to start or retire the thread
        self._thread: threading.Thread | None = None

    def write(self, row: Any) -> None:
        """Queue a row: a dict, or anything with ``to_row()`` (called on the writer thread,
        so a ``CallRecord`` parses its answer there, off the request's path)."""
        if self.failed is not None:
            return
        self._pending.append(row)
        if not self._wake.is_set():
            self._wake.set()
        if self._thread is None:  # rechecked under the lock; a retiring thread sees the row
            self._start()

    def _start(self) -> None:
        with self._life:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="nvnb-call-log", daemon=True)
                self._thread.start()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until the rows written so far are in the file (or ``timeout`` s passed)."""
        deadline = time.monotonic() + timeout
        while self._pending and self.failed is None and time.monotonic() < deadline:
            self._start()
            self._wake.set()
            time.sleep(0.002)
        with self._lock:  # the last batch taken may still be in its transaction
            pass

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                if not self._wake.wait(IDLE_EXIT_S):
                    with self._life:
                        if not self._pending:
                            self._thread = None
                            return
                    continue
                time.sleep(BATCH_WINDOW_S)  # let a burst gather into one transaction
                self._wake.clear()
                with self._lock:
                    batch = []
                    while self._pending:
                        batch.append(self._pending.popleft())
                    if self.failed is None and batch:
                        try:
                            rows = [r.to_row() if hasattr(r, "to_row") else r for r in batch]
                            conn = conn or connect(self.path)
                            insert_rows(conn, rows)
                            self._busy = 0
                        except sqlite3.OperationalError as err:
                            if not _is_busy(err) or self._busy >= _BUSY_RETRIES:
                                self._fail(err)
                                continue
                            self._busy += 1  # the batch goes back, first, for the next turn
                            self._pending.extendleft(reversed(batch))
                            self._wake.set()
                        except Exception as err:  # a disk, a schema: one notice, log off
                            self._fail(err)
        finally:
            if conn is not None:
                conn.close()

    def _fail(self, err: Exception) -> None:
        self.failed = str(err)
        notify_once(
            f"call-log-failed:{self.path}",
            f"the call log at {self.path} cannot be written ({err}); requests go on without "
            "it. Set NVNB_LOG to another file, or NVNB_LOG=off.",
        )


def _is_busy(err: sqlite3.OperationalError) -> bool:
    text = str(err).lower()
    return "locked" in text or "busy" in text


_writers: dict[Path, LogWriter] = {}
_writers_lock = threading.Lock()


def writer(path: Path | object | None = ...) -> LogWriter | None:
    """The writer for ``path`` (by default the current log path); None when the log is off."""
    if path is ...:
        path = log_path()
    if not isinstance(path, Path):
        return None
    with _writers_lock:
        found = _writers.get(path)
        if found is None:
            found = _writers[path] = LogWriter(path)
        return found


def record(row: Any, path: Path | object | None = ...) -> None:
    """Queue one call row (a dict or a ``CallRecord``) for the current log, or for ``path``
    as :func:`log_path` gave it when the request began (nothing when off)."""
    target = writer(path)
    if target is not None:
        target.write(row)


@atexit.register
def flush_all(timeout: float = 5.0) -> None:
    """Write every queued row now (at exit too)."""
    with _writers_lock:
        writers = list(_writers.values())
    for w in writers:
        w.flush(timeout)


# --- reading ------------------------------------------------------------------------------


class CallRows(list):
    """Rows of the call log (dicts, oldest first); ``to_dataframe()`` with pandas installed."""

    def to_dataframe(self) -> Any:
        try:
            import pandas as pd
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from err
        frame = pd.DataFrame(list(self), columns=["id", *_COLUMNS])
        frame["time"] = pd.to_datetime(frame["time"], unit="s")
        return frame

    def table(self, *, width: int = 40) -> str:
        """A plain text table (what ``nvnb log`` prints)."""
        from nvnb.calls.log_table import format_rows

        return format_rows(self, width=width)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.table())


def log(
    model: str | None = None,
    *,
    since: str | float | datetime | None = None,
    until: str | float | datetime | None = None,
    endpoint: str | None = None,
    limit: int | None = None,
    path: str | Path | None = None,
) -> CallRows:
    """Rows of the call log, oldest first: ``model`` (a substring), ``since``/``until`` (epoch
    seconds, a ``datetime``, an ISO date, or an age such as ``"30m"``, ``"2h"``, ``"1d"``),
    ``endpoint`` (substring of the path), the last ``limit`` rows. Rows queued in this process
    are written first, so a request just made is there."""
    target = Path(path) if path is not None else log_path()
    if target is None:
        return CallRows()
    if path is None:
        flush_all()
    if not target.exists():
        return CallRows()
    where, args = [], []
    if model:
        where.append("model LIKE ?")
        args.append(f"%{model}%")
    if endpoint:
        where.append("endpoint LIKE ?")
        args.append(f"%{endpoint}%")
    if since is not None:
        where.append("time >= ?")
        args.append(parse_time(since))
    if until is not None:
        where.append("time <= ?")
        args.append(parse_time(until))
    sql = "SELECT * FROM calls" + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += " ORDER BY time DESC, id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.row_factory = sqlite3.Row
        rows = [_row_dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()
    return CallRows(reversed(rows))


def parse_time(value: str | float | datetime) -> float:
    """Epoch seconds from a number, a ``datetime``, an ISO date/time or an age (``"2h"``)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text[:-1].replace(".", "", 1).isdigit() and text[-1:] in units:
        return time.time() - float(text[:-1]) * units[text[-1]]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValueError(
            f"cannot read {value!r} as a time: give an age such as '30m', '2h', '1d', "
            "or a date such as '2026-12-01' or '2026-12-01T09:30'"
        ) from None


def _row_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for name in _JSON_COLUMNS:
        if out.get(name) is not None:
            out[name] = json.loads(out[name])
    for name in ("stream", "cached"):
        out[name] = bool(out.get(name))
    return out
