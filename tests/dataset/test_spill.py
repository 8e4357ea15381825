"""Runs whose results spill to disk, end to end against the local server: read back like runs
kept in memory, in order, errors kept; resumable across the spill; the file removed; the key
never in it; memory bounded over many rows."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, field_validator

import nvnb
from nvnb.dataset import outcome_store
from nvnb.dataset.outcomes import Cancelled, SchemaMismatch
from nvnb.errors import ServerError
from nvnb.testing import AUTH_KEY
from tests.dataset.conftest import client_for, interrupt_when, sent_prompts

ROOT = Path(__file__).resolve().parents[2]


class Review(BaseModel):
    sentiment: Literal["positive", "negative"]
    score: int

    @field_validator("score")
    @classmethod
    def one_to_five(cls, value: int) -> int:
        if not 1 <= value <= 5:
            raise ValueError("score must be 1-5")
        return value


def review_rows(n: int) -> list:
    """Rows answered with a Review, some out of range (schema errors), some bad rows."""
    rows: list = []
    for i in range(n):
        if i % 29 == 11:
            rows.append("not a row")
        elif i % 31 == 7:
            rows.append({"other": i})
        else:
            mood = "positive" if i % 2 else "negative"
            rows.append({"id": i, "text": f"sentiment={mood} score={i % 7}"})
    return rows


def shown(o) -> tuple:
    error = None if o.error is None else (type(o.error), getattr(o.error, "detail", str(o.error)))
    return (o.index, o.text, o.value, o.prompt_tokens, o.completion_tokens, o.finish_reason, error)


@pytest.fixture
def small_window(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(outcome_store, "WINDOW_ROWS", 16)
    return 16


@pytest.fixture
def own_tmpdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Spill files made here, to see them come and go."""
    folder = tmp_path / "spill"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_spilled_run_reads_back_like_one_kept_in_memory(nvnb_server, monkeypatch) -> None:
    rows = review_rows(150)
    client = client_for(nvnb_server)
    memory = nvnb.map(iter(rows), "Review: {text}", schema=Review, client=client, concurrency=6)
    monkeypatch.setattr(outcome_store, "WINDOW_ROWS", 16)
    spilled = nvnb.map(iter(rows), "Review: {text}", schema=Review, client=client, concurrency=6)
    assert memory.spill_path is None and spilled.spill_path is not None
    assert [shown(o) for o in spilled] == [shown(o) for o in memory]
    assert [o.index for o in spilled] == list(range(150))
    kinds = Counter(type(o.error).__name__ for o in spilled if not o.ok)
    assert set(kinds) == {"SchemaMismatch", "InvalidInputError"} and kinds.total() > 30
    for o in spilled:  # a schema error names its own row's request
        if isinstance(o.error, SchemaMismatch):
            assert o.error.request_id == o.request_id and o.request_id
    assert spilled.values == memory.values and spilled[-150].value == memory[0].value
    assert list(spilled.errors) == list(memory.errors)
    drop = ["latency_s", "request_id", "error"]
    a, b = spilled.to_dataframe().drop(columns=drop), memory.to_dataframe().drop(columns=drop)
    assert a.equals(b)
    assert list(a.columns[:3]) == ["id", "text", "other"]  # the input rows, from the file too
    assert a.loc[7, "other"] == 7 and a["id"].isna().sum() == kinds["InvalidInputError"]
    spilled.close()


def test_server_errors_spilled_keep_type_message_and_request_id(nvnb_server, small_window):
    client = client_for(nvnb_server, "status=503;times=30;id=spill", retry=None)
    result = nvnb.map(
        ({"review": f"r{i}"} for i in range(120)),
        "Label: {review}",
        client=client,
        retries=0,
        concurrency=4,
    )
    assert len(result) == 120 and len(result.errors) == 30
    spilled = [i for i in result.errors if i < result._store._base]
    assert spilled  # some of them were read back from the file
    ids = [e.request_id for e in result.errors.values()]
    assert all(ids) and len(set(ids)) == 30
    for i, error in result.errors.items():
        assert isinstance(error, ServerError) and error.status == 503 and "503" in str(error)
        assert result[i].error.request_id == error.request_id and result[i].text is None
    frame = result.to_dataframe()
    assert frame["error"].notna().sum() == 30 and list(frame["review"][:3]) == ["r0", "r1", "r2"]
    assert all(f"r{o.index}" in o.text for o in result if o.ok)
    result.close()


