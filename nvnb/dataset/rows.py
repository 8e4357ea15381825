"""The rows of a run, read one at a time: a pandas DataFrame, a list of dicts, any iterable of
mappings. Nothing is materialised: a DataFrame is walked with ``itertuples``, a generator is
consumed as the run goes.

To join outcomes back to their rows later, a DataFrame or a sequence is kept by reference; the
rows of a one-shot iterable are kept by the result (``one_shot``), spilled to disk with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from nvnb.errors import InvalidInputError


def is_dataframe(value: Any) -> bool:
    """A pandas DataFrame, recognised without importing pandas."""
    return type(value).__module__.startswith("pandas") and hasattr(value, "itertuples")


class RowSource:
    """Iterate the rows as mappings; ``total`` when the input knows its length."""

    def __init__(self, rows: Any) -> None:
        if isinstance(rows, (str, bytes, Mapping)):
            kind = "a mapping" if isinstance(rows, Mapping) else f"a {type(rows).__name__}"
            raise InvalidInputError(
                f"rows must be many rows (a DataFrame, a list of dicts, an iterable of "
                f"mappings), not {kind}; for one row, pass [row]"
            )
        if not is_dataframe(rows) and not isinstance(rows, Iterable):
            raise InvalidInputError(
                f"rows must be a DataFrame, a list of dicts or an iterable of mappings, "
                f"not {type(rows).__name__}"
            )
        self._input = rows
        self.total: int | None = None
        self.one_shot = not (is_dataframe(rows) or isinstance(rows, Sequence))
        """The rows can be read only once: the result keeps them for the join."""
        try:
            self.total = len(rows)  # e.g. dict views
        except TypeError:
            self.total = None

    @property
    def kept(self) -> Any:
        """What :meth:`MapResult.to_dataframe` joins with by reference (None: the result's own
        copy of a one-shot iterable's rows)."""
        return None if self.one_shot else self._input

    def __iter__(self) -> Iterator[Mapping[str, Any] | Any]:
        rows = self._input
        if is_dataframe(rows):
            columns = [str(c) for c in rows.columns]
            for values in rows.itertuples(index=False, name=None):
                yield dict(zip(columns, values, strict=True))
            return
        yield from rows


def columns_of(row: Any) -> list[str]:
    return [str(k) for k in row] if isinstance(row, Mapping) else []


def not_a_mapping(row: Any, index: int) -> InvalidInputError:
    return InvalidInputError(
        f"row {index} is a {type(row).__name__}, not a mapping of column names to values; "
        "for a list of texts, pass [{'text': t} for t in texts] and use {text} in the template"
    )
