"""Where a result's outcomes live: the latest rows in a resident window, by column; older ones
in a :class:`~nvnb.dataset.spill.SpillFile` on disk, so a run's memory does not grow with its
rows.

The window holds up to :data:`WINDOW_ROWS` rows or :data:`WINDOW_BYTES` of answer text, whichever
fills first; a result that never fills it never touches the disk. When it is full, its finished
rows (and, for a one-shot iterable, its input rows) are written in one transaction and the
window starts again empty; rows still in flight then (at most the run's concurrency) wait in a
small dict and are written alone when they finish.

Within the window, texts and request ids are UTF-8 in one buffer each (:class:`TextColumn`: no
object per row), token counts and latencies in ``array``s, finish reasons interned, errors in a
sparse dict. On disk, values and errors are pickled (a value that cannot be is parsed again from
its text on reading; an error or row that cannot be is kept in memory, by index).
"""

from __future__ import annotations

import pickle
import sys
from array import array
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from nvnb.dataset.spill import OUTCOME_COLUMNS, SpillFile

WINDOW_ROWS = 5_000
"""Rows kept resident. Runs up to this size (the common "label a few thousand reviews") never
write a file; at ~300 bytes a row beside the answers, the window itself costs ~1.5 MB."""

WINDOW_BYTES = 4 * 2**20
"""Answer text and request ids kept resident: long answers spill sooner (4 MB ≈ 1 000 answers
of 4 KB), so the bound holds whatever the answers' length."""

NOT_RUN = object()
"""The error slot of a reserved row not finished yet."""

# an outcome's fields: the spill file's columns less its "failed" flag (which only says
# whether the error column holds an error)
FIELDS = tuple(name for name in OUTCOME_COLUMNS if name != "failed")
"""A record: one row's outcome as a tuple, in this order."""

_REPARSE = b""
"""The spilled value of a row whose value could not be pickled: parsed again from its text."""


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

    @property
    def nbytes(self) -> int:
        return len(self._data)


class _Window:
    """The resident rows, by column, indexed from the window's first row."""

    __slots__ = (
        "cached",
        "completion",
        "errors",
        "finish",
        "latency",
        "prompt",
        "request_ids",
        "rows",
        "texts",
        "values",
    )

    def __init__(self, keep_rows: bool) -> None:
        self.texts = TextColumn()
        self.values: list[Any] = []
        self.prompt = array("l")
        self.completion = array("l")
        self.latency = array("d")
        self.request_ids = TextColumn()
        self.finish: list[str | None] = []  # interned: "stop", "length" … shared by rows
        self.cached = bytearray()
        self.errors: dict[int, Any] = {}
        self.rows: list[Any] | None = [] if keep_rows else None

    def __len__(self) -> int:
        return len(self.cached)

    def reserve(self, row: Any) -> None:
        self.errors[len(self.cached)] = NOT_RUN
        self.texts.append(None)
        self.values.append(None)
        self.prompt.append(0)
        self.completion.append(0)
        self.latency.append(0.0)
        self.request_ids.append(None)
        self.finish.append(None)
        self.cached.append(0)
        if self.rows is not None:  # a copy: a reader may reuse its dict for the next row
            self.rows.append(dict(row) if isinstance(row, Mapping) else None)

    def fill(self, j: int, record: tuple[Any, ...]) -> None:
        text, value, prompt, completion, latency, request_id, finish, cached, error = record
        self.texts[j] = text
        self.values[j] = value
        self.prompt[j] = prompt
        self.completion[j] = completion
        self.latency[j] = latency
        self.request_ids[j] = request_id
        self.finish[j] = sys.intern(finish) if finish else finish
        self.cached[j] = 1 if cached else 0
        if error is None:
            self.errors.pop(j, None)
        else:
            self.errors[j] = error

    def record(self, j: int) -> tuple[Any, ...]:
        return (
            self.texts[j],
            self.values[j],
            self.prompt[j],
            self.completion[j],
            self.latency[j],
            self.request_ids[j],
            self.finish[j],
            bool(self.cached[j]),
            self.errors.get(j),
        )

    @property
    def nbytes(self) -> int:
        return self.texts.nbytes + self.request_ids.nbytes


