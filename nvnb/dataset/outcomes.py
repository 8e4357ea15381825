"""What a dataset run returns: one outcome per input row, kept compactly, in input order.

Results are stored by column, so 100 000 rows cost little beyond the answers' text: texts and
request ids as UTF-8 in one growing buffer each (:class:`TextColumn`: no object per row), token
counts and latencies in ``array``s, finish reasons interned, errors in a sparse dict (the rows
not run yet share one marker); an :class:`Outcome` is made only when one is read. Measured with
``tracemalloc`` (``bench/`` 10c): about 120 bytes a row above the answer and the input row.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nvnb.errors import NVNBError


class TextColumn:
    """Optional strings by row index, written in any order, kept as UTF-8 in one buffer
    (a ``str`` per row costs ~50 bytes of object header, more than a short answer or a
    request id itself). Each read decodes a fresh ``str``."""

    __slots__ = ("_data", "_lengths", "_starts")

    def __init__(self) -> None:
        self._data = bytearray()
        self._starts = array("q")
        self._lengths = array("q")  # -1: None

    def append(self, value: str | None = None) -> None:
        self._starts.append(0)
        self._lengths.append(-1)
        if value is not None:
            self[len(self._starts) - 1] = value

    def __setitem__(self, index: int, value: str | None) -> None:
        if value is None:
            self._lengths[index] = -1
            return
        raw = value.encode("utf-8", "surrogatepass")
        self._starts[index] = len(self._data)  # a rewrite appends; rows are written ~once
        self._lengths[index] = len(raw)
        self._data += raw

    def __getitem__(self, index: int) -> str | None:
        length = self._lengths[index]
        if length < 0:
            return None
        start = self._starts[index]
        return self._data[start : start + length].decode("utf-8", "surrogatepass")

    def __len__(self) -> int:
        return len(self._starts)

    def __iter__(self) -> Iterator[str | None]:
        for i in range(len(self._starts)):
            yield self[i]


class SchemaMismatch(NVNBError):
    """The model's answer is not valid for the run's ``schema`` (the text is kept)."""


class Cancelled(NVNBError):
    """The run was stopped before this row finished; run again with the same ``cache=`` to
    send it."""


_NOT_RUN = Cancelled("not run yet")
"""The marker of a reserved row not finished yet (read as a fresh Cancelled per outcome)."""


@dataclass(frozen=True)
class Outcome:
    """One row's result. ``error`` is None when the row succeeded."""

    index: int
    text: str | None
    value: Any
    prompt_tokens: int
    completion_tokens: int
    latency: float
    """Seconds from sending the request to its answer (retries included)."""
    request_id: str | None
    error: BaseException | None
    finish_reason: str | None = None
    cached: bool = False
    """True when the answer came from the run file, not from a request in this run."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Stats:
    """Counters of a run, read by the progress display while it runs."""

    total: int | None = None
    started: int = 0
    done: int = 0
    failed: int = 0
    cached: int = 0
    sent: int = 0
    throttled: int = 0
    retried: int = 0
    tokens: int = 0
    seconds: float = 0.0

    @property
    def finished(self) -> int:
        return self.done + self.failed


class MapResult:
    """Outcomes in input order: ``for outcome in result``, ``result[i]``, ``len(result)``,
    ``.texts``, ``.values``, ``.errors``, ``.to_dataframe()``."""

    def __init__(self, rows: Any = None, *, model: str | None = None) -> None:
        self._rows = rows  # the input (a DataFrame, a sequence or a column stash), for joining
        self.model = model
        self.stats = Stats()
        self.value_fields: list[str] | None = None
        """The schema's field names, for ``to_dataframe(expand=True)`` (set by the run)."""
        self.stopped = False
        """True when the run was interrupted: unfinished rows carry a :class:`Cancelled` error."""
        self._texts = TextColumn()
        self._values: list[Any] = []
        self._prompt = array("l")
        self._completion = array("l")
        self._latency = array("d")
        self._request_ids = TextColumn()
        self._finish: list[str | None] = []  # interned: "stop", "length" … shared by rows
        self._cached = bytearray()
        self._errors: dict[int, BaseException] = {}

    # -- filling (the run) ------------------------------------------------------------------

    def _reserve(self) -> int:
        """A slot for the next input row; its index."""
        self._texts.append(None)
        self._values.append(None)
        self._prompt.append(0)
        self._completion.append(0)
        self._latency.append(0.0)
        self._request_ids.append(None)
        self._finish.append(None)
        self._cached.append(0)
        self._errors[len(self._texts) - 1] = _NOT_RUN
        return len(self._texts) - 1

    def _fill(
        self,
        index: int,
        *,
        text: str | None,
        value: Any = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        latency: float = 0.0,
        request_id: str | None = None,
        finish_reason: str | None = None,
        cached: bool = False,
        error: BaseException | None = None,
    ) -> None:
        self._texts[index] = text
        self._values[index] = value
        self._prompt[index] = prompt_tokens
        self._completion[index] = completion_tokens
        self._latency[index] = latency
        self._request_ids[index] = request_id
        self._finish[index] = sys.intern(finish_reason) if finish_reason else finish_reason
        self._cached[index] = 1 if cached else 0
        if error is None:
            self._errors.pop(index, None)
        else:
            self._errors[index] = error

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._texts)

    def __getitem__(self, index: int) -> Outcome:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"row {index} is not in this result of {len(self)} rows")
        return Outcome(
            index=index,
            text=self._texts[index],
            value=self._values[index],
            prompt_tokens=self._prompt[index],
            completion_tokens=self._completion[index],
            latency=self._latency[index],
            request_id=self._request_ids[index],
            error=self._error(index),
            finish_reason=self._finish[index],
            cached=bool(self._cached[index]),
        )

    def __iter__(self) -> Iterator[Outcome]:
        for i in range(len(self)):
            yield self[i]

    def _error(self, index: int) -> BaseException | None:
        error = self._errors.get(index)
        return Cancelled("not run yet") if error is _NOT_RUN else error

    @property
    def texts(self) -> list[str | None]:
        return list(self._texts)

    @property
    def values(self) -> list[Any]:
        return list(self._values)

    @property
    def errors(self) -> dict[int, BaseException]:
        """Failed rows: input index → error, in input order."""
        return {i: self._error(i) for i in sorted(self._errors)}  # type: ignore[misc]

    @property
    def ok(self) -> bool:
        """Every row read has an answer."""
        return not self._errors

    def to_dataframe(self, *, expand: bool = True) -> Any:
        """The input rows joined with their outcomes (pandas).

        Columns added: ``text``; with a schema, ``value`` or (``expand``) one column per field
        of the value (a field named like an input column gets a ``value_`` prefix); then
        ``error`` (the message, None on success), ``prompt_tokens``, ``completion_tokens``,
        ``latency_s``, ``request_id``, ``cached``. A DataFrame input keeps its index.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from None

        rows = self._rows
        if isinstance(rows, pd.DataFrame):
            frame = rows.iloc[: len(self)].copy()
        elif isinstance(rows, dict):  # a column stash from a one-shot iterable
            frame = pd.DataFrame(rows)
        elif rows is None:
            frame = pd.DataFrame(index=range(len(self)))
        else:
            frame = pd.DataFrame([dict(r) for r in rows[: len(self)]])
        added: dict[str, Any] = {"text": _column(list(self._texts), object)}
        if self.value_fields is not None or any(v is not None for v in self._values):
            fields = (self.value_fields or _value_fields(self._values)) if expand else None
            if fields:
                for name in fields:
                    column = name if name not in frame.columns and name not in added else None
                    column = column or f"value_{name}"
                    added[column] = _column([_field(v, name) for v in self._values], object)
            else:
                added["value"] = _column(self._values, object)
        errors = self.errors
        added["error"] = [str(errors[i]) if i in errors else None for i in range(len(self))]
        added["error"] = _column(added["error"], object)
        added["prompt_tokens"] = _column(list(self._prompt), "int64")
        added["completion_tokens"] = _column(list(self._completion), "int64")
        added["latency_s"] = _column(list(self._latency), "float64")
        added["request_id"] = _column(list(self._request_ids), object)
        added["cached"] = _column([bool(c) for c in self._cached], bool)
        for name, column in added.items():
            column.index = frame.index
            frame[name if name not in frame.columns else f"answer_{name}"] = column
        return frame

    def __repr__(self) -> str:
        s = self.stats
        parts = [f"{len(self)} rows", f"{len(self) - len(self._errors)} done"]
        if self._errors:
            parts.append(f"{len(self._errors)} failed")
        if s.cached:
            parts.append(f"{s.cached} from the run file")
        parts.append(f"{s.tokens:,} tokens")
        state = ", stopped" if self.stopped else ""
        return f"MapResult({', '.join(parts)}{state})"


def _column(values: list[Any], dtype: Any) -> Any:
    import pandas as pd

    return pd.Series(values, dtype=dtype)


def _value_fields(values: list[Any]) -> list[str] | None:
    """Field names when the values are dicts or pydantic models, else None."""
    for value in values:
        if value is None:
            continue
        if isinstance(value, dict):
            return list(value)
        fields = getattr(type(value), "model_fields", None)
        if isinstance(fields, dict):
            return list(fields)
        return None
    return None


def _field(value: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)
