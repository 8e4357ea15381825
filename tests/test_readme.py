"""The README's examples stay true: its pytest-fixture example passes as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_fixture_example_passes_in_a_users_project(tmp_path: Path) -> None:
    (block,) = [b for b in _python_blocks() if "def test_my_chain(nvnb_server)" in b]
    test_file = tmp_path / "test_users_chain.py"
    test_file.write_text("from nvnb import ChatNVIDIA\n\n\n" + block, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(test_file),
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "--rootdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_readme_names_the_two_commands_and_they_are_executable() -> None:
    text = README.read_text(encoding="utf-8")
    root = README.parent
    for command in ("scripts/lab", "scripts/test"):
        assert command in text
        path = root / command
        assert path.is_file() and path.stat().st_mode & 0o111, command
    assert "scripts/test" in (root / ".ci" / "run").read_text()
