"""Clicks on a ``%%nvchat`` cell's own output (Stop) reaching the kernel while the cell runs.

A widget's comm message waits on the kernel's shell channel behind the running cell, so a Stop
button in a streaming cell's output would do nothing until the answer is over. The cell's
waiting loop (:meth:`nvnb.Session.ask` calls its sink's ``on_idle``) therefore handles pending
shell messages itself, through ``jupyter-ui-poll``: chosen because it is small, pure Python and
maintained across ipykernel 5 to 7, whose private message loop changed each time; it defers any
``execute_request`` that arrives meanwhile (a queued cell) and replays it, in order, after this
cell. Without the package the pane shows no Stop (Kernel > Interrupt still stops the answer).
"""

from __future__ import annotations

import time
from typing import Any


class KernelPoll:
    """Call it often; at most every ``every`` seconds it lets the kernel handle a few pending
    messages (a widget's click among them). ``close()`` when the cell's answer is over."""

    def __init__(self, every: float = 0.05) -> None:
        self._every = every
        self._last = 0.0
        self._events: Any = None
        self._poll: Any = None

    @classmethod
    def for_shell(cls, shell: Any) -> KernelPoll | None:
        """A poller for a kernel's shell; ``None`` outside a kernel or without jupyter-ui-poll."""
        if getattr(shell, "kernel", None) is None:
            return None
        try:
            import jupyter_ui_poll  # noqa: F401
        except ImportError:
            return None
        return cls()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        if self._poll is None:
            from jupyter_ui_poll import ui_events

            self._events = ui_events()
            self._poll = self._events.__enter__()
        self._poll(5)

    def close(self) -> None:
        if self._events is not None:
            events, self._events, self._poll = self._events, None, None
            events.__exit__(None, None, None)
