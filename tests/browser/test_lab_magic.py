"""%%nvchat in a real JupyterLab: the streaming pane's Stop works while the cell runs, the answer
is shown once, and a saved notebook reopened without its kernel reads the answer (no "model not
found", no "no answer yet").
"""

from __future__ import annotations

import http.cookiejar
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from labtools import code, lab_url, notebook, run_all, shot, start_kernel, wait_kernel_idle

STORY = ".jp-Cell:nth-child(2) .jp-OutputArea"
CHECK = ".jp-Cell:nth-child(3) .jp-OutputArea"
SAVED = ".jp-Cell:nth-child(2) .jp-OutputArea"


@pytest.fixture(scope="module")
def notebooks(workdir: Path) -> Path:
    where = workdir / "notebooks"
    slow = (
        "import os, nvnb, nvnb.session as s\n"
        "s._default = s.Session(base_url=os.environ['NVNB_SLOW_URL'])  # long answers, slowly\n"
        "%load_ext nvnb"
    )
    (where / "stop.ipynb").write_text(
        notebook(
            code(slow, "setup"),
            code("%%nvchat -o story\nTell me a long story", "story"),
            code("print(len(story) > 0, nvnb.session().history[-1].answer.stop_reason)", "check"),
        )
    )
    (where / "saved.ipynb").write_text(
        notebook(code("%load_ext nvnb", "setup"), code("%%nvchat\nHello saved notebook", "ask"))
    )
    return where


@pytest.mark.parametrize(("front_end", "width"), [("lab", 1400), ("notebook7", 800)])
def test_stop_in_a_streaming_nvchat_cell_stops_it_and_keeps_the_partial_text(
    browser: Any, lab: str, notebooks: Path, front_end: str, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        start_kernel(lab, "stop.ipynb")
        url = lab_url(lab, "stop.ipynb") if front_end == "lab" else f"{lab}/notebooks/stop.ipynb"
        page.goto(url)
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        run_all(page, until=f"{STORY} .nvnb-stream[data-status='streaming'] .nvnb-stop")
        page.wait_for_function(  # some text has arrived
            "(sel) => (document.querySelector(sel)?.textContent || '').length > 40",
            arg=f"{STORY} .nvnb-answer",
        )
        shot(page, f"20-nvchat-streaming-stop-{front_end}-{width}", page.locator(".jp-Cell").nth(1))
        page.click(f"{STORY} .nvnb-stop")
        # The cell ends (no kernel interrupt): the next cell runs and says how it stopped.
        page.wait_for_selector(f"{CHECK} .jp-OutputArea-output >> text=/True stop/")
        wait_kernel_idle(page)
        outputs = page.locator(f"{STORY} .jp-OutputArea-output:visible")
        texts = [t for t in outputs.all_inner_texts() if t.strip()]
        assert len(texts) == 1, texts  # the partial answer, once; the pane stepped aside
        assert texts[0].startswith("This is the local nvnb server")
        assert texts[0].rstrip().endswith("(stopped)")
        assert "Error" not in texts[0] and "KeyboardInterrupt" not in texts[0]
        assert page.locator(f"{STORY} [data-nvnb-widget='stream-pane']").count() == 0
        shot(page, f"21-nvchat-stopped-{front_end}-{width}", page.locator(".jp-Cell").nth(1))
    except Exception:
        shot(page, f"failed-nvchat-stop-{front_end}")
        raise
    finally:
        context.close()


def _shut_down_kernels(base: str, path: str) -> None:
    """Delete the notebook's sessions (their kernels stop) through the REST API."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/lab", timeout=30).read()  # sets the _xsrf cookie
    xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
    with opener.open(f"{base}/api/sessions", timeout=30) as r:
        sessions = [s for s in json.load(r) if s["path"].endswith(path)]
    for session in sessions:
        request = urllib.request.Request(
            f"{base}/api/sessions/{session['id']}", headers={"X-XSRFToken": xsrf}, method="DELETE"
        )
        opener.open(request, timeout=30).read()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_saved_nvchat_answer_reads_well_when_reopened_without_its_kernel(
    browser: Any, lab: str, notebooks: Path, theme: str
) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        if theme == "light":  # run and save once; the dark run reopens the same file
            start_kernel(lab, "saved.ipynb")
            page.goto(lab_url(lab, "saved.ipynb"))
            page.wait_for_selector(".jp-Notebook", timeout=90_000)
            run_all(page, until=f"{SAVED} .jp-OutputArea-output >> text=/local nvnb server/")
            wait_kernel_idle(page)
            page.keyboard.press("Control+s")
            page.wait_for_function("() => !document.querySelector('.jp-mod-current .jp-mod-dirty')")
            page.wait_for_timeout(500)
        saved = json.loads((notebooks / "saved.ipynb").read_text())
        outputs = saved["cells"][1]["outputs"]
        shown = [o for o in outputs if "text/markdown" in o.get("data", {})]
        assert len(shown) == 1
        assert "local nvnb server" in "".join(shown[0]["data"]["text/markdown"])
        assert not any("no answer yet" in json.dumps(o) for o in outputs)
        context.close()

        # A new page after the kernel is gone: JupyterLab renders the saved outputs alone.
        _shut_down_kernels(lab, "saved.ipynb")
        context = browser.new_context(viewport={"width": 800, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(lab_url(lab, "saved.ipynb"))
        page.wait_for_selector(f"{SAVED} .jp-OutputArea-output >> text=/local nvnb server/")
        if theme == "dark":
            page.evaluate(
                "() => window.jupyterapp.commands.execute('apputils:change-theme', "
                "{theme: 'JupyterLab Dark'})"
            )
            page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
        page.wait_for_timeout(1500)  # the widget manager has settled: missing models said
        text = page.inner_text(".jp-Notebook")
        assert "model not found" not in text and "Error displaying widget" not in text
        assert "no answer yet" not in text
        shot(page, f"22-nvchat-reopened-{theme}-800", page.locator(".jp-Notebook"))
    except Exception:
        shot(page, f"failed-nvchat-reopened-{theme}")
        raise
    finally:
        context.close()
