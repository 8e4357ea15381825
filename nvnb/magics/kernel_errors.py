"""The errors raised in this kernel's cells, as text for a model (``{Err[n]}``, ``%nvchat fix``).

IPython (8.25+) keeps each failed cell's formatted traceback in
``shell.history_manager.exceptions``, keyed by execution count; older versions only keep the last
exception in ``sys.last_value``.
"""

from __future__ import annotations

import re
import sys
import traceback
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


def _recorded(shell: Any) -> dict[int, dict[str, Any]]:
    history = getattr(shell, "history_manager", None)
    return dict(getattr(history, "exceptions", None) or {})


def _text(record: dict[str, Any]) -> str:
    lines = record.get("traceback") or []
    text = "\n".join(plain(line).rstrip("\n") for line in lines).strip("\n")
    return text or f"{record.get('ename', 'Error')}: {record.get('evalue', '')}"


class ErrorsByCell:
    """``Err[n]``: the traceback text of the error raised in cell ``n`` (``Err[-1]``: latest)."""

    def __init__(self, shell: Any) -> None:
        self._shell = shell

    def __getitem__(self, n: int) -> str:
        recorded = _recorded(self._shell)
        if isinstance(n, int) and n < 0:
            counts = sorted(recorded)
            if len(counts) < -n:
                raise KeyError(n)
            n = counts[n]
        return _text(recorded[n])

    def __repr__(self) -> str:
        return f"Err(cells={sorted(_recorded(self._shell))})"


def last_error(shell: Any) -> tuple[int | None, str] | None:
    """(cell number or None, traceback text) of the latest error in this kernel, or None."""
    recorded = _recorded(shell)
    if recorded:
        n = max(recorded)
        return n, _text(recorded[n])
    value = getattr(sys, "last_value", None)
    if value is None:
        return None
    if hasattr(value, "_render_traceback_"):
        text = "\n".join(plain(line) for line in value._render_traceback_())
    else:
        text = "".join(traceback.format_exception(type(value), value, value.__traceback__))
    return None, text.strip("\n")
