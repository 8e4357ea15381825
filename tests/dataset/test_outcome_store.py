"""The outcome store: a result spilled beyond its resident window reads back exactly as one kept
in memory (order, values, errors with their type, message and request id), in every API."""

from __future__ import annotations

import gc
import os
import pickle
import random
import subprocess
import sys

import pandas as pd
import pytest

from nvnb.dataset import outcome_store
from nvnb.dataset.outcomes import Cancelled, MapResult
from nvnb.dataset.spill import SpillClosed
from nvnb.errors import InvalidInputError, ServerError


class NeedsTwoArguments(Exception):
    """Pickles, but does not load back (its __init__ takes other arguments than its args)."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(f"{code}: {why}")
        self.code = code


def error_for(i: int) -> BaseException:
    if i % 3 == 0:
        return ServerError(f"503 for row {i}", status=503, request_id=f"req-{i}", model="m")
    if i % 3 == 1:
        return InvalidInputError(f"row {i} has no 'review' column")
    return NeedsTwoArguments(i, "odd")


def picklable_error_for(i: int) -> BaseException:
    return ServerError(f"503 for row {i}", status=503, request_id=f"req-{i}")


def run_like(
    result: MapResult, n: int, *, in_flight: int = 6, seed: int = 7, errors=error_for
) -> None:
    """Reserve and fill ``n`` rows as a run does: rows read in order, finishing out of order,
    up to ``in_flight`` at once; every 5th row fails; the last few are left unfinished."""
    rng = random.Random(seed)
    flying: list[int] = []
    for i in range(n):
        flying.append(
            result._reserve({"id": i, "review": f"review {i}", **({"x": i} if i % 4 else {})})
        )
        while len(flying) > in_flight or (i == n - 1 and len(flying) > 3):
            j = flying.pop(rng.randrange(len(flying)))
            if j % 5 == 4:
                result._fill(j, text=None, error=errors(j))
            else:
                result._fill(
                    j,
                    text=f"answer {j} ☕ " + "x" * (j % 7),
                    value={"label": f"l{j}", "score": j},
                    prompt_tokens=j,
                    completion_tokens=2 * j,
                    latency=j / 1000,
                    request_id=f"req-{j}",
                    finish_reason="stop" if j % 2 else "length",
                    cached=j % 3 == 0,
                )
    result._cancel(flying[0], Cancelled("the run was stopped before this row finished"))


def same_error(a: BaseException | None, b: BaseException | None) -> bool:
    if a is None or b is None:
        return a is b
    return (type(a), str(a), getattr(a, "request_id", None)) == (
        type(b),
        str(b),
        getattr(b, "request_id", None),
    )


def outcomes_of(result: MapResult) -> list[tuple]:
    return [
        (
            o.index,
            o.text,
            o.value,
            o.prompt_tokens,
            o.completion_tokens,
            o.latency,
            o.request_id,
            o.finish_reason,
            o.cached,
            None
            if o.error is None
            else (type(o.error), str(o.error), getattr(o.error, "request_id", None)),
        )
        for o in result
    ]


@pytest.fixture
def pair(monkeypatch: pytest.MonkeyPatch) -> tuple[MapResult, MapResult]:
    """The same run kept in memory and spilled every 16 rows."""
    memory = MapResult(keep_rows=True)
    run_like(memory, 203)
    monkeypatch.setattr(outcome_store, "WINDOW_ROWS", 16)
    spilled = MapResult(keep_rows=True)
    run_like(spilled, 203)
    assert memory.spill_path is None and spilled.spill_path is not None
    yield memory, spilled
    spilled.close()


def test_a_spilled_result_reads_back_like_one_in_memory(pair) -> None:
    memory, spilled = pair
    assert len(spilled) == len(memory) == 203
    assert outcomes_of(spilled) == outcomes_of(memory)
    assert [o.index for o in spilled] == list(range(203))
    assert spilled.texts == memory.texts and spilled.values == memory.values
    assert spilled.ok is memory.ok is False
    assert list(spilled.errors) == list(memory.errors)
    assert all(same_error(spilled.errors[i], e) for i, e in memory.errors.items())
    assert repr(spilled) == repr(memory)
    for i in (0, 5, 17, 100, 199, -1, -203):  # random access, from the file and the window
        assert outcomes_of_one(spilled[i]) == outcomes_of_one(memory[i])
    with pytest.raises(IndexError):
        spilled[203]


def outcomes_of_one(o) -> tuple:
    return (o.index, o.text, o.value, o.request_id, o.cached, None if o.ok else str(o.error))


def test_a_spilled_result_makes_the_same_dataframe(pair) -> None:
    memory, spilled = pair
    for expand in (True, False):
        pd.testing.assert_frame_equal(
            spilled.to_dataframe(expand=expand), memory.to_dataframe(expand=expand)
        )
    frame = spilled.to_dataframe()
    assert frame["x"].isna().tolist()[:5] == [True, False, False, False, True]  # some lack it
    assert frame["x"].tolist()[1:4] == [1, 2, 3]
    assert "503 for row 9 (model m, request id: req-9)" in frame.loc[9, "error"]
    assert frame.loc[4, "error"] == "row 4 has no 'review' column"


def test_rows_in_flight_when_their_window_spilled_are_cancelled_or_filled_later(
    monkeypatch,
) -> None:
    monkeypatch.setattr(outcome_store, "WINDOW_ROWS", 4)
    result = MapResult()
    for _ in range(10):
        result._reserve()
    result._fill(9, text="last")
    assert result.spill_path is not None and result._store._base == 8
    assert isinstance(result[1].error, Cancelled) and str(result[1].error) == "not run yet"
    result._fill(1, text="late", request_id="req-late")  # its window is on disk already
    result._cancel(2, Cancelled("the run was stopped before this row finished"))
    assert result[1].text == "late" and result[1].request_id == "req-late" and result[1].ok
    assert "stopped" in str(result[2].error)
    assert sorted(result.errors) == [0, 2, 3, 4, 5, 6, 7, 8]
    assert result.texts[1] == "late" and result.texts[9] == "last"
    assert repr(result) == "MapResult(10 rows, 2 done, 8 failed, 0 tokens)"
    result.close()


def test_an_error_that_does_not_pickle_back_is_kept_in_memory_as_it_was(pair) -> None:
    _, spilled = pair
    odd = spilled[14].error  # 14 % 5 == 4, 14 % 3 == 2: NeedsTwoArguments, spilled
    assert isinstance(odd, NeedsTwoArguments) and odd.code == 14
    assert spilled._store._held and spilled._store._base > 14


def test_a_value_that_does_not_pickle_is_parsed_again_from_its_text(monkeypatch) -> None:
    class Local:  # defined in a function: pickle cannot find it
        def __init__(self, text: str) -> None:
            self.text = text

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Local) and other.text == self.text

    monkeypatch.setattr(outcome_store, "WINDOW_ROWS", 2)
    result = MapResult()
    result._store.reparse = Local
    for i in range(5):
        result._fill(result._reserve(), text=f"t{i}", value=Local(f"t{i}"))
    assert result._store._base > 0
    assert result.values == [Local(f"t{i}") for i in range(5)]
    result.close()


def test_a_spilled_result_pickles_with_every_row(monkeypatch) -> None:
    memory = MapResult(keep_rows=True)
    run_like(memory, 90, errors=picklable_error_for)
    small = pickle.loads(pickle.dumps(memory))
    assert outcomes_of(small) == outcomes_of(memory) and small.spill_path is None
    monkeypatch.setattr(outcome_store, "WINDOW_ROWS", 16)
    spilled = MapResult(keep_rows=True)
    run_like(spilled, 90, errors=picklable_error_for)
    copy = pickle.loads(pickle.dumps(spilled))
    try:
        assert outcomes_of(copy) == outcomes_of(memory)
        assert copy.spill_path not in (None, spilled.spill_path)  # its own file
        pd.testing.assert_frame_equal(copy.to_dataframe(), memory.to_dataframe())
    finally:
        copy.close()
        spilled.close()


def test_the_file_is_removed_on_close_and_on_garbage_collection(pair) -> None:
    _, spilled = pair
    path = spilled.spill_path
    assert os.path.exists(path)
    spilled.close()
    assert not any(os.path.exists(path + end) for end in ("", "-wal", "-shm"))
    assert spilled[-1].index == 202  # the window is still in memory
    with pytest.raises(SpillClosed, match="closed"):
        spilled[0]
    spilled.close()  # twice: nothing

    again = MapResult()
    run_like(again, 40)
    path = again.spill_path
    assert os.path.exists(path)
    del again
    gc.collect()
    assert not os.path.exists(path)


def test_the_file_is_removed_at_interpreter_exit(tmp_path) -> None:
    code = (
        "from nvnb.dataset import outcome_store\n"
        "from nvnb.dataset.outcomes import MapResult\n"
        "outcome_store.WINDOW_ROWS = 3\n"
        "r = MapResult()\n"
        "[r._fill(r._reserve(), text='t') for _ in range(10)]\n"
        "print(r.spill_path, flush=True)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    path = out.stdout.strip()
    assert path.startswith(str(tmp_path)) and "nvnb-map-" in path
    assert list(tmp_path.iterdir()) == []
