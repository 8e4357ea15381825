"""nvnb.widgets.in_marimo, and the marimo quickstart executed headless by ``marimo export html``
against the local server (this is how CI runs the marimo tutorial)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

mo = pytest.importorskip("marimo")

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "01_quickstart_marimo.py"
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


def test_the_marimo_quickstart_runs_headless(nvnb_server: Any, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVIDIA_", "NVNB_"))}
    env.update(NVIDIA_BASE_URL=nvnb_server.base_url, HOME=str(tmp_path))
    out = tmp_path / "quickstart.html"
    run = subprocess.run(
        [str(MARIMO), "export", "html", str(NOTEBOOK), "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    printed = run.stdout + run.stderr
    assert "standing in for mistralai/mixtral-8x7b-instruct-v0.1" in printed
    assert "2 messages in the session the panel shows" in printed
    assert "Traceback" not in printed
    asked = [r.json["messages"][-1]["content"] for r in nvnb_server.requests if r.json]
    assert "Write a ballad about LangChain." in asked and "What does a GPU do?" in asked
