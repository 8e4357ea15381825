"""nvnb's widgets in marimo, served by ``marimo run`` on loopback and driven in headless Chromium,
the kernel asking a local server: a question typed into the quickstart's chat panel is answered;
in the Arena tutorial two models answer side by side, and one failing keeps its error. The
screenshots are written for a person to look at (1400 and 800 px wide; the Arena in marimo's
light and dark themes, set in its user config: marimo does not follow the browser's scheme).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labtools import BIN, free_port, shot, wait_http

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "01_quickstart_marimo.py"


@contextlib.contextmanager
def _marimo_run(notebook: Path, servers: tuple[Any, Any], root: Path, theme: str) -> Iterator[str]:
    """``marimo run NOTEBOOK`` on a free loopback port, its kernel asking the fast local server;
    ``theme`` (light or dark) set in the user config marimo reads from ``$HOME``."""
    pytest.importorskip("marimo")
    fast, _slow = servers
    config = root / ".config" / "marimo"
    config.mkdir(parents=True)
    (config / "marimo.toml").write_text(f'[display]\ntheme = "{theme}"\n')
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVIDIA_", "NVNB_"))}
    env.update(NVIDIA_BASE_URL=fast.base_url, HOME=str(root), PYTHONUNBUFFERED="1")
    log = (root / "marimo.log").open("wb")
    argv = [str(BIN / "marimo"), "run", str(notebook), "--headless", "--no-token"]
    proc = subprocess.Popen(
        [*argv, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", proc)
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


@pytest.fixture(scope="module")
def marimo_app(servers: tuple[Any, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _marimo_run(NOTEBOOK, servers, tmp_path_factory.mktemp("marimo"), "light") as base:
        yield base


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
        # The StreamPane on its own: a later cell streamed an answer into it.
        pane = page.locator("[data-nvnb-widget='stream-pane']").last
        pane.scroll_into_view_if_needed()
        assert "Explain streaming in two sentences." in pane.inner_text()
        assert pane.get_attribute("data-status") == "done"
        assert "request id" in pane.inner_text()
        shot(page, f"marimo-stream-pane-{width}", pane)
        fast, _slow = servers
        asked = [
            r.json["messages"][-1].get("content")  # the shared server saw other tests' requests
            for r in fast.requests
            if r.path.endswith("/chat/completions") and r.json
        ]
        assert question in asked
    finally:
        page.close()


ARENA_NOTEBOOK = NOTEBOOK.with_name("16_arena_marimo.py")
DUEL = ["meta/llama-3.3-70b-instruct", "openai/gpt-oss-20b"]


@pytest.fixture(scope="module", params=["light", "dark"])
def arena_app(
    request: pytest.FixtureRequest,
    servers: tuple[Any, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str]]:
    """The marimo Arena tutorial served by ``marimo run``, in marimo's light or dark theme."""
    root = tmp_path_factory.mktemp(f"marimo-arena-{request.param}")
    with _marimo_run(ARENA_NOTEBOOK, servers, root, request.param) as base:
        yield base, request.param


def _statuses(arena: Any) -> list[str]:
    return [c.get_attribute("data-status") or "" for c in arena.locator(".nvnb-arena-col").all()]


def _wait_statuses(arena: Any, want: list[str], timeout_s: float = 30) -> None:
    """Until the columns' statuses, sorted, are ``want`` (the locators pierce marimo's shadow
    roots, which ``document.querySelectorAll`` in a page function would not)."""
    deadline = time.monotonic() + timeout_s
    while sorted(_statuses(arena)) != sorted(want):
        if time.monotonic() > deadline:
            raise AssertionError(f"columns {_statuses(arena)}, expected {want}")
        time.sleep(0.1)


