"""nvnb.widgets.in_marimo, and the marimo quickstart executed headless by ``marimo export html``
against the local server (this is how CI runs the marimo tutorial)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

mo = pytest.importorskip("marimo")

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "01_quickstart_marimo.py"
ARENA_NOTEBOOK = NOTEBOOK.with_name("16_arena_marimo.py")
MARIMO = Path(sys.executable).parent / "marimo"


def test_the_chat_panel_is_the_panels_anywidget_parts_stacked(nvnb_server: Any) -> None:
    from nvnb.session import Session
    from nvnb.widgets.in_marimo import chat_panel, stream_pane

    session = Session(base_url=nvnb_server.base_url)
    view = chat_panel(session, live=False)
    panel = view.panel
    assert panel.session is session
    html = view.text
    assert html.count("marimo-anywidget") >= 6  # picker, sliders, history, pane, images, composer
    assert stream_pane(session).pane._session is session


def test_the_arena_is_one_anywidget_on_the_given_session(nvnb_server: Any) -> None:
    from nvnb.session import Session
    from nvnb.widgets.arena import Arena
    from nvnb.widgets.in_marimo import arena

    session = Session(base_url=nvnb_server.base_url)
    view = arena(["meta/llama-3.1-8b-instruct", "openai/gpt-oss-20b"], session, temperature=0.2)
    assert isinstance(view.arena, Arena) and view.arena.session is session
    assert view.text.count("<marimo-anywidget") == 1
    results = view.arena.ask("Hi both").wait(30)
    assert [r.status for r in results] == ["done", "done"]
    sent = [r.json for r in nvnb_server.requests if r.path.endswith("/chat/completions")]
    assert {b["model"] for b in sent} == {"meta/llama-3.1-8b-instruct", "openai/gpt-oss-20b"}
    assert {b["temperature"] for b in sent} == {0.2}
    with pytest.raises(Exception, match="2 to 4 models"):
        arena(["meta/llama-3.1-8b-instruct"], session)


def _export(notebook: Path, server: Any, tmp_path: Path) -> str:
    """Run a marimo notebook headless (``marimo export html``, as CI does); what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVIDIA_", "NVNB_"))}
    env.update(NVIDIA_BASE_URL=server.base_url, HOME=str(tmp_path))
    out = tmp_path / f"{notebook.stem}.html"
    run = subprocess.run(
        [str(MARIMO), "export", "html", str(notebook), "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout + run.stderr


def test_the_marimo_quickstart_runs_headless(nvnb_server: Any, tmp_path: Path) -> None:
    printed = _export(NOTEBOOK, nvnb_server, tmp_path)
    assert "standing in for mistralai/mixtral-8x7b-instruct-v0.1" in printed
    assert "2 messages in the session the panel shows" in printed
    assert re.search(r"streamed \d+ tokens into the pane", printed), printed
    assert "Traceback" not in printed
    asked = [r.json["messages"][-1]["content"] for r in nvnb_server.requests if r.json]
    assert "Write a ballad about LangChain." in asked and "What does a GPU do?" in asked


def test_the_marimo_arena_tutorial_runs_headless(nvnb_server: Any, tmp_path: Path) -> None:
    printed = _export(ARENA_NOTEBOOK, nvnb_server, tmp_path)
    assert "Traceback" not in printed
    for model in ("meta/llama-3.3-70b-instruct", "openai/gpt-oss-20b"):
        assert re.search(rf"{re.escape(model)} +done +\d+ tokens", printed), printed
    asked = {
        r.json["model"]
        for r in nvnb_server.requests
        if r.json and "why do GPUs speed up" in r.json["messages"][-1]["content"]
    }
    assert asked == {"meta/llama-3.3-70b-instruct", "openai/gpt-oss-20b"}
