"""%%nvchat in real kernels: strict nbval on tests/notebooks/magics.ipynb, Run All stopping at an
error, the kernel's interrupt, and a terminal IPython.

To refresh the notebook's saved outputs (e.g. after the local server's wording changed), execute it
against a local server standing in for the hosted service::

    nvnb serve --port 8765 &
    NVIDIA_API_KEY=nvapi-test-sentinel-key-0123456789 NVNB_HOSTED_ORIGIN=http://127.0.0.1:8765 \
      jupyter nbconvert --to notebook --execute --inplace \
      --ExecutePreprocessor.allow_errors=True tests/notebooks/magics.ipynb
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from nvnb.testing import AUTH_KEY

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "magics.ipynb"
ROOT = Path(__file__).parent.parent.parent


def kernel_env(server: Any) -> dict[str, str]:
    """The kernel talks to the test server as if it were the hosted service."""
    env = dict(os.environ, NVIDIA_API_KEY=AUTH_KEY, NVNB_HOSTED_ORIGIN=server.origin)
    for name in ("NVIDIA_BASE_URL", "NVNB_LOCAL"):
        env.pop(name, None)
    return env


def test_the_saved_notebook_outputs_match_a_fresh_run_under_strict_nbval(nvnb_server: Any) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            str(NOTEBOOK),
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-cell-timeout=120",
            "-p",
            "no:hypothesispytest",
        ],
        cwd=ROOT,
        env=kernel_env(nvnb_server),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


def test_run_all_stops_at_a_failed_nvchat_cell(
    nvnb_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    for name, value in kernel_env(nvnb_server).items():
        monkeypatch.setenv(name, value)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "raises-exception" in c.metadata.get("tags", [])]
    failing = tagged[0]
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    with pytest.raises(CellExecutionError) as raised:
        client.execute()
    assert raised.value.ename == "UnknownModelError"
    error = nb.cells[failing].outputs[-1]
    assert error.output_type == "error" and len(error.traceback) == 2  # the line and the hint
    assert all(c.execution_count is None for c in nb.cells[failing + 1 :] if c.cell_type == "code")


def test_the_kernel_interrupt_stops_a_streaming_cell_and_keeps_the_partial_answer(
    nvnb_server: Any,
) -> None:
    from jupyter_client.manager import start_new_kernel

    env = kernel_env(nvnb_server)
    env["NVNB_TEST_FAULT"] = "chunk-delay-ms=20, long=4000"
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=120, env=env)
    try:
        setup = (
            "import os, nvnb, nvnb.session as s\n"
            "fault = {'X-NVNB-Fault': os.environ['NVNB_TEST_FAULT']}\n"
            "s._default = s.Session(default_headers=fault)\n"
            "%load_ext nvnb"
        )
        assert kc.execute_interactive(setup, timeout=120)["content"]["status"] == "ok"
        outputs: list[dict[str, Any]] = []
        interrupted = False

        def on_output(msg: dict[str, Any]) -> None:
            nonlocal interrupted
            kind = msg["msg_type"]
            if kind in ("display_data", "execute_result", "error", "stream"):
                outputs.append({"type": kind, **msg["content"]})
            data = msg["content"].get("data", {}) if kind == "comm_msg" else {}
            delta = data.get("method") == "custom" and data["content"].get("type") == "delta"
            if delta and not interrupted:
                interrupted = True  # the StreamPane got its first text: the answer is streaming
                threading.Timer(0.3, km.interrupt_kernel).start()

        reply = kc.execute_interactive(
            "%%nvchat -o partial\nTell me a long story", timeout=120, output_hook=on_output
        )
        assert reply["content"]["status"] == "error"  # the cell failed: Run All stops
        pane, shown, error = outputs[0], outputs[-2], outputs[-1]
        assert "application/vnd.jupyter.widget-view+json" in pane["data"]
        assert error["type"] == "error" and len(error["traceback"]) == 1
        assert "KeyboardInterrupt" in error["traceback"][0] and "partial" not in error["ename"]
        check = (
            "print(len(partial) > 0, s.session().history[-1].content == partial, "
            "s.session().history[-1].answer.stopped)"
        )
        printed: list[str] = []
        kc.execute_interactive(
            check,
            timeout=60,
            output_hook=lambda m: printed.append(m["content"].get("text", "")),
        )
        assert "".join(printed).strip() == "True True True"
        assert shown["type"] == "display_data"
        assert shown["data"]["text/plain"].startswith("This is the local nvnb server")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_terminal_ipython_prints_the_stream_once(nvnb_server: Any) -> None:
    code = (
        "ip = get_ipython(); ip.run_line_magic('load_ext', 'nvnb'); "
        "print(type(ip).__name__); "
        "ip.run_cell('%%nvchat -o said\\nHello terminal'); "
        "print('STORED', said.startswith('This is the local nvnb server'))"
    )
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor", "-c", code],
        env=kernel_env(nvnb_server),
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert out.splitlines()[0] == "TerminalInteractiveShell"
    assert out.count("This is the local nvnb server") == 1  # streamed; not shown again
    assert "Out[" not in out
    assert "STORED True" in out