def _luminance(locator: Any, prop: str) -> float:
    rgb = locator.evaluate(f"(el) => getComputedStyle(el).{prop}")
    r, g, b = (int(v) for v in re.findall(r"\d+", rgb)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


@pytest.mark.parametrize("width", [1400, 800])
def test_two_models_answer_side_by_side_in_the_marimo_arena_and_one_failing_keeps_its_error(
    browser: Any, arena_app: tuple[str, str], servers: tuple[Any, Any], width: int
) -> None:
    base, theme = arena_app
    fast, _slow = servers
    page = browser.new_page(viewport={"width": width, "height": 1000})
    try:
        page.goto(base)
        arenas = page.locator("[data-nvnb-widget='arena']")
        arenas.nth(1).wait_for(timeout=90_000)
        duel, shaky = arenas.nth(0), arenas.nth(1)
        # The notebook's own cell asked the duel from Python, through the same Arena.
        _wait_statuses(duel, ["done", "done"])
        assert "why do GPUs speed up" in duel.locator(".nvnb-arena-answer").first.inner_text()

        question = f"Compare GPUs and CPUs at {width} px"
        box = duel.locator("textarea.nvnb-arena-prompt")
        box.fill(question)
        box.press("Control+Enter")
        deadline = time.monotonic() + 30
        while question not in duel.locator(".nvnb-arena-answer").first.inner_text():
            assert time.monotonic() < deadline, "the first column never answered"
            time.sleep(0.1)
        _wait_statuses(duel, ["done", "done"])
        cols = duel.locator(".nvnb-arena-col")
        for i, model in enumerate(DUEL):
            col = cols.nth(i)
            assert col.locator(".nvnb-arena-model").inner_text() == model
            assert f"standing in for {model}" in col.locator(".nvnb-arena-answer").inner_text()
            assert question in col.locator(".nvnb-arena-answer").inner_text()
            stats = col.locator(".nvnb-arena-stats").inner_text()
            assert "first token" in stats and "tok/s" in stats and "request id" in stats
        asked = {
            r.json["model"]
            for r in fast.requests
            if r.path.endswith("/chat/completions") and r.json
            if r.json["messages"][-1].get("content") == question  # SteerLM: a labels turn
        }
        assert asked == set(DUEL)
        # Side by side, inside the Arena, neither column spilling over the other or the page.
        arena_box = duel.bounding_box()
        left, right = cols.nth(0).bounding_box(), cols.nth(1).bounding_box()
        assert round(left["y"]) == round(right["y"])
        assert left["x"] + left["width"] <= right["x"]
        assert arena_box["x"] <= left["x"] and right["x"] + right["width"] <= arena_box["x"] + (
            arena_box["width"] + 0.5
        )
        assert arena_box["x"] + arena_box["width"] <= width
        overflow = duel.evaluate(
            "(el) => [el, ...el.querySelectorAll('.nvnb-arena-col')]"
            ".some((e) => e.scrollWidth > e.clientWidth + 1)"
        )
        assert not overflow
        # The theme is marimo's: dark columns on its dark page, light on its light one.
        background = _luminance(cols.nth(0), "backgroundColor")
        text = _luminance(cols.nth(0).locator(".nvnb-arena-answer"), "color")
        if theme == "dark":
            assert background < 0.3 and text > 0.7, (background, text)
        else:
            assert background > 0.9 and text < 0.3, (background, text)
        duel.scroll_into_view_if_needed()
        shot(page, f"marimo-arena-{theme}-{width}")

        # The second Arena's session breaks the first streamed answer after four chunks: that
        # column keeps its text so far and its error (with the request id); the other answers.
        shaky.scroll_into_view_if_needed()
        shaky.locator("textarea.nvnb-arena-prompt").fill("Hello, both of you")
        shaky.locator("button.nvnb-arena-send").click()
        _wait_statuses(shaky, ["done", "error"])
        failed = shaky.locator(".nvnb-arena-col[data-status='error']")
        error = failed.locator(".nvnb-arena-error").inner_text()
        assert "Fault injected after 4 chunks" in error and "request id:" in error
        kept = failed.locator(".nvnb-arena-answer").inner_text()
        assert kept and "This is the local nvnb server".startswith(kept.strip()), kept
        answered = shaky.locator(".nvnb-arena-col[data-status='done'] .nvnb-arena-answer")
        assert "Hello, both of you" in answered.inner_text()
        assert shaky.locator("textarea.nvnb-arena-prompt").input_value() == "Hello, both of you"
        assert shaky.get_attribute("data-busy") == "false"
        # Still there after the round: nothing repaints the error away.
        page.wait_for_timeout(1000)
        assert failed.locator(".nvnb-arena-error").inner_text() == error
        shot(page, f"marimo-arena-fails-{theme}-{width}", shaky)

        # The Code view: Copy, but no "Insert as cell" (marimo gives widgets no way to add cells).
        cols.nth(1).locator(".nvnb-arena-codebtn").click()
        code = duel.locator(".nvnb-code")
        code.wait_for()
        assert 'model="openai/gpt-oss-20b"' in code.locator(".nvnb-code-source").inner_text()
        assert code.locator(".nvnb-code-copy").is_visible()
        assert code.locator(".nvnb-code-insert").is_hidden()
        code.scroll_into_view_if_needed()
        shot(page, f"marimo-arena-code-{theme}-{width}", duel)
    finally:
        page.close()
