"""The ``nvnb`` command's own parts: models table, tutorials copy, argument checks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nvnb import cli
from nvnb.model_table import format_table, markdown_table, matching_models


def test_models_filter_by_text_and_by_type() -> None:
    assert all(
        "mixtral" in m.id or any("mixtral" in a for a in m.aliases)
        for m in matching_models("mixtral")
    )
    assert {m.type for m in matching_models("vision")} == {"vlm", "nv-vlm"}
    assert [m.id for m in matching_models("qa")] == sorted(m.id for m in matching_models("qa"))
    assert not any(m.type == "embedding" for m in matching_models(""))
    assert any(m.type == "embedding" for m in matching_models("", include_all=True))


def test_the_models_table_has_a_header_and_one_line_per_model() -> None:
    models = matching_models("steerlm")
    lines = format_table(models).splitlines()
    assert lines[0].split()[:3] == ["model", "type", "capabilities"]
    assert len(lines) == 2 + len(models)
    assert "nvidia/nemotron-steerlm-8b" in lines[2] and "labels" in lines[2]
    assert markdown_table(models).count("\n") == 1 + len(models)


def test_nvnb_models_runs_as_a_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nvnb", "models", "kosmos"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "microsoft/kosmos-2" in out


def test_no_matching_model_says_so() -> None:
    assert format_table(matching_models("no-such-model-anywhere")) == "no model matches"


def test_bad_labels_are_refused_with_a_message() -> None:
    with pytest.raises(SystemExit, match="name=integer"):
        cli._parse_labels("creativity=high")
    assert cli._parse_labels("creativity=9, verbosity=0") == {"creativity": 9, "verbosity": 0}
