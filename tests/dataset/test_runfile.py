"""The run file: SQLite on disk in WAL mode, finished requests by key, shared by processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from nvnb.dataset.runfile import Finished, RunFile


def test_a_finished_request_is_there_after_the_file_is_reopened(tmp_path) -> None:
    path = tmp_path / "deep" / "run.sqlite"
    with RunFile(path) as store:
        store.put("k1", Finished("yes", 3, 4, 0.5, "req-1", "stop", "m"))
        assert store.get("missing") is None
    with RunFile(path) as store:
        assert store.get("k1") == Finished("yes", 3, 4, 0.5, "req-1", "stop", "m")
        assert len(store) == 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_row_is_on_disk_as_soon_as_it_is_put_even_if_the_process_dies(tmp_path) -> None:
    path = tmp_path / "run.sqlite"
    code = (
        "import os, sys; from nvnb.dataset.runfile import RunFile, Finished; "
        "s = RunFile(sys.argv[1]); s.put('k', Finished('kept')); os._exit(9)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], check=False)
    assert done.returncode == 9
    with RunFile(path) as store:
        assert store.get("k").text == "kept"
