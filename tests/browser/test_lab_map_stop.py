"""nvnb.map in a real JupyterLab: the Stop button under the progress bar stops the run while the
cell is still running, keeps the rows that finished, and steps aside (the saved output is the
bar and the summary, no widget left behind)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from labtools import (
    code,
    lab_url,
    notebook,
    run_all,
    set_theme,
    shot,
    start_kernel,
    wait_kernel_idle,
)

RUN = ".jp-Cell:nth-child(2) .jp-OutputArea"
CHECK = ".jp-Cell:nth-child(3) .jp-OutputArea"

SETUP = """import nvnb
# 300 ms per answer, two at a time: 200 rows take half a minute, time enough to click Stop
client = nvnb.AsyncClient(default_headers={"X-NVNB-Fault": "latency-ms=300"})
rows = [{"n": n} for n in range(200)]"""
MAP = 'result = nvnb.map(rows, "Say {n}", client=client, concurrency=2)'
CHECK_SOURCE = """done = sum(o.error is None for o in result)
print("stopped" if result.stopped else "not stopped", 0 < done < 200, len(result) < 200)"""


@pytest.fixture(scope="module")
def map_notebook(workdir: Path) -> str:
    cells = [code(SETUP, "setup"), code(MAP, "run"), code(CHECK_SOURCE, "check")]
    (workdir / "notebooks" / "map_stop.ipynb").write_text(notebook(*cells))
    return "map_stop.ipynb"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_stop_under_the_progress_bar_stops_the_run_and_keeps_finished_rows(
    browser: Any, lab: str, servers: Any, map_notebook: str, theme: str
) -> None:
    fast, _slow = servers
    context = browser.new_context(
        viewport={"width": 1400 if theme == "light" else 800, "height": 900},
        color_scheme=theme,
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        start_kernel(lab, map_notebook)
        page.goto(lab_url(lab, map_notebook))
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        if theme == "dark":
            set_theme(page, "JupyterLab Dark")
        run_all(page, until=f"{RUN} [data-nvnb-widget='run-stop'] .nvnb-stop")
        page.wait_for_function(  # a few rows are done: the bar has moved
            "(sel) => /\\b([3-9]|\\d{2,})\\/200\\b/.test(document.querySelector(sel)?.innerText)",
            arg=RUN,
        )
        shot(page, f"30-map-running-stop-{theme}", page.locator(".jp-Cell").nth(1))
        asked_before = len(fast.requests)
        page.click(f"{RUN} .nvnb-stop")
        # The cell ends by itself (no kernel interrupt), and the next one runs.
        page.wait_for_selector(f"{CHECK} .jp-OutputArea-output >> text=/stopped True True/")
        wait_kernel_idle(page)
        text = page.locator(RUN).inner_text()
        assert "nvnb.map stopped" in text and "KeyboardInterrupt" not in text
        assert page.locator(f"{RUN} [data-nvnb-widget='run-stop']").count() == 0  # stepped aside
        # nothing more was sent than the two requests in flight when Stop arrived
        assert len(fast.requests) - asked_before <= 4
        shot(page, f"31-map-stopped-{theme}", page.locator(".jp-Cell").nth(1))
    except Exception:
        shot(page, f"failed-map-stop-{theme}")
        raise
    finally:
        context.close()
