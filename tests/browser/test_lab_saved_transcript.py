"""A ChatPanel conversation survives the kernel: saved, shut down, reloaded, it is still readable.

In JupyterLab and Notebook 7: a conversation runs in the panel (its saved transcript hidden
while the panel is live), the notebook is saved, its session (kernel) deleted, and the page
reloaded with a fresh kernel that has no widget models. The transcript then shows the question
and answer, and the panel's "Error displaying widget: model not found" is hidden. Screenshots at
1400 and 800 px, light and dark. The saved file, opened where the notebook is not trusted,
shows the transcript as text; ``jupyter nbconvert --to html`` shows it too.
"""

from __future__ import annotations

import http.cookiejar
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest
from labtools import code, lab_url, notebook, run_all, set_theme, shot, start_kernel
from test_untrusted_markdown import BENIGN, LIVE_URLS, VECTORS, _offline, _watch

from nvnb.answers import Answer, Turn
from nvnb.session import Session
from nvnb.widgets.saved_transcript import transcript_bundle

QUESTION = "Saved question about tensor cores"
CELL = "import nvnb\npanel = nvnb.ChatPanel(nvnb.Session(), live=False)\npanel"
OUT = ".jp-Cell:nth-child(1) .jp-OutputArea"
TRANSCRIPT = f"{OUT} .nvnb-saved-transcript"
ERROR = f"{OUT} > .jp-OutputArea-child > .jp-OutputArea-output.jupyter-widgets"


