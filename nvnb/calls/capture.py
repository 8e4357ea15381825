"""Which request an answer was: the record of the request a task or thread is *capturing*.

The transport starts a :class:`nvnb.calls.record.CallRecord` for every request and hands it to
:func:`note_started`; the capture current in that task or thread (if any) keeps it. That one
record, filled in as the answer arrives, is what the call log writes, what ``%nvchat last`` and
the Code views show, and what a notebook export cites: no second copy of the exchange is made.

A capture is scoped with a :mod:`contextvars` variable, so concurrent requests in one event loop
(the Arena's columns) each see their own::

    with capture() as captured:
        llm.invoke("Hi")
    captured.record.body, captured.record.request_id, captured.record.retries
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from nvnb.calls.record import CallRecord

__all__ = ["Capture", "capture", "note_started", "start_capture"]


class Capture:
    """Holds the record of the last body-carrying request (chat, embeddings, ranking) made
    where it is current; ``record`` is None until one is made. Asset uploads and NVCF status
    polls are not kept: the request they serve is."""

    __slots__ = ("record",)

    def __init__(self) -> None:
        self.record: CallRecord | None = None


_capturing: contextvars.ContextVar[Capture | None] = contextvars.ContextVar(
    "nvnb_capture", default=None
)


@contextlib.contextmanager
def capture() -> Iterator[Capture]:
    """Capture the record of the requests made inside the block (this task or thread only)."""
    captured = Capture()
    token = _capturing.set(captured)
    try:
        yield captured
    finally:
        _capturing.reset(token)


def start_capture() -> Capture:
    """Capture from here to the end of the current task (for a coroutine that owns its task)."""
    captured = Capture()
    _capturing.set(captured)
    return captured


def note_started(record: CallRecord) -> None:
    """Called by the transport as each request starts: the current capture, if any, keeps it
    (the same object the log writes, filled in as the answer arrives)."""
    captured = _capturing.get()
    if captured is None or record.method != "POST" or "/assets" in record.url:
        return
    if record.request_body[:1] == b"{":  # a JSON object: a chat, embedding or ranking body
        captured.record = record
