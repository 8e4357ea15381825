"""The rows of a run, read one at a time: a pandas DataFrame, a list of dicts, any iterable of
mappings. Nothing is materialised: a DataFrame is walked with ``itertuples``, a generator is
consumed as the run goes.

To join outcomes back to their rows later, a DataFrame or a sequence is kept by reference; the
rows of a one-shot iterable are kept by column (one list per column, no dict per row).
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
        self._stash: dict[str, list[Any]] | None = None
        if is_dataframe(rows) or isinstance(rows, Sequence):
            self.total = len(rows)
        else:
            try:
                self.total = len(rows)  # e.g. dict views
            except TypeError:
                self.total = None
            self._stash = {}

    @property
    def kept(self) -> Any:
        """What :meth:`MapResult.to_dataframe` joins with: the input or the column stash."""
        return self._stash if self._stash is not None else self._input

    def __iter__(self) -> Iterator[Mapping[str, Any] | Any]:
        rows = self._input
        if is_dataframe(rows):
            columns = [str(c) for c in rows.columns]
            for values in rows.itertuples(index=False, name=None):
                yield dict(zip(columns, values, strict=True))
            return
        stash = self._stash
        for count, row in enumerate(rows):
            if stash is not None and isinstance(row, Mapping):
                for name in row:
                    if name not in stash:
                        stash[name] = [None] * count
                for name, column in stash.items():
                    column.append(row.get(name))
            elif stash is not None:
                for column in stash.values():
                    column.append(None)
            yield row


def columns_of(row: Any) -> list[str]:
    return [str(k) for k in row] if isinstance(row, Mapping) else []


def not_a_mapping(row: Any, index: int) -> InvalidInputError:
    return InvalidInputError(
        f"row {index} is a {type(row).__name__}, not a mapping of column names to values; "
        "for a list of texts, pass [{'text': t} for t in texts] and use {text} in the template"
    )
