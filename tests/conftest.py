"""Suite-wide fixtures: the call log goes to a temp file, never the user's data folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def call_log_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test (and every process it starts) logs calls to a temp file; no response cache
    unless the test turns one on."""
    path = tmp_path_factory.mktemp("calllog") / "calls.sqlite"
    monkeypatch.setenv("NVNB_LOG", str(path))
    monkeypatch.delenv("NVNB_CACHE", raising=False)
    monkeypatch.delenv("NVNB_CACHE_MODE", raising=False)
    yield path
    import sys

    # leave no process-wide override behind for the next test (only if a test loaded them)
    if "nvnb.calls.log" in sys.modules:
        sys.modules["nvnb.calls.log"].reset_path()
    if "nvnb.calls.cache" in sys.modules:
        sys.modules["nvnb.calls.cache"].reset()
