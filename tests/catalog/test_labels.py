"""SteerLM labels: one parser and one validator in the catalog (``nvnb.catalog``), used by the
session, the magic, the chat model's request body and the command line."""

from __future__ import annotations

import pytest

from nvnb import catalog
from nvnb.catalog import LABEL_NAMES, check_labels, parse_labels
from nvnb.errors import InvalidInputError

STEER = catalog.find_model("nemotron_steerlm_8b")
NEVA = catalog.find_model("playground_neva_22b")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"creativity": 10}, "0 to 9"),
        ({"creativity": -1}, "0 to 9"),
        ({"creativity": 2.5}, "integer"),
        ({"creativity": True}, "integer"),
        ({"humour": 3}, "unknown label"),
        ({"quality": 3}, "unknown label"),
        ([1], "dict"),
    ],
)
def test_bad_labels_are_refused_before_any_request(labels, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match=message):
        check_labels(labels, STEER)


def test_an_unknown_label_message_names_what_the_model_takes() -> None:
    with pytest.raises(InvalidInputError) as info:
        check_labels({"humour": 3}, STEER)
    assert f"model {STEER.id!r} takes creativity, " in str(info.value)
    with pytest.raises(InvalidInputError, match="SteerLM models take creativity, complexity"):
        check_labels({"humour": 3})


def test_vision_steerlm_models_take_quality() -> None:
    assert check_labels({"quality": 9}, NEVA) == {"quality": 9}


def test_the_model_record_checks_its_own_labels() -> None:
    assert STEER is not None
    assert STEER.check_labels({"creativity": 9}) == {"creativity": 9}
    with pytest.raises(InvalidInputError, match="takes creativity, complexity, verbosity"):
        STEER.check_labels({"quality": 3})
    assert check_labels(None) == {}
    assert "quality" in LABEL_NAMES and check_labels({"quality": 1}) == {"quality": 1}


def test_labels_are_parsed_from_name_value_pairs_with_commas_or_spaces() -> None:
    assert parse_labels("creativity=9,verbosity=0") == {"creativity": 9, "verbosity": 0}
    assert parse_labels("creativity=9, verbosity=0") == {"creativity": 9, "verbosity": 0}
    assert parse_labels("complexity=3 verbosity=2") == {"complexity": 3, "verbosity": 2}
    assert parse_labels("") == {} and parse_labels(None) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("creativity", "name=value pairs"),
        ("=3", "name=value pairs"),
        ("creativity=high", "label 'creativity' must be an integer from 0 to 9, not 'high'"),
    ],
)
def test_malformed_label_text_is_refused_with_a_message(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_labels(text)
