"""tests/notebooks/magics.ipynb in a real kernel: strict nbval, and "Run all" stops at an error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nvnb.testing import AUTH_KEY

NOTEBOOK = Path(__file__).parent / "notebooks" / "magics.ipynb"
ROOT = Path(__file__).parent.parent


def kernel_env(server: Any) -> dict[str, str]:
    """The kernel talks to the test server as if it were the hosted service."""
    env = dict(os.environ, NVIDIA_API_KEY=AUTH_KEY, NVNB_HOSTED_ORIGIN=server.origin)
    for name in ("NVIDIA_BASE_URL", "NVNB_LOCAL"):
        env.pop(name, None)
    return env


def test_the_saved_notebook_outputs_match_a_fresh_run_under_strict_nbval(nvnb_server: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", str(NOTEBOOK), "-q", "-p", "no:cacheprovider",
         "--nbval-cell-timeout=120", "-p", "no:hypothesispytest"],
        cwd=ROOT, env=kernel_env(nvnb_server), capture_output=True, text=True, timeout=600,
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
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    with pytest.raises(CellExecutionError) as raised:
        client.execute()
    assert raised.value.ename == "UnknownModelError"
    error = nb.cells[failing].outputs[-1]
    assert error.output_type == "error" and len(error.traceback) == 2  # the line and the hint
    assert all(c.execution_count is None for c in nb.cells[failing + 1:] if c.cell_type == "code")
