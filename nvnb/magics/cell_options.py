"""The options of a ``%nvchat`` line read as a user means them: quotes removed as a shell would,
a ``-o`` name that is a variable name, ``--labels`` pairs that fail the cell in one line."""

from __future__ import annotations

import argparse
import keyword
import os
import shlex
from typing import Any

from IPython.core.error import UsageError

from nvnb.magics.cell_failure import CellFailure


def parse_options(line: str, parser: argparse.ArgumentParser) -> Any:
    """The options of a ``%nvchat`` line, quotes removed as a shell would (``-s "Be brief."``)."""
    posix = os.name != "nt"  # keep Windows paths' backslashes
    try:
        argv = shlex.split(line, posix=posix)
    except ValueError as exc:
        raise UsageError(f"%nvchat options: {exc}") from None
    if not posix:
        argv = [a[1:-1] if len(a) > 1 and a[0] == a[-1] and a[0] in "'\"" else a for a in argv]
    return parser.parse_args(argv)


def output_name(name: str | None) -> str | None:
    """``-o NAME``: a variable name, or the cell fails before anything is sent."""
    if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
        raise CellFailure(f"-o needs a variable name, not {name!r}")
    return name


def parse_labels(text: str) -> dict[str, int]:
    """``--labels`` / ``%nvchat labels`` text → a dict (:func:`nvnb.catalog.parse_labels`); a
    malformed pair fails the cell in one line."""
    from nvnb.catalog import parse_labels as parse
    from nvnb.errors import InvalidInputError

    try:
        return parse(text)
    except InvalidInputError as exc:
        raise CellFailure(str(exc)) from None
