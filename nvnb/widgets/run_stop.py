"""The Stop button beside ``nvnb.map``'s progress bar: a click cancels the requests in flight
and keeps the rows that finished, while the cell is still running.

The cell blocks while the run goes on, so the click is heard through
:mod:`nvnb.widgets.stop_on_arrival` (on the kernel's shell-channel thread, as it arrives);
where the kernel cannot do that, no button is shown and Kernel > Interrupt stops the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import traitlets

from nvnb.widgets._base import NVWidget
from nvnb.widgets.stop_on_arrival import stop_on_arrival


class RunStop(NVWidget):
    """``RunStop(on_stop)``: ``.available`` says whether a click can stop the run while it runs;
    ``finish(summary)`` ends it (the button gives way to the one-line summary)."""

    _view = traitlets.Unicode("run-stop").tag(sync=True)
    running = traitlets.Bool(True).tag(sync=True)
    summary = traitlets.Unicode("").tag(sync=True)

    def __init__(self, on_stop: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.available = stop_on_arrival(self, on_stop)

    def finish(self, summary: str = "") -> None:
        self.summary = summary
        self.running = False

    def __repr__(self) -> str:
        return f"RunStop(running={self.running})"

    def _fallback_markdown(self) -> str:
        return self.summary or ""
