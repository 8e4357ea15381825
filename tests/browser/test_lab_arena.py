"""Arena in a real JupyterLab and Notebook 7: three models side by side from nvnb serve, one
failing alone, Stop, the best answer, the Code view; 1400 and 800 px, light and dark."""

from __future__ import annotations

import json
from typing import Any

import pytest
from labtools import chat_bodies, lab_url, notebook, run_all, set_theme, shot, start_kernel
from labtools import code as code_cell

MODELS = ["meta/llama-3.1-8b-instruct", "nvidia/nemotron-steerlm-8b", "google/gemma-3n-e4b-it"]
FAST = ".jp-Cell:nth-child(1) .jp-OutputArea"
FAULTY = ".jp-Cell:nth-child(2) .jp-OutputArea"
SLOW = ".jp-Cell:nth-child(3) .jp-OutputArea"


PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFElEQVR4nGMUqTjBgA0w"
    "YRUdtBIADVsBZEn8cp0AAAAASUVORK5CYII="
)
NOTEBOOK = notebook(
    code_cell(
        "import nvnb\n"
        f"arena = nvnb.Arena(models={MODELS!r}, labels={{'creativity': 8}}, images=[{PNG!r}])\n"
        "arena",
        "fast",
    ),
    code_cell(
        "faulty = nvnb.Arena(models=" + repr(MODELS) + ", session=nvnb.Session(max_retries=0,"
        " default_headers={'X-NVNB-Fault': 'status=500;times=1;id=arena-browser'}))\n"
        "faulty",
        "faulty",
    ),
    code_cell(
        "import os\n"
        "slow = nvnb.Arena(models=" + repr(MODELS[:2]) + ", "
        "session=nvnb.Session(base_url=os.environ['NVNB_SLOW_URL']))\n"
        "slow",
        "slow",
    ),
)


@pytest.fixture(scope="module")
def notebooks(workdir: Any) -> Any:
    for name in ("arena.ipynb", "arena7.ipynb"):
        (workdir / "notebooks" / name).write_text(NOTEBOOK)
    return workdir


def open_notebook(browser: Any, lab: str, path: str, width: int, notebook7: bool = False) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 1200})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    start_kernel(lab, path)
    page.goto(f"{lab}/notebooks/{path}" if notebook7 else lab_url(lab, path))
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    run_all(page, until=f"{SLOW} [data-nvnb-widget='arena']")
    page.wait_for_selector(f"{FAST} [data-nvnb-widget='arena']")
    return page


def ask(page: Any, where: str, prompt: str) -> None:
    box = page.locator(f"{where} textarea.nvnb-arena-prompt")
    box.fill(prompt)
    box.press("Control+Enter")


def wait_columns(page: Any, where: str, statuses: str, timeout: float = 30_000) -> None:
    """Wait until no column of ``where`` is waiting or streaming; ``statuses`` sorted, e.g.
    ``"done,done,error"``."""
    page.wait_for_function(
        """([sel, want]) => {
          const got = [...document.querySelectorAll(sel)].map((c) => c.dataset.status).sort();
          return got.join(",") === want;
        }""",
        arg=[f"{where} .nvnb-arena-col", statuses],
        timeout=timeout,
    )