def test_a_resume_across_the_spill_sends_no_row_twice(nvnb_server, small_window, tmp_path):
    cache = tmp_path / "labels.sqlite"
    rows = [{"id": i, "review": f"review number {i}"} for i in range(200)]
    client = client_for(nvnb_server, "latency-ms=5")
    disarm = interrupt_when(lambda: len(nvnb_server.requests) >= 90)
    try:
        first = nvnb.map(iter(rows), "Label: {review}", client=client, concurrency=4, cache=cache)
    finally:
        disarm()
    assert first.stopped and first.spill_path is not None
    done = {o.index for o in first if o.ok}
    assert {i for i in done if i < first._store._base}  # finished rows on disk
    assert 60 <= len(done) < 200
    assert all(isinstance(o.error, Cancelled) for o in first if not o.ok)
    assert first.to_dataframe()["id"].tolist() == list(range(len(first)))

    nvnb_server.clear()
    second = nvnb.map(iter(rows), "Label: {review}", client=client, concurrency=4, cache=cache)
    assert second.ok and len(second) == 200
    sent = sent_prompts(nvnb_server)
    assert Counter(sent).most_common(1)[0][1] == 1  # none sent twice
    assert set(sent) == {f"Label: review number {i}" for i in range(200) if i not in done}
    assert {o.index for o in second if o.cached} == done
    assert [second[i].text for i in sorted(done)] == [first[i].text for i in sorted(done)]
    assert all(f"review number {o.index}" in o.text for o in second)
    first.close()
    second.close()


def test_the_key_is_never_written_to_the_spill_or_run_file(
    nvnb_auth_server, small_window, tmp_path
):
    cache = tmp_path / "run.sqlite"
    client = client_for(nvnb_auth_server, "status=503;times=10;id=k", api_key=AUTH_KEY, retry=None)
    result = nvnb.map(
        iter(review_rows(80)),
        "Review: {text}",
        schema=Review,
        client=client,
        retries=0,
        cache=cache,
        concurrency=4,
    )
    assert len(result.errors) > 10 and result.spill_path is not None
    path = result.spill_path
    written = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if os.path.exists(p))
    assert b"sentiment" in written and b"503" in written  # answers and errors are in it …
    assert AUTH_KEY.encode() not in written  # … the key is not
    assert AUTH_KEY.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("run.sqlite*"))
    result.close()


def test_the_spill_file_is_removed_with_its_result(nvnb_server, small_window, own_tmpdir) -> None:
    rows = ({"review": f"r{i}"} for i in range(60))
    with nvnb.map(rows, "Label: {review}", client=client_for(nvnb_server)) as result:
        assert Path(result.spill_path).parent == own_tmpdir
        assert result[3].text and result.texts[59]
    assert list(own_tmpdir.iterdir()) == []

    result = nvnb.map(
        ({"review": f"r{i}"} for i in range(40)), "{review}", client=client_for(nvnb_server)
    )
    assert list(own_tmpdir.iterdir())
    frame = result.to_dataframe()
    del result
    gc.collect()
    assert list(own_tmpdir.iterdir()) == [] and len(frame) == 40


_RSS_CHILD = r"""
import json, os, sys
os.environ["NVNB_PROGRESS"] = "off"
import nvnb

def peak():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))

base_url, n = sys.argv[1], int(sys.argv[2])
client = nvnb.AsyncClient(base_url=base_url, default_headers={"X-NVNB-Fault": "long=2000"})
def rows(k):
    for i in range(k):
        yield {"id": i, "review": f"review number {i}"}
nvnb.map(rows(500), "Label: {review}", client=client, concurrency=32)
before = peak()
result = nvnb.map(rows(n), "Label: {review}", client=client, concurrency=32)
after = peak()
text = sum(len(o.text or "") for o in result)
print(json.dumps({"growth": after - before, "text": text, "ok": len(result) - len(result.errors)}))
"""


def test_memory_stays_bounded_over_30_000_rows_of_long_answers(nvnb_server) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, nvnb_server.base_url, "30000"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["ok"] == 30_000 and data["text"] >= 30_000 * 2000
    # Kept in memory, 60 MB of answers would cost at least that; the window holds ~4 MB.
    assert data["growth"] < 25 * 2**20, data
