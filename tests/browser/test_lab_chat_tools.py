"""The ChatPanel's Code view and Export in a real JupyterLab: the code is the request the server
received (and runs), the conversation becomes cells below the panel (or an .ipynb download when
the page lets no widget add cells), the key is nowhere; 1400 and 800 px, light and dark.

The tests share one page (module scope) and run in file order, as a person would use the panel.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from labtools import chat_bodies, lab_url, run_all, set_theme, shot, start_kernel

KEY = "nvapi-browser-sentinel-key-0123456789"
STEERLM = "nvidia/nemotron-steerlm-8b"
PANEL = ".jp-Cell:nth-child(1) .jp-OutputArea"
NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "panel",
            "metadata": {},
            "outputs": [],
            "source": (
                "import nvnb\n"
                f"session = nvnb.Session({STEERLM!r}, api_key={KEY!r})\n"
                "session.labels = {'creativity': 7}\n"
                "panel = nvnb.ChatPanel(session, live=False)\n"
                "panel"
            ),
        },
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "after",
            "metadata": {},
            "outputs": [],
            "source": "print('the cell after the panel')",
        },
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
# The notebook's cells as the page's model holds them (through window.jupyterapp).
CELLS_JS = """() => jupyterapp.shell.currentWidget.content.model.sharedModel.cells.map((c) => ({
  type: c.cell_type, source: c.getSource(), metadata: c.getMetadata()}))"""


@pytest.fixture(scope="module")
def page(browser: Any, lab: str, workdir: Any) -> Any:
    (workdir / "notebooks" / "chat_tools.ipynb").write_text(json.dumps(NOTEBOOK, indent=1))
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    start_kernel(lab, "chat_tools.ipynb")
    page.goto(lab_url(lab, "chat_tools.ipynb"))
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    run_all(page, until=".jp-Cell:nth-child(2) .jp-OutputArea-output")
    page.wait_for_selector(f"{PANEL} [data-nvnb-widget='chat-composer']")
    page.wait_for_selector(f"{PANEL} [data-nvnb-widget='chat-export']", state="attached")
    yield page
    context.close()


def ask(page: Any, prompt: str) -> None:
    starts = int(page.get_attribute(f"{PANEL} .nvnb-stream", "data-starts") or 0)
    box = page.locator(f"{PANEL} textarea.nvnb-prompt")
    box.fill(prompt)
    box.press("Control+Enter")
    page.wait_for_selector(
        f"{PANEL} .nvnb-stream[data-status='done'][data-starts='{starts + 1}']", timeout=30_000
    )


def open_pop(page: Any, which: str) -> Any:
    if page.get_attribute(f"{PANEL} .nvnb-panel", "data-open") != which:
        page.click(f"{PANEL} .nvnb-{'code-button' if which == 'code' else 'export'}")
    pop = page.locator(f"{PANEL} .nvnb-pop-{which}")
    pop.wait_for(state="visible")
    return pop


def close_pops(page: Any) -> None:
    page.evaluate(
        "(sel) => { delete document.querySelector(sel).dataset.open; }", f"{PANEL} .nvnb-panel"
    )
    page.wait_for_selector(f"{PANEL} .nvnb-panel:not([data-open])", state="attached")


def no_key_anywhere(page: Any) -> None:
    """The key is in the first cell's source (the user wrote it there) and nowhere else: not in
    any output, not in any other cell."""
    outputs = page.evaluate(
        "() => [...document.querySelectorAll('.jp-OutputArea')].map((o) => o.outerHTML).join('')"
    )
    cells = json.dumps(page.evaluate(CELLS_JS)[1:])
    assert "nvnb-pop-code" in outputs and KEY not in outputs and KEY not in cells


def test_before_a_question_the_code_view_shows_what_the_settings_would_send(page: Any) -> None:
    pop = open_pop(page, "code")
    title = pop.locator(".nvnb-code-title")
    title.filter(has_text="current settings").wait_for()
    assert title.inner_text() == f"{STEERLM} · current settings, nothing sent yet"
    source = pop.locator(".nvnb-code-source")
    assert "ChatNVIDIA(" in source.inner_text() and '"Your question"' in source.inner_text()
    assert page.get_attribute(f"{PANEL} .nvnb-code-button", "aria-expanded") == "true"
    pop.locator(".nvnb-code-close").click()
    page.wait_for_selector(f"{PANEL} .nvnb-panel:not([data-open])", state="attached")


def test_the_code_view_shows_the_last_request_exactly_and_copies_it(
    page: Any, servers: Any
) -> None:
    fast, _ = servers
    fast.clear()
    ask(page, "What is a GPU?")
    sent = chat_bodies(fast)[-1]
    pop = open_pop(page, "code")
    pop.locator(".nvnb-code-title", has_text="Last request").wait_for()
    source = pop.locator(".nvnb-code-source")
    python = source.inner_text()
    assert f'model="{STEERLM}"' in python and 'labels={"creativity": 7}' in python
    assert 'HumanMessage(content="What is a GPU?")' in python
    pop.locator(".nvnb-code-tab[data-tab='nvchat']").click()
    nvchat = source.inner_text()
    assert nvchat.startswith(f"%%nvchat -m {STEERLM} ") and "--labels creativity=7" in nvchat
    pop.locator(".nvnb-code-tab[data-tab='curl']").click()
    curl = source.inner_text()
    assert curl.startswith("curl -sS -N -X POST ") and "/chat/completions" in curl
    assert '-H "Authorization: Bearer $NVIDIA_API_KEY"' in curl
    pop.locator(".nvnb-code-tab[data-tab='body']").click()
    assert json.loads(source.inner_text()) == sent  # the exact body the server received
    pop.locator(".nvnb-code-tab[data-tab='headers']").click()
    headers = source.inner_text()
    assert headers.startswith("→ 200 ok (") and "retries: 0 (0 × 429" in headers
    assert "request id: -" not in headers and "request id: " in headers
    assert pop.locator(".nvnb-code-insert").is_hidden()  # headers are not code

    pop.locator(".nvnb-code-tab[data-tab='curl']").click()
    pop.locator(".nvnb-code-copy").click()
    pop.locator(".nvnb-code-status", has_text="Copied.").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == curl
    no_key_anywhere(page)
    shot(page, "chat-code-curl-lab-1400", page.locator(".jp-Cell").first)


def test_insert_as_cell_puts_the_python_below_the_panel(page: Any) -> None:
    pop = open_pop(page, "code")
    pop.locator(".nvnb-code-tab[data-tab='python']").click()
    python = pop.locator(".nvnb-code-source").inner_text()
    pop.locator(".nvnb-code-insert").click()
    pop.locator(".nvnb-code-status", has_text="Inserted as a new cell below.").wait_for()
    cells = page.evaluate(CELLS_JS)
    assert len(cells) == 3 and cells[1]["type"] == "code"
    assert cells[1]["source"].strip() == python.strip()
    assert cells[2]["source"] == "print('the cell after the panel')"
    page.evaluate("() => jupyterapp.shell.currentWidget.content.model.sharedModel.deleteCell(1)")
    page.wait_for_function("() => document.querySelectorAll('.jp-Cell').length === 2")
    close_pops(page)


def test_export_writes_the_conversation_as_cells_that_ask_again(page: Any, servers: Any) -> None:
    fast, _ = servers
    ask(page, "And a CPU, in one line?")
    first, second = chat_bodies(fast)[-2:]
    pop = open_pop(page, "export")
    assert "2 questions" in pop.locator(".nvnb-export-hint").inner_text()
    shot(page, "chat-export-lab-1400", page.locator(".jp-Cell").first)
    pop.locator(".nvnb-export-cells").click()
    pop.locator(".nvnb-export-status", has_text="Inserted 7 cells below the panel.").wait_for()
    cells = page.evaluate(CELLS_JS)
    assert [c["type"] for c in cells] == (
        ["code", "markdown"] + ["markdown", "code", "markdown"] * 2 + ["code"]
    )
    assert cells[1]["source"].startswith("# Conversation")
    assert cells[2]["source"] == "**You:** What is a GPU?"
    assert "ChatNVIDIA(" in cells[3]["source"] and '"What is a GPU?"' in cells[3]["source"]
    assert cells[4]["source"].startswith(f"**{STEERLM}:** ")
    assert "And a CPU, in one line?" in cells[6]["source"]
    assert cells[-1]["source"] == "print('the cell after the panel')"
    meta = cells[3]["metadata"]["nvnb"]
    assert meta["model"] == STEERLM and meta["labels"] == {"creativity": 7} and meta["turn"] == 1
    assert meta["request_id"] and meta["time"]
    # Markdown cells are rendered, as a person reads them (the notebook draws only the cells
    # in view: ask its widgets).
    rendered = page.evaluate(
        """() => jupyterapp.shell.currentWidget.content.widgets
             .filter((w) => w.model.type === "markdown").map((w) => w.rendered)"""
    )
    assert rendered == [True] * 5
    shown = page.locator(".jp-MarkdownCell.jp-mod-rendered .jp-RenderedMarkdown")
    assert "What is a GPU?" in shown.nth(1).inner_text()
    no_key_anywhere(page)
    close_pops(page)
    page.locator(".jp-Cell").nth(1).scroll_into_view_if_needed()
    shot(page, "chat-export-cells-lab-1400", page.locator(".jp-Notebook"))

    # The second turn's code cell, run, sends the second request again, exactly.
    fast.clear()
    code_cell = page.locator(".jp-Cell").nth(6)
    code_cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    code_cell.locator(".jp-OutputArea-output").filter(has_text="And a CPU").wait_for(timeout=60_000)
    (again,) = chat_bodies(fast)
    assert again == second and again != first
    page.evaluate(
        "() => jupyterapp.shell.currentWidget.content.model.sharedModel.deleteCellRange(1, 8)"
    )
    page.wait_for_function("() => document.querySelectorAll('.jp-Cell').length === 2")


HIDE_APP = """() => { window.__nvnbApp = [window.jupyterapp, window.jupyterlab];
  window.jupyterapp = undefined; window.jupyterlab = undefined; }"""
SHOW_APP = "() => { [window.jupyterapp, window.jupyterlab] = window.__nvnbApp; }"


def test_without_the_app_object_export_inserts_through_the_notebook_model(page: Any) -> None:
    # JupyterLab's default: no window.jupyterapp. The widget manager's notebook model serves.
    page.evaluate(HIDE_APP)
    try:
        pop = open_pop(page, "export")
        pop.locator(".nvnb-export-cells").click()
        pop.locator(".nvnb-export-status", has_text="Inserted 7 cells below the panel.").wait_for()
    finally:
        page.evaluate(SHOW_APP)
    cells = page.evaluate(CELLS_JS)
    assert [c["type"] for c in cells] == (
        ["code", "markdown"] + ["markdown", "code", "markdown"] * 2 + ["code"]
    )
    assert cells[3]["metadata"]["nvnb"]["model"] == STEERLM
    rendered = page.evaluate(
        """() => jupyterapp.shell.currentWidget.content.widgets
             .filter((w) => w.model.type === "markdown").map((w) => w.rendered)"""
    )
    assert rendered == [True] * 5, rendered
    page.evaluate(
        "() => jupyterapp.shell.currentWidget.content.model.sharedModel.deleteCellRange(1, 8)"
    )
    page.wait_for_function("() => document.querySelectorAll('.jp-Cell').length === 2")
    close_pops(page)


def test_where_no_cell_can_take_them_export_downloads_the_notebook(page: Any) -> None:
    # The panel's cell cannot be found (as on a page with neither the app nor a notebook model):
    # the kernel is told the panel is shown elsewhere, and the app object is hidden.
    page.evaluate(
        """() => jupyterapp.shell.currentWidget.content.model.sharedModel.cells[1]
             .setSource("panel.exporter.anchor = 'shown-elsewhere'; print('anchor moved')")"""
    )
    after = page.locator(".jp-Cell").nth(1)
    after.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    after.locator(".jp-OutputArea-output", has_text="anchor moved").wait_for()
    page.evaluate(HIDE_APP)
    try:
        pop = open_pop(page, "export")
        with page.expect_download() as info:
            pop.locator(".nvnb-export-cells").click()
        download = info.value
        status = pop.locator(".nvnb-export-status")
        status.filter(has_text="does not let widgets add cells").wait_for()
        assert download.suggested_filename in status.inner_text()
        assert download.suggested_filename.endswith(".ipynb")
        notebook = json.loads(Path(download.path()).read_text(encoding="utf-8"))
        assert notebook["nbformat"] == 4 and len(notebook["cells"]) == 7
        assert notebook["cells"][3]["metadata"]["nvnb"]["model"] == STEERLM
        assert "What is a GPU?" in "".join(notebook["cells"][3]["source"])
        assert KEY not in json.dumps(notebook)
    finally:
        page.evaluate(SHOW_APP)
    assert page.locator(".jp-Cell").count() == 2  # nothing was inserted
    with page.expect_download() as info:
        pop.locator(".nvnb-export-ipynb").click()
    assert info.value.suggested_filename.endswith(".ipynb")
    pop.locator(".nvnb-export-status", has_text="Downloaded conversation-").wait_for()
    close_pops(page)


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
@pytest.mark.parametrize("width", [1400, 800])
def test_the_popovers_fit_and_read_well(page: Any, theme: str, width: int) -> None:
    if page.evaluate("() => document.body.dataset.jpThemeName") != theme:
        set_theme(page, theme)
    page.set_viewport_size({"width": width, "height": 1000})
    page.wait_for_timeout(400)
    name = theme.split()[-1].lower()
    panel = page.locator(f"{PANEL} .nvnb-panel").bounding_box()
    for which in ("code", "export"):
        pop = open_pop(page, which)
        if which == "code":
            pop.locator(".nvnb-code-tab[data-tab='python']").click()
            # code scrolls sideways rather than breaking lines inside words
            wrap = pop.locator(".nvnb-code-source").evaluate(
                "(e) => getComputedStyle(e).whiteSpace"
            )
            assert wrap == "pre"
        box = pop.bounding_box()
        assert box["x"] >= panel["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"] + 1
        for button in pop.locator(".nvnb-button").all():
            if button.is_visible():
                b = button.bounding_box()
                assert b["x"] + b["width"] <= box["x"] + box["width"] + 1, button.inner_text()
        shot(page, f"chat-{which}-{name}-{width}", page.locator(".jp-Cell").first)
    close_pops(page)
    if theme.endswith("Dark"):
        set_theme(page, "JupyterLab Light")


def test_code_and_export_work_in_notebook_7(
    browser: Any, lab: str, servers: Any, workdir: Any
) -> None:
    fast, _ = servers
    (workdir / "notebooks" / "chat_tools7.ipynb").write_text(json.dumps(NOTEBOOK, indent=1))
    context = browser.new_context(viewport={"width": 800, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        start_kernel(lab, "chat_tools7.ipynb")
        page.goto(f"{lab}/notebooks/chat_tools7.ipynb")
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        assert "jp-LabShell" not in page.evaluate("() => document.querySelector('#main').className")
        run_all(page, until=".jp-Cell:nth-child(2) .jp-OutputArea-output")
        page.wait_for_selector(f"{PANEL} [data-nvnb-widget='chat-composer']")
        fast.clear()
        ask(page, "Hello from Notebook 7")
        pop = open_pop(page, "code")
        pop.locator(".nvnb-code-title", has_text="Last request").wait_for()
        pop.locator(".nvnb-code-tab[data-tab='body']").click()
        assert json.loads(pop.locator(".nvnb-code-source").inner_text()) == chat_bodies(fast)[-1]
        shot(page, "chat-code-notebook7-800", page.locator(".jp-Cell").first)
        pop = open_pop(page, "export")
        # Notebook 7 exposes no application object: the notebook model takes the cells.
        assert not page.evaluate("() => Boolean(window.jupyterapp || window.jupyterlab)")
        pop.locator(".nvnb-export-cells").click()
        pop.locator(".nvnb-export-status", has_text="Inserted 4 cells below the panel.").wait_for()
        # Saved, the notebook holds the cells with their provenance.
        page.locator(".jp-Cell").nth(2).click()
        page.keyboard.press("Escape")
        page.keyboard.press("Control+s")
        saved = workdir / "notebooks" / "chat_tools7.ipynb"
        for _ in range(50):
            cells = json.loads(saved.read_text())["cells"]
            if len(cells) == 6:
                break
            page.wait_for_timeout(200)
        assert [c["cell_type"] for c in cells] == [
            "code",
            "markdown",
            "markdown",
            "code",
            "markdown",
            "code",
        ]
        code = "".join(cells[3]["source"])
        assert "ChatNVIDIA(" in code and '"Hello from Notebook 7"' in code
        assert cells[3]["metadata"]["nvnb"]["model"] == STEERLM
        assert KEY not in json.dumps(cells[1:])
        rendered = page.locator(
            ".jp-MarkdownCell.jp-mod-rendered", has_text="Hello from Notebook 7"
        )
        assert rendered.count() >= 1
        shot(page, "chat-export-notebook7-800", page.locator(".jp-Notebook"))
    finally:
        context.close()