@pytest.mark.parametrize("width", [1400, 800])
def test_three_models_answer_side_by_side_in_jupyterlab(
    browser: Any, lab: str, servers: Any, notebooks: Any, width: int
) -> None:
    fast, _ = servers
    page = open_notebook(browser, lab, "arena.ipynb", width)
    try:
        fast.clear()
        ask(page, FAST, "Compare GPUs and CPUs in one sentence")
        wait_columns(page, FAST, "done,done,done")
        cols = page.locator(f"{FAST} .nvnb-arena-col")
        assert cols.count() == 3
        for i in range(3):
            col = cols.nth(i)
            assert "Compare GPUs and CPUs" in col.locator(".nvnb-arena-answer").inner_text()
            stats = col.locator(".nvnb-arena-stats").inner_text()
            assert "first token" in stats and "tok/s" in stats and "request id" in stats
        assert {b["model"] for b in chat_bodies(fast)} == set(MODELS)
        # Labels only to the SteerLM model, the image only to the vision model; the others say so.
        skipped = [cols.nth(i).locator(".nvnb-arena-skipped").inner_text() for i in range(3)]
        assert "labels and images" in skipped[0]
        assert "images" in skipped[1] and "labels" not in skipped[1]
        assert "labels" in skipped[2] and "images" not in skipped[2]
        boxes = [cols.nth(i).bounding_box() for i in range(3)]
        if width >= 1400:  # side by side: one row
            assert len({round(b["y"]) for b in boxes}) == 1
        # The best answer
        cols.nth(1).locator(".nvnb-arena-best").click()
        page.wait_for_selector(f"{FAST} .nvnb-arena-col.nvnb-arena-isbest[data-index='1']")
        assert cols.nth(1).locator(".nvnb-arena-best").inner_text() == "★ Best"
        shot(page, f"arena-lab-{width}", page.locator(".jp-Cell").first)

        # The Code view of the SteerLM column
        cols.nth(1).locator(".nvnb-arena-codebtn").click()
        code = page.locator(f"{FAST} .nvnb-code")
        code.wait_for()
        source = code.locator(".nvnb-code-source")
        assert "ChatNVIDIA(" in source.inner_text()
        assert '"creativity": 8' in source.inner_text()
        code.locator(".nvnb-code-tab[data-tab='nvchat']").click()
        assert "%%nvchat -m nvidia/nemotron-steerlm-8b" in source.inner_text()
        assert "--labels creativity=8" in source.inner_text()
        code.locator(".nvnb-code-tab[data-tab='curl']").click()
        assert "curl -sS -N -X POST" in source.inner_text()
        code.locator(".nvnb-code-tab[data-tab='headers']").click()
        assert "request id:" in source.inner_text() and "retries: 0" in source.inner_text()
        code.locator(".nvnb-code-tab[data-tab='body']").click()
        body = json.loads(source.inner_text())
        sent = next(b for b in chat_bodies(fast) if b["model"] == MODELS[1])
        assert body == sent  # the exact body the server received
        code.locator(".nvnb-code-tab[data-tab='python']").click()
        code.locator(".nvnb-code-insert").click()
        status = code.locator(".nvnb-code-status")
        status.wait_for()
        assert status.inner_text() == "Inserted as a new cell below."
        added = page.locator(".jp-Cell").nth(1)
        source_lines = added.locator(".cm-line").all_inner_texts()
        assert source_lines[0] == "from langchain_core.messages import HumanMessage"
        assert '    model="nvidia/nemotron-steerlm-8b",' in source_lines
        code.scroll_into_view_if_needed()
        shot(page, f"arena-code-lab-{width}", page.locator(".jp-Cell").first)
        shot(page, f"arena-inserted-lab-{width}", added)
        # Delete it again, so the notebook stays as written for the next tests.
        page.keyboard.press("Escape")
        page.keyboard.press("d")
        page.keyboard.press("d")
        page.wait_for_function("() => document.querySelectorAll('.jp-Cell').length === 3")
    finally:
        page.context.close()


