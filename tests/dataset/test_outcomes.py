"""Outcomes: compact storage, input order, the DataFrame join."""

from __future__ import annotations

import pandas as pd
import pytest

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
