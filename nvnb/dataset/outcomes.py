"""What a dataset run returns: one outcome per input row, in input order, in bounded memory.

A :class:`MapResult` keeps its latest rows resident, by column, and the rest in a temporary
SQLite file it owns (:mod:`nvnb.dataset.outcome_store`, :mod:`nvnb.dataset.spill`): a run of a
million rows with long answers holds a window of a few thousand rows in memory, and a run of a
few thousand never touches the disk. An :class:`Outcome` is made only when one is read. The
file is removed by :meth:`MapResult.close` (or ``with``), when the result is garbage-collected,
or at interpreter exit. A DataFrame or a list given as input is referenced, never copied; the
rows of a one-shot iterable are kept (spilled the same way) for :meth:`MapResult.to_dataframe`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nvnb.dataset.outcome_store import NOT_RUN, OutcomeStore
from nvnb.errors import NVNBError


class SchemaMismatch(NVNBError):
    """The model's answer is not valid for the run's ``schema`` (the text is kept)."""


class Cancelled(NVNBError):
    """The run was stopped before this row finished; run again with the same ``cache=`` to
    send it."""


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
    ``.texts``, ``.values``, ``.errors``, ``.to_dataframe()``. A large result keeps most rows
    in a temporary file (``spill_path``), removed by ``close()``, ``with`` or garbage collection.
    """

    def __init__(self, rows: Any = None, *, model: str | None = None, keep_rows: bool = False):
        self._rows = rows  # the input (a DataFrame or a sequence) for joining, never copied
        self.model = model
        self.stats = Stats()
        self.value_fields: list[str] | None = None
        """The schema's field names, for ``to_dataframe(expand=True)`` (set by the run)."""
        self.stopped = False
        """True when the run was interrupted: unfinished rows carry a :class:`Cancelled` error."""
        self._store = OutcomeStore(keep_rows=keep_rows)

    # -- filling (the run) ------------------------------------------------------------------

    def _reserve(self, row: Any = None) -> int:
        """A slot for the next input row (kept for the join when ``keep_rows``); its index."""
        return self._store.reserve(row)

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
        self._store.fill(
            index,
            (
                text,
                value,
                prompt_tokens,
                completion_tokens,
                latency,
                request_id,
                finish_reason,
                cached,
                error,
            ),
        )

    def _cancel(self, index: int, error: BaseException) -> None:
        """Row ``index`` was in flight when the run stopped."""
        self._store.cancel(index, error)

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._store)

    def __getitem__(self, index: int) -> Outcome:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"row {index} is not in this result of {len(self)} rows")
        return _outcome(index, self._store.record(index))

    def __iter__(self) -> Iterator[Outcome]:
        for index, record in enumerate(self._store.records()):
            yield _outcome(index, record)

    @property
    def texts(self) -> list[str | None]:
        return list(self._store.column("text"))

    @property
    def values(self) -> list[Any]:
        return list(self._store.column("value"))

    @property
    def errors(self) -> dict[int, BaseException]:
        """Failed rows: input index → error, in input order."""
        return {i: _error(e) for i, e in self._store.failures()}  # type: ignore[misc]

    @property
    def ok(self) -> bool:
        """Every row read has an answer."""
        return self._store.failed == 0

    @property
    def spill_path(self) -> str | None:
        """The temporary file holding the rows beyond the resident window (None: all in
        memory)."""
        return self._store.spill_path

    def close(self) -> None:
        """Remove the temporary file, if any (its rows cannot be read afterwards)."""
        self._store.close()

    def __enter__(self) -> MapResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # Every row goes into the pickle (the file does not travel); loading spills again.
        rows = list(self._store.rows()) if self._store.keep_rows else None
        state = (self.model, self.stats, self.value_fields, self.stopped)
        records = [None if r[-1] is NOT_RUN else r for r in self._store.records()]
        return (_restore, (self._rows, state, records, rows))

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

        rows, store = self._rows, self._store
        if isinstance(rows, pd.DataFrame):
            frame = rows.iloc[: len(self)].copy()
        elif store.keep_rows:
            frame = pd.DataFrame(_by_column(store.rows(), len(self)))
        elif rows is None:
            frame = pd.DataFrame(index=range(len(self)))
        else:
            frame = pd.DataFrame([dict(r) for r in rows[: len(self)]])
        added: dict[str, Any] = {"text": _column(list(store.column("text")), object)}
        values = list(store.column("value"))
        if self.value_fields is not None or any(v is not None for v in values):
            fields = (self.value_fields or _value_fields(values)) if expand else None
            if fields:
                for name in fields:
                    column = name if name not in frame.columns and name not in added else None
                    column = column or f"value_{name}"
                    added[column] = _column([_field(v, name) for v in values], object)
            else:
                added["value"] = _column(values, object)
        del values
        messages: list[str | None] = [None] * len(self)
        for i, error in store.failures():
            messages[i] = str(_error(error))
        added["error"] = _column(messages, object)
        added["prompt_tokens"] = _column(list(store.column("prompt_tokens")), "int64")
        added["completion_tokens"] = _column(list(store.column("completion_tokens")), "int64")
        added["latency_s"] = _column(list(store.column("latency")), "float64")
        added["request_id"] = _column(list(store.column("request_id")), object)
        added["cached"] = _column(list(store.column("cached")), bool)
        for name, column in added.items():
            column.index = frame.index
            frame[name if name not in frame.columns else f"answer_{name}"] = column
        return frame

    def __repr__(self) -> str:
        s = self.stats
        failed = self._store.failed
        parts = [f"{len(self)} rows", f"{len(self) - failed} done"]
        if failed:
            parts.append(f"{failed} failed")
        if s.cached:
            parts.append(f"{s.cached} from the run file")
        parts.append(f"{s.tokens:,} tokens")
        state = ", stopped" if self.stopped else ""
        return f"MapResult({', '.join(parts)}{state})"


def _outcome(index: int, record: tuple[Any, ...]) -> Outcome:
    text, value, prompt, completion, latency, request_id, finish, cached, error = record
    return Outcome(
        index=index,
        text=text,
        value=value,
        prompt_tokens=prompt,
        completion_tokens=completion,
        latency=latency,
        request_id=request_id,
        error=_error(error),
        finish_reason=finish,
        cached=cached,
    )


def _error(error: Any) -> BaseException | None:
    """A row's error as read: a fresh :class:`Cancelled` for a row not finished yet."""
    return Cancelled("not run yet") if error is NOT_RUN else error


def _restore(rows: Any, state: tuple[Any, ...], records: list[Any], kept: Any) -> MapResult:
    model, stats, value_fields, stopped = state
    result = MapResult(rows, model=model, keep_rows=kept is not None)
    result.stats, result.value_fields, result.stopped = stats, value_fields, stopped
    for index, record in enumerate(records):
        result._store.reserve(kept[index] if kept is not None else None)
        if record is not None:  # None: not run yet
            result._store.fill(index, record)
    return result


def _by_column(rows: Iterator[Any], count: int) -> dict[str, list[Any]]:
    """One list per column, in the order columns first appear (None where a row lacks one)."""
    columns: dict[str, list[Any]] = {}
    for seen, row in enumerate(rows):
        if row is None:
            for column in columns.values():
                column.append(None)
            continue
        for name in row:
            if name not in columns:
                columns[name] = [None] * seen
        for name, column in columns.items():
            column.append(row.get(name))
        if seen + 1 >= count:
            break
    return columns


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
