"""``LocalServer``: the app under uvicorn in a daemon thread, on a socket bound before it starts."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

from nvnb.server.recording import RecordedRequest
from nvnb.server.state import Options, ServerState

START_TIMEOUT_S = 10.0
GRACEFUL_SHUTDOWN_S = 1.0


def _quiet_uvicorn() -> None:
    """Keep uvicorn's info lines out of notebooks and test output unless someone asked."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


class LocalServer:
    """A local NIM-compatible server on loopback (see :mod:`nvnb.server`).

    ``with LocalServer() as server: ...`` starts it on a free port and stops it afterwards;
    ``str(server)`` is its base URL (``http://127.0.0.1:PORT/v1``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        auth_key: str | None = None,
        fault: str | None = None,
        chunk_delay_ms: float = 0,
        latency_ms: float = 0,
        record: bool = True,
        upstream: str | None = None,
        upstream_key: str | None = None,
    ) -> None:
        """``upstream``: forward every API request to that server and apply faults to its
        answers (:mod:`nvnb.server.upstream`), with ``upstream_key`` as its bearer key."""
        self.host, self.port = host, port
        options = Options(
            auth_key, fault, chunk_delay_ms, latency_ms, record, upstream, upstream_key
        )
        self._state = ServerState(options)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # -- addresses --------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def nvcf_url(self) -> str:
        return f"{self.origin}/v2/nvcf"

    @property
    def auth(self) -> bool:
        return self._state.options.auth_key is not None

    def __str__(self) -> str:
        return self.base_url

    def __repr__(self) -> str:
        running = "running" if self.running else "stopped"
        auth = "on" if self.auth else "off"
        upstream = self._state.options.upstream
        via = f", upstream {upstream!r}" if upstream else ""
        return f"LocalServer({self.origin!r}, {running}, auth {auth}{via})"

    # -- recordings -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """API requests received so far, oldest first (a copy)."""
        return self._state.recorder.list()

    def clear(self) -> None:
        """Forget recorded requests and the ``times=`` fault counts."""
        self._state.clear()

    def drain(self, timeout: float = 2.0) -> bool:
        """Wait (at most ``timeout`` s) until no request is still arriving: one whose body is
        still coming in, or that has not been answered yet, may yet be recorded or counted.
        False if some were still arriving at the timeout."""
        return self._state.in_flight.wait_idle(timeout)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> LocalServer:
        """Bind the socket, start uvicorn in a daemon thread, return once it serves."""
        if self.running:
            return self
        import uvicorn

        if self._state.options.upstream:
            from nvnb.server.upstream import build
        else:
            from nvnb.server.app import build

        _quiet_uvicorn()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections; without it
        # every keep-alive request waits ~40 ms on Nagle + delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._socket = sock
        self._state.stopping.clear()
        config = uvicorn.Config(
            build(self._state),
            log_config=None,
            log_level=None,
            access_log=False,
            http="h11",
            ws="none",
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            timeout_keep_alive=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._run, name=f"nvnb-server-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the local nvnb server did not start on {self.origin}")
            time.sleep(0.002)
        return self

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: streams in progress are cut, the thread is joined, the port freed."""
        self._state.stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._thread = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