class OutcomeStore:
    """Records by input index: ``reserve`` a slot per row read, ``fill`` it when it finishes."""

    def __init__(self, *, keep_rows: bool = False) -> None:
        self.keep_rows = keep_rows
        """Whether the input rows are kept too (a one-shot iterable's, for the join)."""
        self.reparse: Callable[[str], Any] | None = None
        """Text → value, for a spilled value that could not be pickled (set by the run)."""
        self._base = 0  # the index of the window's first row
        self._window = _Window(keep_rows)
        self._pending: dict[int, Any] = {}  # rows before the window, unfinished when it spilled
        self._held: dict[tuple[str, int], Any] = {}  # errors and rows that do not pickle
        self._spill: SpillFile | None = None
        self._spilled_failures = 0

    def __len__(self) -> int:
        return self._base + len(self._window)

    @property
    def failed(self) -> int:
        """Rows with an error (unfinished ones included)."""
        return self._spilled_failures + len(self._pending) + len(self._window.errors)

    @property
    def spill_path(self) -> str | None:
        return self._spill.path if self._spill is not None else None

    # -- filling ----------------------------------------------------------------------------

    def reserve(self, row: Any = None) -> int:
        window = self._window
        if len(window) >= WINDOW_ROWS or window.nbytes >= WINDOW_BYTES:
            self._flush()
            window = self._window
        window.reserve(row)
        return self._base + len(window) - 1

    def fill(self, index: int, record: tuple[Any, ...]) -> None:
        if index >= self._base:
            self._window.fill(index - self._base, record)
            return
        self._pending.pop(index, None)  # finished after its window spilled: written alone
        assert self._spill is not None
        self._spill.write([self._encode(index, record)])

    def cancel(self, index: int, error: BaseException) -> None:
        """Row ``index``, in flight, was stopped."""
        if index >= self._base:
            self._window.errors[index - self._base] = error
        else:
            self._pending[index] = error

    def _flush(self) -> None:
        window, base, count = self._window, self._base, len(self._window)
        if self._spill is None:
            self._spill = SpillFile()
        failed, errors, in_flight = bytearray(count), [None] * count, set()
        for j, error in window.errors.items():
            if error is NOT_RUN:  # in flight: written alone when it finishes
                in_flight.add(j)
                self._pending[base + j] = NOT_RUN
            else:
                failed[j] = 1
                errors[j] = self._pickled("error", base + j, error)
                self._spilled_failures += 1
        values = [None if v is None else _value_blob(v) for v in window.values]
        # By column, read lazily by executemany: no second copy of the window as it is written.
        outcomes = zip(
            range(base, base + count),
            window.texts,
            values,
            window.prompt,
            window.completion,
            window.latency,
            window.request_ids,
            window.finish,
            window.cached,
            failed,
            errors,
            strict=True,
        )
        if in_flight:
            outcomes = (o for o in outcomes if o[0] - base not in in_flight)  # type: ignore[assignment]
        rows = [(base, self._rows_blob(base, window.rows))] if window.rows is not None else []
        self._spill.write(outcomes, rows)
        self._base += count
        self._window = _Window(self.keep_rows)

    def _encode(self, index: int, record: tuple[Any, ...]) -> tuple[Any, ...]:
        """A late row's record as the file keeps it."""
        text, value, prompt, completion, latency, request_id, finish, cached, error = record
        failed = error is not None
        if failed:
            self._spilled_failures += 1
            error = self._pickled("error", index, error)
        value = None if value is None else _value_blob(value)
        return (
            index,
            text,
            value,
            prompt,
            completion,
            latency,
            request_id,
            finish,
            int(cached),
            int(failed),
            error,
        )

    def _rows_blob(self, base: int, rows: list[Any]) -> bytes:
        """A window's rows in one pickle (read back only in order); rows that do not pickle
        are kept in memory (None in the file)."""
        try:
            blob = pickle.dumps(rows, protocol=5)
            pickle.loads(blob)
            return blob
        except Exception:
            return pickle.dumps(
                [self._pickled("row", base + j, r) and r for j, r in enumerate(rows)]
            )

    def _pickled(self, kind: str, index: int, thing: Any) -> bytes | None:
        """``thing`` pickled, checked to load back; else kept in memory (None on disk)."""
        if thing is None:
            return None
        try:
            blob = pickle.dumps(thing, protocol=5)
            pickle.loads(blob)  # an exception whose __init__ takes other arguments fails here
        except Exception:
            self._held[kind, index] = thing
            return None
        return blob

    # -- reading ----------------------------------------------------------------------------

    def record(self, index: int) -> tuple[Any, ...]:
        if index >= self._base:
            return self._window.record(index - self._base)
        if index in self._pending:
            return _unfinished(self._pending[index])
        return self._decode(index, self._spilled().outcome(index))

    def records(self) -> Iterator[tuple[Any, ...]]:
        """Every record, in input order."""
        if self._base:
            for index, spilled in self._spilled_in_order(OUTCOME_COLUMNS):
                yield self._decode(index, spilled)
        window = self._window
        for j in range(len(window)):
            yield window.record(j)

    def column(self, name: str) -> Iterator[Any]:
        """One field of every record, in input order (reading only that column)."""
        if name in ("value", "error"):
            position = FIELDS.index(name)
            for record in self.records():
                yield record[position]
            return
        if self._base:
            default = _unfinished(NOT_RUN)[FIELDS.index(name)]
            as_bool = name == "cached"
            for _, spilled in self._spilled_in_order((name,)):
                yield default if spilled is None else bool(spilled[0]) if as_bool else spilled[0]
        yield from _window_column(self._window, name)

    def failures(self) -> Iterator[tuple[int, Any]]:
        """``(index, error)`` of the failed rows, in input order (NOT_RUN for unfinished)."""
        found: list[tuple[int, Any]] = list(self._pending.items())
        if self._spilled_failures:
            for index, blob in self._spilled().failures(self._base):
                found.append((index, self._unpickled("error", index, blob)))
        found.sort(key=lambda item: item[0])
        yield from found
        base = self._base
        for j in sorted(self._window.errors):
            yield base + j, self._window.errors[j]

    def rows(self) -> Iterator[Any]:
        """The kept input rows (a dict, or None for a row that is not a mapping), in order."""
        if self._base:
            for start, blob in self._spilled().rows(self._base):
                for j, row in enumerate(pickle.loads(blob)):
                    yield self._held.get(("row", start + j)) if row is None else row
        yield from self._window.rows or ()

    def _spilled_in_order(self, columns: tuple[str, ...]) -> Iterator[tuple[int, Any]]:
        """``(index, columns or None)`` for every row before the window (None: unfinished)."""
        expected = 0
        for found in self._spilled().outcomes(0, self._base, columns):
            while expected < found[0]:
                yield expected, None
                expected += 1
            yield expected, found[1:]
            expected += 1
        while expected < self._base:
            yield expected, None
            expected += 1

    def _decode(self, index: int, spilled: tuple[Any, ...] | None) -> tuple[Any, ...]:
        if spilled is None:
            return _unfinished(self._pending.get(index, NOT_RUN))
        text, value, prompt, completion, latency, request_id, finish, cached, failed, error = (
            spilled
        )
        if value == _REPARSE:
            value = self.reparse(text) if self.reparse is not None and text is not None else None
        elif value is not None:
            value = pickle.loads(value)
        error = self._unpickled("error", index, error) if failed else None
        return (text, value, prompt, completion, latency, request_id, finish, bool(cached), error)

    def _unpickled(self, kind: str, index: int, blob: bytes | None) -> Any:
        return self._held.get((kind, index)) if blob is None else pickle.loads(blob)

    def _spilled(self) -> SpillFile:
        assert self._spill is not None
        return self._spill

    def close(self) -> None:
        """Remove the spill file (reading a spilled row afterwards raises SpillClosed)."""
        if self._spill is not None:
            self._spill.close()


def _value_blob(value: Any) -> bytes:
    try:
        return pickle.dumps(value, protocol=5)
    except Exception:  # e.g. a pydantic class defined inside a function
        return _REPARSE


def _unfinished(error: Any) -> tuple[Any, ...]:
    return (None, None, 0, 0, 0.0, None, None, False, error)


def _window_column(window: _Window, name: str) -> Iterator[Any]:
    if name == "text":
        yield from window.texts
    elif name == "request_id":
        yield from window.request_ids
    elif name == "cached":
        yield from (bool(c) for c in window.cached)
    else:
        yield from {
            "prompt_tokens": window.prompt,
            "completion_tokens": window.completion,
            "latency": window.latency,
            "finish_reason": window.finish,
        }[name]
