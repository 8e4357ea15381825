"""Small helpers for driving JupyterLab and Notebook 7 pages (imported by the browser tests)."""

from __future__ import annotations

import http.cookiejar
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

SCREENSHOTS = Path(__file__).parent / "screenshots"
BIN = Path(sys.executable).parent
"""Where this Python's console scripts are (jupyter, marimo)."""


def start_kernel(base: str, path: str) -> str:
    """Start the notebook's kernel through the REST API (a session for ``path``).

    A page that opens the notebook then joins this session instead of asking which kernel to
    start (the "Select Kernel" dialog seen on cold starts).
    """
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/lab", timeout=30).read()  # sets the _xsrf cookie
    xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
    body = {"path": path, "name": path, "type": "notebook", "kernel": {"name": "python3"}}
    request = urllib.request.Request(
        f"{base}/api/sessions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-XSRFToken": xsrf},
        method="POST",
    )
    with opener.open(request, timeout=30) as r:
        return json.load(r)["kernel"]["id"]


def lab_url(base: str, path: str) -> str:
    """JupyterLab on ``path`` alone: ``?reset`` empties the workspace, which otherwise reopens
    the notebooks an earlier test left open (two ``.jp-Notebook`` on the page, one hidden)."""
    return f"{base}/lab/tree/{path}?reset"


def wait_kernel_idle(page: Any, timeout: float = 60_000) -> None:
    page.wait_for_selector(
        ".jp-Notebook-ExecutionIndicator[data-status='idle']", state="attached", timeout=timeout
    )


def run_all(page: Any, until: str, timeout_s: float = 120) -> None:
    """Run > Run All Cells until ``until`` (a selector in the outputs) shows up.

    On a cold start JupyterLab can show "Idle" before the kernel connection is ready; a Run All
    then does nothing, or runs only the first cell. So while waiting, a notebook that is idle
    with a cell still unrun (``[ ]:``) for a couple of seconds gets Run All again.
    """
    prompts = page.locator(".jp-Cell .jp-InputPrompt")
    deadline = time.monotonic() + timeout_s
    clicks = 0
    stalled_since: float | None = None
    while time.monotonic() < deadline:
        if clicks == 0 or (stalled_since and time.monotonic() - stalled_since > 2.5):
            wait_kernel_idle(page)
            dismiss_dialogs(page)
            page.click('.lm-MenuBar-itemLabel >> text="Run"')
            page.click(".lm-Menu-item[data-command='runmenu:run-all']")
            clicks += 1
            stalled_since = None
            page.wait_for_timeout(500)
        if page.locator(until).count():
            page.wait_for_selector(until)
            return
        idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count()
        unrun = any(p.strip() in ("[ ]:", "") for p in prompts.all_inner_texts())
        stalled_since = (stalled_since or time.monotonic()) if idle and unrun else None
        page.wait_for_timeout(250)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "run-all-failed.png"))
    raise AssertionError(f"Run All ({clicks} clicks) did not produce {until}")


def dismiss_dialogs(page: Any) -> None:
    """Accept a dialog JupyterLab may open on a cold start (e.g. "Select Kernel")."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        text = dialog.first.inner_text()
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "dialog.png"))
        print(f"dismissing a dialog: {text!r}")
        dialog.first.locator("button.jp-mod-accept").last.click()
        dialog.first.wait_for(state="detached")


def shot(page: Any, name: str, target: Any = None) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    (target or page).screenshot(path=str(path))
    return path


def clean_screenshots() -> None:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir()


def sample(page: Any, selector: str, attribute: str, times: int, every_ms: int) -> list[str]:
    """Read an attribute a few times, ``every_ms`` apart."""
    values = []
    for _ in range(times):
        values.append(page.get_attribute(selector, attribute))
        page.wait_for_timeout(every_ms)
    return values


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until ``url`` answers 200; an error if ``proc`` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[1]} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def chat_bodies(server: Any) -> list[dict[str, Any]]:
    """The JSON bodies of the chat requests a local server has seen."""
    return [r.json for r in server.requests if r.path.endswith("/chat/completions")]


def set_theme(page: Any, name: str) -> None:
    """Switch JupyterLab's theme (``"JupyterLab Light"``/``"JupyterLab Dark"``) and wait until
    it is painted."""
    page.click('.lm-MenuBar-itemLabel >> text="Settings"')
    page.hover('.lm-Menu-itemLabel >> text="Theme"')
    page.click(f'.lm-Menu-itemLabel >> text="{name}"')
    light = "true" if "Light" in name else "false"
    page.wait_for_selector(f"body[data-jp-theme-light='{light}']", state="attached")
    # The attribute changes before the theme's stylesheet has loaded: wait until the menu bar
    # is painted in the theme (a screenshot taken earlier shows a half-dark page).
    page.wait_for_function(
        """(light) => {
          const bar = document.querySelector('#jp-top-panel') || document.body;
          const [r, g, b] = getComputedStyle(bar).backgroundColor.match(/\\d+/g).map(Number);
          const y = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
          return light ? y > 0.7 : y < 0.3;
        }""",
        arg=light == "true",
    )
    page.wait_for_timeout(300)


def code(source: str, cell_id: str) -> dict[str, Any]:
    """A code cell, not yet run."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def notebook(*cells: dict[str, Any]) -> str:
    """A Python 3 notebook of ``cells``, as the text of its .ipynb file."""
    return json.dumps(
        {
            "cells": list(cells),
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python"},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )
