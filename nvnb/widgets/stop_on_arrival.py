"""A Stop button in a running cell's output (``%%nvchat``'s pane, ``nvnb.map``'s bar), heard
while the cell still runs.

A widget's comm message is handled by the kernel's main thread, which is busy running the cell,
so a Stop click would wait until the answer is over. ipykernel 7 receives every shell message
on a thread of its own first and, for a comm message, asks the comm where to send it
(``Comm._reply_subshell_for(data, default)``, its hook for replies to a subshell). That question
is asked the moment the click arrives: the pane's comm answers it as before, and when the
message is its Stop, it also stops the answer there and then. The message itself still reaches
the widget after the cell, where it finds the work over and the widget closed.

Where the hook is missing (ipykernel 6, another kernel) no Stop is shown; Kernel > Interrupt
stops the work, keeping what finished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _is_stop(data: Any) -> bool:
    content = data.get("content") if isinstance(data, dict) else None
    return (
        data.get("method") == "custom"
        and isinstance(content, dict)
        and (content.get("type") == "stop")
    )


def can_stop_on_arrival() -> bool:
    """Whether this kernel asks a comm where to route its messages as they arrive."""
    try:
        from ipykernel.comm.comm import BaseComm
        from ipykernel.kernelbase import Kernel
    except ImportError:
        return False
    if not Kernel.initialized() or not hasattr(BaseComm, "_reply_subshell_for"):
        return False
    return getattr(Kernel.instance(), "shell_channel_thread", None) is not None


def stop_on_arrival(widget: Any, stop: Callable[[], None]) -> bool:
    """Call ``stop()`` (from the kernel's shell-channel thread: it must be thread-safe) as soon
    as the widget's ``{"type": "stop"}`` message arrives; return whether that is possible."""
    comm = getattr(widget, "comm", None)
    route = getattr(comm, "_reply_subshell_for", None)
    if route is None or not can_stop_on_arrival():
        return False

    def reply_subshell_for(data: Any, default: Any) -> Any:
        if _is_stop(data):
            stop()
        return route(data, default)

    comm._reply_subshell_for = reply_subshell_for
    return True
