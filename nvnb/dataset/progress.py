"""The progress display of a run: rows finished of the total, failed, requests per minute,
tokens and the time left, refreshed a few times a second.

``tqdm.auto`` draws it (a widget bar in notebooks, a text bar in terminals) when tqdm is
installed; tqdm is optional, and without it a terminal gets a plain line now and then and a
notebook nothing until the result. ``NVNB_PROGRESS=off`` (or ``progress=False``) turns it off.

Beside a notebook's bar, :meth:`Progress.offer_stop` shows a Stop button
(:class:`nvnb.widgets.run_stop.RunStop`) where the kernel hears its click while the cell runs;
it steps aside when the run ends.
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


def _in_notebook(bar: Any) -> bool:
    """Whether tqdm drew ``bar`` as a notebook widget (tqdm.auto chose it), not as text."""
    from tqdm.notebook import tqdm_notebook

    return isinstance(bar, tqdm_notebook)


class Progress:
    """``update(stats, rpm)`` as often as you like; it redraws at most every ``REFRESH_S``."""

    def __init__(self, total: int | None, *, enabled: bool, desc: str = "nvnb.map") -> None:
        self.total = total
        self._bar: Any = None
        self._plain = False
        self._last = 0.0
        self._started = time.monotonic()
        self._stop: Any = None
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

    def offer_stop(self, on_stop: Any) -> bool:
        """Show a Stop button under a notebook's bar, calling ``on_stop()`` (from another
        thread) when clicked; False where none can be heard while the cell runs."""
        if self._bar is None or not _in_notebook(self._bar):
            return False
        from nvnb.widgets.run_stop import RunStop
        from nvnb.widgets.transient import show_transient

        stop = RunStop(on_stop)
        if not stop.available:
            stop.close()
            return False
        show_transient(stop)
        self._stop = stop
        return True

    def close(self, stats: Stats, rpm: float) -> None:
        if self._stop is not None:
            from nvnb.widgets.transient import retire

            retire(self._stop)
            self._stop = None
        self.update(stats, rpm, force=True)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
