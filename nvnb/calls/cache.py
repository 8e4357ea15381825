"""The response cache: answers recorded once, keyed on the normalised request, replayed on a
repeat, so a notebook run twice costs requests once and answers the same (streams included,
replayed with the original chunking).

``nvnb.cache("answers.sqlite")`` (or ``NVNB_CACHE=answers.sqlite``, ``%nvchat cache PATH``) turns it
on for the process; its return value also scopes it to a ``with`` block. Modes:

- ``auto``: replay a recorded answer, else send and record (the default);
- ``record``: always send, record (replacing an old answer);
- ``replay``: only replay; a request never recorded raises :class:`CacheMiss` naming it;
- ``off``: no cache.

Why stdlib ``sqlite3``, not hishel or vcrpy: the key must be nvnb's normalised request (model,
messages, parameters, labels, images by hash, no host, no headers, no key) which neither offers
without overriding its keying; vcrpy patches httpx globally and writes YAML cassettes (slow, and
a base64 image inflates them); hishel follows HTTP caching rules, which POST answers opt out of.
What nvnb needs is a table from key to (status, a few headers, the raw body chunks), safe across
kernels (WAL), which is a few lines of sqlite3. The transport (``nvnb.calls.transport``) does the
recording and replaying; this module only stores.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sqlite3
import struct
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from nvnb.calls.digest import RequestDigest
from nvnb.errors import NVNBError

Mode = Literal["auto", "record", "replay", "off"]
MODES: tuple[str, ...] = ("auto", "record", "replay", "off")
BUSY_TIMEOUT_MS = 10_000
# headers a replay carries: what the client reads (type, encoding) and the original request id
_STORED_HEADERS = ("content-type", "content-encoding", "x-request-id", "nvcf-reqid", "nvcf-status")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    method TEXT, endpoint TEXT, model TEXT,
    request TEXT,          -- the normalised request (images as hashes), JSON
    status INTEGER, headers TEXT,
    chunks BLOB,           -- the body as it arrived: (4-byte big-endian length, bytes)*
    recorded REAL, replays INTEGER DEFAULT 0
);
"""


class CacheMiss(NVNBError):
    """Replay mode met a request that was never recorded."""

    default_hint = (
        "record it once with nvnb.cache(path, mode='auto') (or mode='record'), or turn "
        "replay off with nvnb.cache(mode='off')"
    )


@dataclass(frozen=True)
class Recorded:
    """A recorded answer: status, headers and the body as the chunks it arrived in."""

    status: int
    headers: list[tuple[str, str]]
    chunks: list[bytes]


class ResponseCache:
    """One cache file and its mode."""

    def __init__(self, path: str | Path, mode: Mode = "auto") -> None:
        if mode not in MODES:
            raise ValueError(f"cache mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.path = Path(path).expanduser()
        self.mode: Mode = mode
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._hits: dict[str, int] = {}  # replays not yet counted in the file (see flush_hits)
        _open_caches.add(self)

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r}, mode={self.mode!r})"

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: no fsync per replay count, and still no corruption on a crash
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def lookup(self, digest: RequestDigest) -> Recorded | None:
        """The recorded answer for this request, or None (always None in ``record`` mode)."""
        if self.mode in ("record", "off"):
            return None
        with self._lock:
            db = self._db()
            row = db.execute(
                "SELECT status, headers, chunks FROM answers WHERE key = ?", (digest.key,)
            ).fetchone()
            if row is not None:
                # counted in memory: a write transaction per replay would cost more than the
                # replay; written with the next store, stats, the end of a scope, or at exit
                self._hits[digest.key] = self._hits.get(digest.key, 0) + 1
        if row is None:
            return None
        return Recorded(row[0], [tuple(h) for h in json.loads(row[1])], unpack_chunks(row[2]))

    def flush_hits(self) -> None:
        """Write the replay counts kept in memory into the file."""
        with self._lock:
            self._flush_hits_locked()

    def _flush_hits_locked(self) -> None:
        if not self._hits or self._conn is None:
            return
        hits, self._hits = self._hits, {}
        with self._conn:
            self._conn.executemany(
                "UPDATE answers SET replays = replays + ? WHERE key = ?",
                [(n, key) for key, n in hits.items()],
            )

    def miss(self, digest: RequestDigest) -> CacheMiss:
        """The error for a request not recorded, naming it."""
        return CacheMiss(
            f"replay mode: no recorded answer in {self.path} for {digest.describe()} "
            f"(key {digest.key[:12]})",
            model=digest.model,
        )

    def store(self, digest: RequestDigest, status: int, headers: Any, chunks: list[bytes]) -> None:
        """Record an answer (a 200 read to its end), replacing an older one."""
        kept = [(name, headers[name]) for name in _STORED_HEADERS if name in headers]
        row = (
            digest.key,
            digest.method,
            digest.endpoint,
            digest.model,
            json.dumps(digest.normalised, ensure_ascii=False, sort_keys=True),
            status,
            json.dumps(kept),
            pack_chunks(chunks),
            time.time(),
        )
        with self._lock:
            db = self._db()
            self._flush_hits_locked()
            with db:
                db.execute(
                    "INSERT OR REPLACE INTO answers (key, method, endpoint, model, request, "
                    "status, headers, chunks, recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )

    def stats(self) -> dict[str, Any]:
        """``path``, ``mode``, ``answers`` recorded, ``replays`` served, ``bytes`` on disk, and
        answers per model."""
        with self._lock:
            db = self._db()
            self._flush_hits_locked()
            answers, replays = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(replays), 0) FROM answers"
            ).fetchone()
            models = dict(
                db.execute(
                    "SELECT COALESCE(model, '-'), COUNT(*) FROM answers GROUP BY model ORDER BY 1"
                ).fetchall()
            )
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return {
            "path": str(self.path),
            "mode": self.mode,
            "answers": answers,
            "replays": replays,
            "bytes": size,
            "models": models,
        }

    def clear(self, model: str | None = None) -> int:
        """Forget recorded answers (of one model, or all); returns how many."""
        with self._lock:
            db = self._db()
            self._hits.clear()
            with db:
                if model is None:
                    count = db.execute("DELETE FROM answers").rowcount
                else:
                    count = db.execute("DELETE FROM answers WHERE model = ?", (model,)).rowcount
            db.execute("VACUUM")
        return count

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._flush_hits_locked()
                self._conn.close()
                self._conn = None


