"""The same notebook in Notebook 7: the panel renders and answers.

Notebook 7's front end is served at ``/notebooks/…`` by the same Jupyter Server that ``jupyter lab``
started (the ``notebook`` server extension is loaded there too), which saves a second server start.
"""

from __future__ import annotations

import pytest
from labtools import run_all, shot, start_kernel

PANEL = ".jp-Cell:nth-child(1) .jp-OutputArea"


@pytest.fixture(scope="module")
def notebook7(lab: str) -> str:
    return lab


def test_the_chat_panel_works_in_notebook_7(browser, notebook7, servers):
    fast, _ = servers
    context = browser.new_context(viewport={"width": 1300, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        start_kernel(notebook7, "panel7.ipynb")
        page.goto(f"{notebook7}/notebooks/panel7.ipynb")
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        shell = page.evaluate("() => document.querySelector('#main').className")
        assert "jp-LabShell" not in shell, shell  # Notebook 7's own shell, not JupyterLab's
        print("notebook 7 shell:", shell)
        run_all(page, until=f"{PANEL} [data-nvnb-widget='chat-composer']")
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
    except Exception:
        shot(page, "failed-notebook7")
        raise
    finally:
        context.close()
