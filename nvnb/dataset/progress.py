"""The progress display of a run: rows finished of the total, failed, requests per minute,
tokens and the time left, refreshed a few times a second.

``tqdm.auto`` draws it (a widget bar in notebooks, a text bar in terminals) when tqdm is
installed; tqdm is optional, and without it a terminal gets a plain line now and then and a
notebook nothing until the result. ``NVNB_PROGRESS=off`` (or ``progress=False``) turns it off.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from nvnb.dataset.outcomes import Stats

REFRESH_S = 0.25
_PLAIN_EVERY_S = 5.0


def wanted(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    return os.environ.get("NVNB_PROGRESS", "").strip().lower() not in ("0", "off", "false", "no")


def describe(stats: Stats, rpm: float) -> str:
    parts = []
    if stats.failed:
        parts.append(f"{stats.failed} failed")
    if stats.cached:
        parts.append(f"{stats.cached} from the run file")
    parts.append(f"{rpm:.0f} req/min")
    parts.append(f"{stats.tokens:,} tokens")
    if stats.throttled:
        parts.append(f"{stats.throttled}× 429")
    return ", ".join(parts)


class Progress:
    """``update(stats, rpm)`` as often as you like; it redraws at most every ``REFRESH_S``."""

    def __init__(self, total: int | None, *, enabled: bool, desc: str = "nvnb.map") -> None:
        self.total = total
        self._bar: Any = None
        self._plain = False
        self._last = 0.0
        self._started = time.monotonic()
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._plain = sys.stderr.isatty()
            return
        self._bar = tqdm(total=total, desc=desc, unit="row", leave=True, dynamic_ncols=True)

    def update(self, stats: Stats, rpm: float, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < (REFRESH_S if self._bar else _PLAIN_EVERY_S):
            return
        self._last = now
        if self._bar is not None:
            self._bar.n = stats.finished
            self._bar.set_postfix_str(describe(stats, rpm), refresh=False)
            self._bar.refresh()
        elif self._plain:
            of = f"/{self.total}" if self.total is not None else ""
            print(f"nvnb.map: {stats.finished}{of} rows, {describe(stats, rpm)}", file=sys.stderr)

    def close(self, stats: Stats, rpm: float) -> None:
        self.update(stats, rpm, force=True)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