def pack_chunks(chunks: list[bytes]) -> bytes:
    """Chunks as one blob: each as a 4-byte big-endian length, then its bytes."""
    return b"".join(struct.pack(">I", len(c)) + c for c in chunks)


def unpack_chunks(blob: bytes) -> list[bytes]:
    chunks, at = [], 0
    view = memoryview(blob)
    while at < len(blob):
        (size,) = struct.unpack_from(">I", blob, at)
        chunks.append(bytes(view[at + 4 : at + 4 + size]))
        at += 4 + size
    return chunks


# --- the process's cache ------------------------------------------------------------------

_open_caches: weakref.WeakSet[ResponseCache] = weakref.WeakSet()


@atexit.register
def _flush_all_hits() -> None:
    for opened in list(_open_caches):
        with contextlib.suppress(sqlite3.Error):
            opened.flush_hits()


_state_lock = threading.Lock()
_active: ResponseCache | None = None
_explicit = False  # nvnb.cache() was called: NVNB_CACHE no longer decides
_from_env: tuple[str, ResponseCache] | None = None


class CacheScope:
    """What :func:`cache` returns: the cache now in use; ``with`` restores the one before."""

    def __init__(self, current: ResponseCache | None, previous: tuple[ResponseCache | None, bool]):
        self.cache = current
        self._previous = previous

    def __enter__(self) -> ResponseCache | None:
        return self.cache

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        global _active, _explicit
        if self.cache is not None:
            self.cache.flush_hits()
        with _state_lock:
            _active, _explicit = self._previous

    def stats(self) -> dict[str, Any]:
        if self.cache is None:
            return {"mode": "off"}
        return self.cache.stats()

    def clear(self, model: str | None = None) -> int:
        return 0 if self.cache is None else self.cache.clear(model)

    def __repr__(self) -> str:
        if self.cache is None:
            return "nvnb.cache: off"
        return f"nvnb.cache: {self.cache.mode} ({self.cache.path})"


def cache(path: str | Path | None = None, mode: Mode = "auto") -> CacheScope:
    """Turn the response cache on for this process (``mode='off'`` or no path: off).
    The result is also a context manager: ``with nvnb.cache("a.sqlite", mode="replay"): …``
    scopes it to the block. See the module docstring for the modes."""
    global _active, _explicit
    if mode not in MODES:
        raise ValueError(f"cache mode must be one of {', '.join(MODES)}, not {mode!r}")
    with _state_lock:
        previous = (_active, _explicit)
        if _active is not None:
            _active.flush_hits()
        if mode == "off" or path is None:
            current = None
        elif _active is not None and _active.path == Path(path).expanduser():
            current = ResponseCache(path, mode)
            current._conn, _active._conn = _active._conn, None  # keep the open connection
        else:
            current = ResponseCache(path, mode)
        _active, _explicit = current, True
    return CacheScope(current, previous)


def reset() -> None:
    """Forget :func:`cache` calls: ``NVNB_CACHE`` decides again (tests use this)."""
    global _active, _explicit, _from_env
    with _state_lock:
        _active, _explicit, _from_env = None, False, None


def active_cache() -> ResponseCache | None:
    """The cache requests go through now: :func:`cache`'s, else ``NVNB_CACHE`` (with
    ``NVNB_CACHE_MODE``), else None."""
    global _from_env
    if _explicit:
        return _active
    value = os.environ.get("NVNB_CACHE", "").strip()
    if not value or value.lower() == "off":
        return None
    mode = os.environ.get("NVNB_CACHE_MODE", "auto").strip().lower() or "auto"
    spec = f"{mode}:{value}"
    with _state_lock:
        if _from_env is None or _from_env[0] != spec:
            _from_env = (spec, ResponseCache(value, mode))  # type: ignore[arg-type]
        return _from_env[1]
