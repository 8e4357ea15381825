"""llama.cpp's ``llama-server`` as a test tool: start it on a free loopback port, stop it by PID.

``scripts/_llama_server.sh`` builds the server and the model once per machine and sets
``NVNB_LLAMA_SERVER`` (the binary), ``NVNB_LLAMA_MODEL`` (Gemma 3 270M, a base model) and
``NVNB_LLAMA_TOOLS_TEMPLATE`` (llama.cpp's Gemma 4 template, the only one that makes it emit
``tool_calls``). llama.cpp is AGPL: a tool the test script installs, never a dependency of nvnb.
Facts behind the flags: ``shared/LLAMACPP.md``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

COMPLETION_TEMPLATE = Path(__file__).with_name("completion.jinja")
"""Turns a chat into ``Question: …`` / ``Answer: …`` lines: the base model has no chat template,
and under llama.cpp's ChatML fallback it only echoes the prompt."""
MODEL_ID = "gemma-3-270m"
"""The id the server reports in ``/v1/models`` (``--alias``); any name gets an answer."""
STOP = ["\nQuestion:"]
"""The base model carries on with an invented next question; this cuts it there."""
START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _supports(binary: str, flag: str) -> bool:
    """Whether this build of llama-server knows ``flag`` (its ``--help`` lists it)."""
    try:
        out = subprocess.run(
            [binary, "--help"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return flag in out.stdout + out.stderr


class LlamaServer:
    """One llama-server process on loopback; ``base_url`` is its OpenAI-compatible ``/v1``."""

    def __init__(self, binary: str, model: str, *, template: str | Path | None = None) -> None:
        """``template``: a Jinja chat template file (default: :data:`COMPLETION_TEMPLATE`)."""
        self.binary, self.model = binary, model
        self.template = str(template or COMPLETION_TEMPLATE)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def __str__(self) -> str:
        return self.base_url

    def command(self) -> list[str]:
        argv = [self.binary, "-m", self.model, "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--jinja", "-t", "2", "--alias", MODEL_ID, "-c", "4096", "--no-warmup"]
        argv += ["--chat-template-file", self.template]
        if _supports(self.binary, "--no-webui"):
            argv.append("--no-webui")
        return argv

    def start(self) -> LlamaServer:
        self.port = _free_port()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"llama-server exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.origin}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"llama-server did not become healthy in {START_TIMEOUT_S} s")

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL, as a crash would: no goodbye on open connections."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it lingers; the log file is removed."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(OSError):
            self.log_path.unlink()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