def test_one_failing_model_keeps_its_error_and_stop_stops_all(
    browser: Any, lab: str, servers: Any, notebooks: Any
) -> None:
    page = open_notebook(browser, lab, "arena.ipynb", 1400)
    try:
        ask(page, FAULTY, "Hello, all of you")
        wait_columns(page, FAULTY, "done,done,error")
        error = page.locator(f"{FAULTY} .nvnb-arena-col[data-status='error'] .nvnb-arena-error")
        assert "500" in error.inner_text()
        for col in page.locator(f"{FAULTY} .nvnb-arena-col[data-status='done']").all():
            assert "Hello, all of you" in col.locator(".nvnb-arena-answer").inner_text()
        page.locator(FAULTY).scroll_into_view_if_needed()
        shot(page, "arena-one-fails", page.locator(".jp-Cell").nth(1))

        ask(page, SLOW, "Tell me everything")
        page.wait_for_function(
            """(sel) => [...document.querySelectorAll(sel)].every(
                 (c) => Number(c.dataset.length) > 200)""",
            arg=f"{SLOW} .nvnb-arena-col",
        )
        page.click(f"{SLOW} .nvnb-arena-stop")
        wait_columns(page, SLOW, "stopped,stopped", timeout=10_000)
        for col in page.locator(f"{SLOW} .nvnb-arena-col").all():
            assert len(col.locator(".nvnb-arena-answer").inner_text()) > 100  # text kept
        assert page.locator(f"{SLOW} .nvnb-arena-stop").is_hidden()

        set_theme(page, "JupyterLab Dark")
        luminance = page.evaluate(
            """(sel) => {
              const [r, g, b] = getComputedStyle(document.querySelector(sel)).backgroundColor
                .match(/\\d+/g).map(Number);
              return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
            }""",
            f"{FAULTY} .nvnb-arena-col",
        )
        assert luminance < 0.3
        shot(page, "arena-dark", page.locator(".jp-Cell").nth(1))
    finally:
        try:
            set_theme(page, "JupyterLab Light")
        finally:
            page.context.close()


def test_the_arena_works_in_notebook_7_at_800_px(
    browser: Any, lab: str, servers: Any, notebooks: Any
) -> None:
    page = open_notebook(browser, lab, "arena7.ipynb", 800, notebook7=True)
    try:
        shell = page.evaluate("() => document.querySelector('#main').className")
        assert "jp-LabShell" not in shell, shell
        ask(page, FAST, "Hello from Notebook 7")
        wait_columns(page, FAST, "done,done,done")
        for col in page.locator(f"{FAST} .nvnb-arena-col").all():
            assert "Hello from Notebook 7" in col.locator(".nvnb-arena-answer").inner_text()
        page.locator(f"{FAST} .nvnb-arena-col").first.locator(".nvnb-arena-codebtn").click()
        page.locator(f"{FAST} .nvnb-code").wait_for()
        assert "ChatNVIDIA(" in page.inner_text(f"{FAST} .nvnb-code-source")
        shot(page, "arena-notebook7-800", page.locator(".jp-Cell").first)
        page.click(f"{FAST} .nvnb-code-insert")
        status = page.locator(f"{FAST} .nvnb-code-status")
        status.wait_for()
        assert status.inner_text() == "Inserted as a new cell below."
        lines = page.locator(".jp-Cell").nth(1).locator(".cm-line").all_inner_texts()
        assert lines[0] == "from langchain_core.messages import HumanMessage"

        # The local server quotes the prompt in its answer: model text with HTML stays inert.
        attack = '<img src=x onerror="window.__arenaXss=1"> <script>window.__arenaXss=2</script>'
        ask(page, FAST, f"Echo {attack} and **bold**")
        page.wait_for_selector(f"{FAST} .nvnb-arena-col[data-index='0'] .nvnb-arena-answer strong")
        wait_columns(page, FAST, "done,done,done")
        page.wait_for_timeout(300)
        found = page.evaluate(
            """(sel) => {
              const cols = [...document.querySelectorAll(sel)];
              return {
                xss: window.__arenaXss || 0,
                scripts: cols.reduce((n, c) => n + c.querySelectorAll("script").length, 0),
                handlers: cols.reduce((n, c) => n + [...c.querySelectorAll("*")].filter(
                  (e) => [...e.attributes].some((a) => a.name.startsWith("on"))).length, 0),
                bold: cols.slice(0, 2).every((c) => !!c.querySelector("strong")),
              };
            }""",
            f"{FAST} .nvnb-arena-answer",
        )
        shot(page, "arena-inert-html-notebook7", page.locator(".jp-Cell").first)
        assert found == {"xss": 0, "scripts": 0, "handlers": 0, "bold": True}
    finally:
        page.context.close()
