"""The local server each benchmark talks to, in its own process, on loopback.

A separate process keeps the server's work off the measured process's GIL: what a table shows is
the client's cost, with the server's the same for every row (the floor row measures it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

FAKE_KEY = "nvapi-bench-not-a-real-key-0000000000000000000000000000000000000000"
"""The official package wants a key-shaped string; the local server runs with auth off."""

CHAT_MODEL = "meta/llama-3.1-8b-instruct"
"""A chat model both packages know, so neither takes a slower unknown-model path."""

_CHILD = """
import json, sys
from nvnb.server import LocalServer
server = LocalServer(**json.loads(sys.argv[1])).start()
print(server.origin, flush=True)
sys.stdin.read()
server.stop()
"""


def bench_env(**extra: str) -> dict[str, str]:
    """Environment for every benchmark process: nothing leaves the machine, no real key."""
    env = dict(os.environ)
    for name in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL", "NVNB_HOSTED_ORIGIN"):
        env.pop(name, None)
    # The official package reports usage to NVIDIA when talking to the hosted service; it is off
    # for local URLs anyway, and off here explicitly.
    env["NVIDIA_USAGE_TELEMETRY_ENABLED"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def quiet_process_env() -> None:
    """Apply :func:`bench_env`'s safety settings to this process."""
    for name in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL", "NVNB_HOSTED_ORIGIN"):
        os.environ.pop(name, None)
    os.environ["NVIDIA_USAGE_TELEMETRY_ENABLED"] = "0"


class ServerProcess:
    """``nvnb.server.LocalServer`` with the given options, running in a child process."""

    def __init__(self, **options: Any) -> None:
        self.options = {"record": False, **options}
        self.origin = ""
        self._proc: subprocess.Popen[str] | None = None
        self._log: Any = None

    @property
    def base_url(self) -> str:
        return self.origin + "/v1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        # stderr goes to a file: a chatty server must never block on a full pipe.
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (lives as long as the server)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, json.dumps(self.options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=bench_env(),
            cwd=ROOT,
        )
        line: list[str] = []
        reader = threading.Thread(
            target=lambda: line.append(self._proc.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(timeout)
        if not line or not line[0].startswith("http"):
            self.stop()
            self._log.seek(0)
            err = self._log.read()
            raise RuntimeError(f"local server did not start: {err.strip()[-2000:]}")
        self.origin = line[0].strip()
        return self

    def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(5)
        except (subprocess.TimeoutExpired, OSError):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def local_server(**options: Any) -> Iterator[ServerProcess]:
    """A started :class:`ServerProcess`, stopped on exit."""
    server = ServerProcess(**options).start()
    try:
        yield server
    finally:
        server.stop()
