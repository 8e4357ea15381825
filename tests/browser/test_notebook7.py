"""The same notebook in Notebook 7 (``jupyter notebook``): the panel renders and answers."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import _jupyter
from labtools import run_all, shot, start_kernel

PANEL = ".jp-Cell:nth-child(1) .jp-OutputArea"


@pytest.fixture(scope="module")
def notebook7(workdir: Any, servers: Any) -> Any:
    with _jupyter("notebook", workdir, servers) as base:
        yield base


def test_the_chat_panel_works_in_notebook_7(browser, notebook7, servers):
    fast, _ = servers
    context = browser.new_context(viewport={"width": 1300, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        start_kernel(notebook7, "panel7.ipynb")
        page.goto(f"{notebook7}/notebooks/panel7.ipynb")
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        run_all(page)
        page.wait_for_selector(f"{PANEL} [data-nvnb-widget='chat-composer']", timeout=90_000)
        for part in ("model-picker", "steer-sliders", "image-drop", "stream-pane"):
            assert page.locator(f"{PANEL} [data-nvnb-widget='{part}']").count() == 1, part
        fast.clear()
        box = page.locator(f"{PANEL} textarea.nvnb-prompt")
        box.fill("Hello from Notebook 7")
        page.click(f"{PANEL} .nvnb-send")
        page.wait_for_selector(f"{PANEL} .nvnb-stream[data-status='done']")
        assert "Hello from Notebook 7" in page.inner_text(f"{PANEL} .nvnb-answer")
        assert any(r.path.endswith("/chat/completions") for r in fast.requests)
        shot(page, "08-notebook7", page.locator(".jp-Cell").first)
    finally:
        context.close()
