"""Browser tests: a real JupyterLab (and Notebook 7) on loopback, driven by Playwright in Debian's
Chromium, with the kernel talking to local servers started here (so tests read what they got).

Everything is session-scoped and started once: two local servers, one JupyterLab, one browser.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labtools import BIN
from labtools import free_port as _free_port
from labtools import wait_http as _wait_http

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"

PANEL_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "panel",
            "metadata": {},
            "outputs": [],
            "source": ["import nvnb\n", "panel = nvnb.ChatPanel()\n", "panel"],
        },
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "slow",
            "metadata": {},
            "outputs": [],
            "source": [
                "# A second panel on a server that streams a long answer slowly.\n",
                "import os\n",
                "slow = nvnb.ChatPanel(nvnb.Session(base_url=os.environ['NVNB_SLOW_URL']), "
                "live=False)\n",
                "slow",
            ],
        },
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "flaky",
            "metadata": {},
            "outputs": [],
            "source": [
                "# A third panel whose first chat request fails (one 500), then works. Its model\n",
                "# is given, so no model listing (which the fault would hit first) is asked for.\n",
                "from nvnb.session import DEFAULT_MODEL\n",
                "flaky = nvnb.ChatPanel(nvnb.Session(DEFAULT_MODEL, max_retries=0, default_headers="
                "{'X-NVNB-Fault': 'status=500;times=1;id=flaky'}), live=False)\n",
                "flaky",
            ],
        },
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[Any, Any]]:
    """``fast`` (the default session's server) and ``slow`` (long answers, 15 ms per chunk)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/test installs it)")
    from nvnb.server import LocalServer

    fast = LocalServer(chunk_delay_ms=3).start()
    slow = LocalServer(fault="long=8000", chunk_delay_ms=15).start()
    yield fast, slow
    fast.stop()
    slow.stop()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    (root / "notebooks").mkdir()
    for name in ("panel.ipynb", "panel7.ipynb"):  # JupyterLab's, Notebook 7's
        (root / "notebooks" / name).write_text(json.dumps(PANEL_NOTEBOOK, indent=1))
    settings = root / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    # Start the notebook's kernel without asking ("Select Kernel" dialogs on cold starts).
    tracker = root / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(
        json.dumps({"autoStartDefaultKernel": True})
    )
    (root / "workspaces").mkdir()
    SCREENSHOTS.mkdir(exist_ok=True)
    return root


def _jupyter_env(root: Path, servers: tuple[Any, Any]) -> dict[str, str]:
    fast, slow = servers
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVIDIA_", "NVNB_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        NVIDIA_BASE_URL=fast.base_url,
        NVNB_SLOW_URL=slow.base_url,
        JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
        JUPYTER_CONFIG_DIR=str(root / "config"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        IPYTHONDIR=str(root / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.contextmanager
def _jupyter(app: str, root: Path, servers: tuple[Any, Any]) -> Iterator[str]:
    port = _free_port()
    log = (root / f"{app}.log").open("wb")
    proc = subprocess.Popen(
        [
            str(BIN / "jupyter"),
            app,
            "--allow-root",
            "--no-browser",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--ServerApp.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={root / 'notebooks'}",
            # window.jupyterapp: "Insert as cell" uses JupyterLab's own commands through it.
            "--LabApp.expose_app_in_browser=True",
        ],
        env=_jupyter_env(root, servers),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/api/status", proc)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


@pytest.fixture(scope="session")
def lab(workdir: Path, servers: tuple[Any, Any]) -> Iterator[str]:
    with _jupyter("lab", workdir, servers) as base:
        yield base


# Module scope: the sync Playwright API keeps an event loop running in the main thread while it is
# open, which would break every asyncio test collected after the browser tests.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
