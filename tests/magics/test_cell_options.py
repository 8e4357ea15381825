"""A ``%nvchat`` line's options read as a user means them (nvnb.magics.cell_options)."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from nvnb.magics.cell_failure import CellFailure
from nvnb.magics.cell_options import output_name, parse_labels, parse_options
from nvnb.magics.nvchat import NVChatMagics

PARSER = NVChatMagics.nvchat.parser


def test_quotes_are_removed_as_a_shell_would() -> None:
    args = parse_options('-s "Be brief." -m meta/llama-3.1-8b-instruct --stop "\\n\\n"', PARSER)
    assert args.system == "Be brief."
    assert args.model == ["meta/llama-3.1-8b-instruct"]
    assert args.stop == ["\\n\\n"]


def test_an_unclosed_quote_is_a_usage_error_that_names_it() -> None:
    with pytest.raises(UsageError, match="%nvchat options: No closing quotation"):
        parse_options('-s "Be brief.', PARSER)


@pytest.mark.parametrize("name", ["answer", "_x", "résumé"])
def test_an_output_name_is_a_variable_name(name: str) -> None:
    assert output_name(name) == name
    assert output_name(None) is None


@pytest.mark.parametrize("name", ["1st", "my-answer", "class", "a b"])
def test_anything_else_fails_the_cell_before_sending(name: str) -> None:
    with pytest.raises(CellFailure, match="-o needs a variable name"):
        output_name(name)


def test_labels_are_pairs_and_a_malformed_one_fails_the_cell_in_one_line() -> None:
    assert parse_labels("creativity=9, verbosity=0") == {"creativity": 9, "verbosity": 0}
    with pytest.raises(CellFailure) as failure:
        parse_labels("creativity=high")
    assert "creativity" in str(failure.value) and "\n" not in str(failure.value)