def _opener(base: str) -> tuple[Any, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/lab", timeout=30).read()  # sets the _xsrf cookie
    return opener, next((c.value for c in jar if c.name == "_xsrf"), "")


def delete_sessions(base: str, path: str) -> None:
    """Shut the notebook's kernel down (its session deleted, as "Shut Down Kernel" does)."""
    opener, xsrf = _opener(base)
    with opener.open(f"{base}/api/sessions", timeout=30) as r:
        sessions = json.load(r)
    for s in sessions:
        if s["path"] == path:
            request = urllib.request.Request(
                f"{base}/api/sessions/{s['id']}", headers={"X-XSRFToken": xsrf}, method="DELETE"
            )
            opener.open(request, timeout=30).read()


def saved_outputs(root: Path, name: str) -> list[dict[str, Any]]:
    return json.loads((root / "notebooks" / name).read_text())["cells"][0]["outputs"]


def converse_save_and_reload(page: Any, base: str, url: str, root: Path, name: str) -> None:
    start_kernel(base, name)
    page.goto(url)
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    run_all(page, until=f"{OUT} [data-nvnb-widget='chat-composer']")
    box = page.locator(f"{OUT} textarea.nvnb-prompt")
    box.fill(QUESTION)
    box.press("Control+Enter")
    page.wait_for_selector(f"{OUT} .nvnb-stream[data-status='done']")
    # Live: the panel works as before, the transcript (updated after the turn) is not shown.
    page.wait_for_function(
        "(sel) => (document.querySelector(sel)?.textContent || '').includes('local nvnb server')",
        arg=TRANSCRIPT,
    )
    assert page.locator(TRANSCRIPT).is_hidden()
    assert page.locator(f"{OUT} .jp-OutputArea-child").nth(1).bounding_box() is None
    assert QUESTION in page.inner_text(f"{OUT} .nvnb-panel")
    shot(page, f"30-transcript-live-{name[:-6]}", page.locator(".jp-Cell").first)
    page.locator(f"{OUT} .nvnb-panel").click(position={"x": 5, "y": 5})
    page.keyboard.press("Escape")  # command mode, then save
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        outs = saved_outputs(root, name)
        if len(outs) == 2 and "local nvnb server" in "".join(outs[1]["data"]["text/plain"]):
            break
        page.wait_for_timeout(300)
    else:
        raise AssertionError(f"not saved with the transcript: {saved_outputs(root, name)}")
    delete_sessions(base, name)
    page.reload()
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    # The widget manager gives up on the missing model once it is restored.
    page.wait_for_selector(ERROR, state="attached", timeout=60_000)


def check_reloaded(page: Any, stem: str) -> None:
    transcript = page.locator(TRANSCRIPT)
    transcript.wait_for(state="visible")
    text = transcript.inner_text()
    assert QUESTION in text and "This is the local nvnb server" in text
    assert "Saved copy of a ChatPanel conversation" in text
    assert "meta/llama-3.1-8b-instruct" in text
    assert page.locator(ERROR).is_hidden()
    assert not page.get_by_text("model not found").is_visible()
    assert page.locator(f"{OUT} .nvnb-panel").count() == 0
    for theme in ("JupyterLab Light", "JupyterLab Dark"):
        set_theme(page, theme)
        for width in (1400, 800):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(300)
            box = transcript.bounding_box()
            assert box is not None and box["width"] <= width
            tone = "dark" if "Dark" in theme else "light"
            shot(page, f"31-transcript-reloaded-{stem}-{tone}-{width}")
    set_theme(page, "JupyterLab Light")  # the settings are shared with the other tests


def test_jupyterlab_shows_the_saved_conversation_after_the_kernel_is_gone(browser, lab, workdir):
    name = "saved-lab.ipynb"
    (workdir / "notebooks" / name).write_text(notebook(code(CELL, "panel")))
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        converse_save_and_reload(page, lab, lab_url(lab, name), workdir, name)
        check_reloaded(page, "lab")
    except Exception:
        shot(page, "failed-saved-transcript-lab")
        raise
    finally:
        context.close()


def test_notebook_7_shows_the_saved_conversation_after_the_kernel_is_gone(browser, lab, workdir):
    name = "saved-nb7.ipynb"
    (workdir / "notebooks" / name).write_text(notebook(code(CELL, "panel")))
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        converse_save_and_reload(page, lab, f"{lab}/notebooks/{name}", workdir, name)
        check_reloaded(page, "nb7")
    except Exception:
        shot(page, "failed-saved-transcript-nb7")
        raise
    finally:
        context.close()


def test_an_untrusted_copy_and_nbconvert_show_the_conversation(browser, lab, workdir):
    """Run after the JupyterLab test (its saved file): a copy not signed by this server is
    untrusted; nbconvert's HTML is what GitHub-like viewers show."""
    source = workdir / "notebooks" / "saved-lab.ipynb"
    if not source.exists():
        pytest.skip("needs the saved notebook of the JupyterLab test")
    nb = json.loads(source.read_text())
    nb["metadata"]["copied"] = True  # no longer matches its signature: untrusted
    name = "saved-untrusted.ipynb"
    (workdir / "notebooks" / name).write_text(json.dumps(nb, indent=1))
    html = workdir / "saved-lab.html"
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", str(source), "--output-dir",
         str(workdir)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = browser.new_context(viewport={"width": 800, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(lab_url(lab, name))
        page.wait_for_selector(f"{OUT} .jp-OutputArea-child >> nth=1", timeout=90_000)
        page.wait_for_timeout(1500)
        text = page.inner_text(OUT)
        assert QUESTION in text and "This is the local nvnb server" in text
        assert "Saved copy of a ChatPanel conversation" in text
        shot(page, "32-transcript-untrusted-800")
        page.goto(html.as_uri())
        transcript = page.locator(".nvnb-saved-transcript")
        transcript.wait_for(state="visible")
        assert QUESTION in transcript.inner_text()
        assert "This is the local nvnb server" in transcript.inner_text()
        assert not page.get_by_text("model not found").is_visible()
        shot(page, "33-transcript-nbconvert-800")
    except Exception:
        shot(page, "failed-saved-transcript-untrusted")
        raise
    finally:
        context.close()


def test_transcripts_holding_public_xss_vectors_run_nothing_in_nbconverts_export(browser, tmp_path):
    """Every vector of tests/data/xss_vectors.json as a question and an answer in saved
    transcripts (after a panel output whose model is gone), exported by nbconvert and opened in
    Chromium: no dialog, no flag, no live URL or handler; the only active element is each
    transcript's own <style>; ordinary Markdown still renders."""
    view = {"version_major": 2, "version_minor": 0, "model_id": "0" * 32}
    cells = []
    shown = [BENIGN, *VECTORS]
    for start in range(0, len(shown), 20):
        session = Session()
        session.history = [
            turn
            for v in shown[start : start + 20]
            for turn in (Turn("user", v), Turn("assistant", v, answer=Answer(text=v, model="m")))
        ]
        cell = nbformat.v4.new_code_cell("panel", execution_count=len(cells) + 1)
        cell.outputs = [
            nbformat.v4.new_output("display_data", data={
                "application/vnd.jupyter.widget-view+json": view, "text/plain": "ChatPanel()"}),
            nbformat.v4.new_output("display_data", data=transcript_bundle(session)),
        ]  # fmt: skip
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = tmp_path / "transcripts.ipynb"
    nbformat.write(nb, path)
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(path)],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    page = browser.new_page()
    dialogs = _watch(page)
    _offline(page)
    try:
        page.goto((tmp_path / "transcripts.html").as_uri())
        page.wait_for_timeout(1500)  # let onload/onerror handlers and timers fire, if any
        root = ".nvnb-saved-transcript"
        assert page.locator(root).count() == len(cells)
        assert dialogs == [] and page.evaluate("window.__xss ?? null") is None
        assert page.evaluate(LIVE_URLS, root) == []
        active = page.evaluate(
            "(root) => Array.from(document.querySelectorAll(root)).flatMap(r => Array.from("
            "r.querySelectorAll('script, iframe, frame, object, embed, form, svg, math, style,"
            " link, meta, base'))).map(e => e.outerHTML)",
            root,
        )
        assert len(active) == len(cells) and all(a.startswith("<style>.jp-Output") for a in active)
        first = page.locator(root).first
        assert first.locator("table td").all_inner_texts() == ["a", "1", "a", "1"]
        assert first.locator("a[href='https://example.org/a?b=1&c=2']").count() == 2
        assert page.locator(root).first.is_visible()
        shot(page, "34-transcript-xss-nbconvert")
    finally:
        page.close()
