"""The same notebook in Notebook 7: the panel renders, answers, and keeps keys to itself.

Notebook 7's front end is served at ``/notebooks/…`` by the same Jupyter Server that ``jupyter lab``
started (the ``notebook`` server extension is loaded there too), which saves a second server start.
"""

from __future__ import annotations

import urllib.request

import pytest
from labtools import run_all, shot, start_kernel

PANEL = ".jp-Cell:nth-child(1) .jp-OutputArea"


@pytest.fixture(scope="module")
def notebook7(lab: str) -> str:
    return lab


def test_notebook_7s_file_browser_is_served(notebook7):
    with urllib.request.urlopen(f"{notebook7}/tree", timeout=30) as r:
        assert r.status == 200
        assert "notebook" in r.read().decode().lower()


ACTIVE_CELL = (
    "() => Array.from(document.querySelectorAll('.jp-Cell')).findIndex("
    "(c) => c.classList.contains('jp-mod-active'))"
)


def test_the_chat_panel_works_in_notebook_7(browser, notebook7, servers):
    fast, _ = servers
    context = browser.new_context(viewport={"width": 800, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        start_kernel(notebook7, "panel7.ipynb")
        page.goto(f"{notebook7}/notebooks/panel7.ipynb")
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        shell = page.evaluate("() => document.querySelector('#main').className")
        assert "jp-LabShell" not in shell, shell  # Notebook 7's own shell, not JupyterLab's
        run_all(page, until=f"{PANEL} [data-nvnb-widget='chat-composer']")
        for part in ("chat-toolbar", "model-picker", "steer-sliders", "stream-pane"):
            assert page.locator(f"{PANEL} [data-nvnb-widget='{part}']").count() == 1, part
        page.click(f"{PANEL} .nvnb-settings-button")
        page.fill(f"{PANEL} input[name='temperature']", "0.6")
        page.locator(f"{PANEL} input[name='temperature']").dispatch_event("change")
        shot(page, "12-notebook7-settings-800", page.locator(".jp-Cell").first)
        page.click(f"{PANEL} .nvnb-settings-button")
        fast.clear()
        box = page.locator(f"{PANEL} textarea.nvnb-prompt")
        box.fill("Hello from Notebook 7")
        page.click(f"{PANEL} .nvnb-send")
        page.wait_for_selector(f"{PANEL} .nvnb-stream[data-status='done']")
        assert "Hello from Notebook 7" in page.inner_text(f"{PANEL} .nvnb-answer")
        (body,) = [r.json for r in fast.requests if r.path.endswith("/chat/completions")]
        assert body["temperature"] == pytest.approx(0.6)
        panel = page.locator(f"{PANEL} .nvnb-panel").bounding_box()
        assert panel["width"] <= 800 and panel["height"] <= 900
        shot(page, "13-notebook7-800", page.locator(".jp-Cell").first)
    except Exception:
        shot(page, "failed-notebook7")
        raise
    finally:
        context.close()


def test_arrow_keys_reach_the_sliders_in_notebook_7(browser, notebook7):
    """Notebook 7 handles shortcuts in the capture phase: the keys must still move the sliders
    (settings and SteerLM labels), and the notebook's cell selection must stay."""
    context = browser.new_context(viewport={"width": 800, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        start_kernel(notebook7, "panel7.ipynb")
        page.goto(f"{notebook7}/notebooks/panel7.ipynb")
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        run_all(page, until=f"{PANEL} [data-nvnb-widget='chat-composer']")
        page.click(f"{PANEL} .nvnb-model-button")
        page.select_option(f"{PANEL} select.nvnb-type-filter", "steerlm")
        page.check(f"{PANEL} .nvnb-show-deprecated input")  # its one model is deprecated
        page.click(f"{PANEL} .nvnb-picker-row[data-id='nvidia/nemotron-steerlm-8b']")
        page.click(f"{PANEL} .nvnb-settings-button")
        page.wait_for_selector(f"{PANEL} [data-nvnb-widget='steer-sliders'][data-enabled='true']")
        page.click(f"{PANEL} .nvnb-settings-label >> text='Top p'")  # the cell is selected
        before = page.evaluate(ACTIVE_CELL)
        top_p = page.locator(f"{PANEL} input[name='top_p']")
        start = float(top_p.input_value())
        top_p.focus()
        top_p.press("ArrowLeft")
        top_p.press("ArrowLeft")
        assert float(top_p.input_value()) == pytest.approx(start - 0.02)
        creativity = page.locator(f"{PANEL} input[name='creativity']")
        creativity.focus()
        for key in ("ArrowUp", "ArrowRight", "ArrowDown", "ArrowRight"):
            creativity.press(key)
        page.wait_for_selector(f"{PANEL} .nvnb-steer-row[data-label='creativity'] >> text='7'")
        shot(page, "14-notebook7-steer-keys-800", page.locator(".jp-Cell").first)
        assert page.evaluate(ACTIVE_CELL) == before
    except Exception:
        shot(page, "failed-notebook7-keys")
        raise
    finally:
        context.close()
