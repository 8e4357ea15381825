"""How a failed ``%%nvchat`` cell reads: one short message, no traceback, the cell marked failed.

IPython shows an exception through its ``_render_traceback_()`` when it has one (the mechanism
IPython's parallel engines use), so raising an error carrying one gives a short ``error`` output
and an execution reply of status ``error``: "Run all" stops there, as for any failed cell.
nvnb's own errors get that renderer attached; other exceptions are bugs and keep their traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

_RED = "\x1b[0;31m"
_RESET = "\x1b[0m"


def short_lines(exc: BaseException, hint: str | None = None) -> list[str]:
    """``Name: first line`` in red, then the hint (``hint`` replaces the error's own)."""
    lines = (str(exc) or type(exc).__name__).splitlines() or [""]
    first, rest = lines[0], lines[1:]
    if hint is not None:
        rest = [line for line in rest if not line.startswith("Hint: ")] + [f"Hint: {hint}"]
    return [f"{_RED}{type(exc).__name__}{_RESET}: {first}", *rest]


def shortened(exc: BaseException, hint: str | None = None) -> BaseException:
    """``exc`` with a short ``_render_traceback_`` attached (its type and attributes unchanged)."""
    exc._render_traceback_ = lambda: short_lines(exc, hint)  # type: ignore[attr-defined]
    return exc


def is_expected(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure to report in one line (nvnb's errors) rather than a bug."""
    if isinstance(exc, CellFailure):
        return True
    import sys

    errors = sys.modules.get("nvnb.errors")
    return errors is not None and isinstance(exc, errors.NVNBError)


@contextmanager
def brief_errors(hint_for: Callable[[BaseException], str | None] | None = None) -> Iterator[None]:
    """Re-raise nvnb's errors from the block shortened (``hint_for`` may replace their hint)."""
    try:
        yield
    except Exception as exc:
        if not is_expected(exc):
            raise
        raise shortened(exc, hint_for(exc) if hint_for else None) from None


class CellFailure(Exception):
    """A ``%%nvchat`` cell could not do what was asked (a bad option value, invalid JSON…)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        message = super().__str__()
        return message + (f"\nHint: {self.hint}" if self.hint else "")

    def _render_traceback_(self) -> list[str]:
        return short_lines(self)


class AnswerInterrupted(KeyboardInterrupt):
    """The kernel was interrupted while an answer streamed; the partial text was kept."""

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def _render_traceback_(self) -> list[str]:
        return [f"{_RED}KeyboardInterrupt{_RESET}: {self.args[0]}"]
