"""The embedded default: one local server per process, for users without an API key."""

from __future__ import annotations

import atexit
import threading

from nvnb.server.runner import LocalServer

_lock = threading.Lock()
_server: LocalServer | None = None


def embedded_url() -> str:
    """Start the process's local server once (loopback, free port) and return its origin.

    It records nothing (a long notebook session would otherwise grow without bound).
    """
    global _server
    with _lock:
        if _server is None or not _server.running:
            _server = LocalServer(record=False).start()
            atexit.register(_server.stop, 1.0)
        return _server.origin
