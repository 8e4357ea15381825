"""Session-wide: nothing the test run starts (kernels under nbval included) writes to the
user's call log; each test also gets its own log file (``tests/conftest.py``)."""

from __future__ import annotations

import os
import shutil
import tempfile

_made: list[str] = []


def pytest_configure() -> None:
    folder = tempfile.mkdtemp(prefix="nvnb-test-log-")
    _made.append(folder)
    os.environ["NVNB_LOG"] = os.path.join(folder, "calls.sqlite")
    os.environ.pop("NVNB_CACHE", None)


def pytest_unconfigure() -> None:
    for folder in _made:
        shutil.rmtree(folder, ignore_errors=True)
