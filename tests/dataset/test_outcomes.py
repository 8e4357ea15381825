"""Outcomes: compact storage, input order, the DataFrame join."""

from __future__ import annotations

import pandas as pd
import pytest

from nvnb.dataset.outcome_store import TextColumn
from nvnb.dataset.outcomes import Cancelled, MapResult


def filled(rows) -> MapResult:
    result = MapResult(rows)
    for _ in range(len(rows)):
        result._reserve()
    result._fill(0, text="a", value={"label": "x", "review": "dup"}, prompt_tokens=2)
    result._fill(1, text=None, error=ValueError("boom"))
    return result


def test_unfinished_rows_read_as_cancelled_and_errors_are_kept_by_index() -> None:
    result = filled([{"review": "r0"}, {"review": "r1"}, {"review": "r2"}])
    assert [o.ok for o in result] == [True, False, False]
    assert isinstance(result[2].error, Cancelled) and result[-1].index == 2
    assert list(result.errors) == [1, 2]
    with pytest.raises(IndexError):
        result[3]


def test_to_dataframe_expands_value_fields_and_prefixes_clashing_names() -> None:
    frame = filled([{"review": "r0"}, {"review": "r1"}, {"review": "r2"}]).to_dataframe()
    assert list(frame["review"]) == ["r0", "r1", "r2"]
    assert list(frame["label"]) == ["x", None, None]
    assert list(frame["value_review"]) == ["dup", None, None]
    assert frame.loc[1, "error"] == "boom"
    assert frame["prompt_tokens"].tolist() == [2, 0, 0]


def test_an_empty_result_still_has_typed_columns() -> None:
    frame = MapResult(pd.DataFrame({"a": []})).to_dataframe()
    assert frame["completion_tokens"].dtype == "int64" and frame["cached"].dtype == bool
    assert list(frame.columns)[:2] == ["a", "text"]


def test_a_text_column_keeps_strings_written_in_any_order() -> None:
    column = TextColumn()
    for _ in range(4):
        column.append()
    column[2] = "naïve ☕ 答え"
    column[0] = ""
    column[3] = "first"
    column[3] = "rewritten, longer"  # a rewrite wins
    column[2] = column[2]  # reading and writing back the same row
    column.append("\ud800 lone surrogate")  # kept as given, not an error
    assert list(column) == [
        "",
        None,
        "naïve ☕ 答え",
        "rewritten, longer",
        "\ud800 lone surrogate",
    ]
    column[0] = None
    assert column[0] is None and len(column) == 5


def test_rows_not_run_yet_each_read_as_their_own_cancelled_error() -> None:
    result = MapResult([{"a": 1}, {"a": 2}])
    result._reserve()
    result._reserve()
    first, second = result.errors[0], result.errors[1]
    assert isinstance(first, Cancelled) and first is not second
    assert str(first) == "not run yet"
    result._fill(0, text="ok", request_id="req-1", finish_reason="stop")
    assert result[0].request_id == "req-1" and result[0].finish_reason == "stop"
    assert list(result.errors) == [1] and result.texts == ["ok", None]
