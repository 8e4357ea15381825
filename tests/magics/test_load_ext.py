"""``%load_ext nvnb`` is instant: it registers the magics and imports nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "langchain_core",
    "PIL",
    "httpx",
    "ipywidgets",
    "anywidget",
    "nvnb.widgets",
    "nvnb.session",
    "nvnb.chat",
    "nvnb.client",
    "nvnb.server",
)

PROBE = f"""
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
started = time.perf_counter()
shell.run_line_magic("load_ext", "nvnb")
elapsed = time.perf_counter() - started
print(json.dumps({{
    "ms": elapsed * 1000,
    "heavy": [name for name in {HEAVY!r} if name in sys.modules],
    "line": "nvchat" in shell.magics_manager.magics["line"],
    "cell": "nvchat" in shell.magics_manager.magics["cell"],
}}))
"""


def load_in_fresh_interpreter() -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_load_ext_registers_the_line_and_cell_magic_without_heavy_imports() -> None:
    report = load_in_fresh_interpreter()
    assert report["line"] and report["cell"]
    assert report["heavy"] == []


def test_load_ext_takes_a_fraction_of_a_second() -> None:
    # The target is < 150 ms on an idle machine (typically ~10 ms here); the bound is loose
    # because other processes share the two cores.
    report = load_in_fresh_interpreter()
    assert float(report["ms"]) < 500, report
