"""nvnb's widgets in marimo: the marimo quickstart served by ``marimo run`` on loopback, driven in
headless Chromium; a question typed into the chat panel is answered by a local server, and the
screenshots are written for a person to look at (1400 and 800 px wide; marimo's own light theme,
which does not follow the browser's colour scheme).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labtools import shot

from conftest import BIN, _free_port, _wait_http

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "01_quickstart_marimo.py"


@pytest.fixture(scope="module")
def marimo_app(servers: tuple[Any, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("marimo")
    fast, _slow = servers
    root = tmp_path_factory.mktemp("marimo")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVIDIA_", "NVNB_"))}
    env.update(NVIDIA_BASE_URL=fast.base_url, HOME=str(root), PYTHONUNBUFFERED="1")
    log = (root / "marimo.log").open("wb")
    argv = [str(BIN / "marimo"), "run", str(NOTEBOOK), "--headless", "--no-token"]
    proc = subprocess.Popen(
        [*argv, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/health", proc)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


@pytest.mark.parametrize("width", [1400, 800])
def test_a_question_in_the_marimo_chat_panel_is_answered(
    browser: Any, marimo_app: str, servers: tuple[Any, Any], width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 1000})
    try:
        page.goto(marimo_app)
        prompt = page.locator("textarea.nvnb-prompt")
        prompt.wait_for(timeout=90_000)
        page.locator("[data-nvnb-widget='chat-composer']").scroll_into_view_if_needed()
        question = f"Hello from marimo at {width} px"
        prompt.fill(question)
        page.locator("button.nvnb-send").click()
        # The answer streams into the pane, then the history shows the question.
        page.get_by_text("standing in for", exact=False).last.wait_for(timeout=60_000)
        page.get_by_text(question, exact=False).first.wait_for(timeout=30_000)
        page.locator("[data-nvnb-widget='chat-composer'][data-busy='false']").wait_for()
        # The notebook's last cell asked through the same session: the panel shows that turn
        # too (cells share it), and nothing from the other visitor's page.
        history = page.locator("[data-nvnb-widget='chat-history']")
        assert "What does a GPU do?" in history.inner_text()
        assert "Hello from marimo at" not in history.inner_text().replace(question, "")
        page.locator("button.nvnb-send").scroll_into_view_if_needed()
        shot(page, f"marimo-chat-{width}")
        fast, _slow = servers
        asked = [
            r.json["messages"][-1].get("content")  # the shared server saw other tests' requests
            for r in fast.requests
            if r.path.endswith("/chat/completions") and r.json
        ]
        assert question in asked
    finally:
        page.close()
