"""The benchmarks still run: ``python -m bench --quick`` end to end, once, with no timing checks.

Quick mode takes few repeats and small sizes and skips the jupyter-ai row (it needs its own venv);
the figures it prints mean nothing, only that every section measured every row.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = {
    "overhead": ("1",),
    "streaming": ("2a", "2b"),
    "concurrency": ("3",),
    "startup": ("4a", "4b"),
    "images": ("5a", "5b"),
    "widgets": ("6",),
    "memory": ("7",),
    "load": ("8",),
    "chunk-cost": ("9",),
    "dataset": ("10a", "10b", "10c", "10d"),
}


@pytest.fixture(scope="module")
def quick_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], str]:
    results = tmp_path_factory.mktemp("bench") / "RESULTS.md"
    env = {k: v for k, v in os.environ.items() if k not in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--results", str(results)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return done, results.read_text() if results.exists() else ""


def section(markdown: str, key: str) -> str:
    """The Markdown of table ``key`` in the results file, up to the next table."""
    found = re.search(rf"^### {re.escape(key)}\. .*?(?=^### |\Z)", markdown, re.M | re.S)
    assert found, f"table {key} is missing from the results"
    return found.group(0)


def test_the_quick_run_exits_cleanly_with_no_failed_row(quick_run) -> None:
    done, _ = quick_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "FAILED" not in done.stdout


@pytest.mark.parametrize("name", list(SECTIONS))
def test_every_section_writes_its_tables_with_a_median_in_every_row(quick_run, name) -> None:
    _, markdown = quick_run
    for key in SECTIONS[name]:
        table = section(markdown, key)
        rows = [line for line in table.splitlines()[4:] if line.startswith("| ")]
        assert rows, f"table {key} has no rows"
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert cells[1] not in ("—", ""), f"table {key}, row {cells[0]!r} has no median"
            assert not cells[1].startswith("FAILED"), row


def test_the_results_name_the_machine_the_versions_and_the_load(quick_run) -> None:
    _, markdown = quick_run
    assert "quick mode" in markdown
    for fact in ("load average", "cpu:", "cores:", "python:", "langchain-nvidia-ai-endpoints"):
        assert fact in markdown


def test_quick_mode_skips_the_jupyter_ai_row_with_a_note_not_a_failure(quick_run) -> None:
    _, markdown = quick_run
    assert "%load_ext jupyter_ai_magics | skipped: quick mode" in section(markdown, "4b")


def test_the_benchmark_command_refuses_an_unknown_section() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nonsense"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "unknown section 'nonsense'" in done.stderr + done.stdout
