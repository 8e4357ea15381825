"""StreamPane: an answer streamed as Markdown, with Stop, Copy and live stats. It is a session sink.

Jupyter Server drops iopub messages past ~1 000 per second and a view that misses one stays stale,
so the pane never sends one message per token: deltas are buffered and flushed at most
``max_rate`` times per second as custom messages (each carries its offset, so a view can tell a
gap and ask for a resync), and the final text is set once in the ``text`` trait at the end, exact
and saved with the widget state.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import traitlets

from nvnb.answers import error_line, partial_text
from nvnb.widgets._base import NVWidget, resolve_session


class StreamPane(NVWidget):
    """Shows one answer as it streams; pass it as ``sink=`` to ``Session.ask``.

    ``pane = StreamPane(); session.ask("…", sink=pane)``. Stop asks the bound session (default:
    ``nvnb.session()``) to stop; the text so far is kept.
    """

    _view = traitlets.Unicode("stream-pane").tag(sync=True)

    text = traitlets.Unicode("").tag(sync=True)
    reasoning = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Enum(
        ("idle", "streaming", "done", "stopped", "error"), default_value="idle"
    ).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    request_id = traitlets.Unicode("").tag(sync=True)
    stats = traitlets.Dict().tag(sync=True)
    model_name = traitlets.Unicode("").tag(sync=True)
    stoppable = traitlets.Bool(
        True, help="show Stop while streaming (False where a click cannot reach the kernel)"
    ).tag(sync=True)
    regenerable = traitlets.Bool(
        False, help="show Regenerate after an answer (a ChatPanel handles the message)"
    ).tag(sync=True)

    max_rate = traitlets.Float(30.0, help="front-end updates per second, at most")
    messages_sent = traitlets.Int(0, help="custom messages sent for the current answer")

    def __init__(self, session: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._session = session
        self._lock = threading.RLock()
        self._answer: Any = None
        self._text = _StreamedText()  # the streamed text so far
        self._reasoning = _StreamedText()
        self._last_flush = 0.0
        self._timer: threading.Timer | None = None
        self._t0 = 0.0
        self._t_first: float | None = None
        self._pieces = 0
        self.on_msg(self._on_front_end_msg)

    @property
    def session(self) -> Any:
        return resolve_session(self._session)

    # ----------------------------------------------------------------------- the sink
    def on_start(self, answer: Any = None) -> None:
        """A new answer begins (called by ``Session.ask``; optional for other producers)."""
        with self._lock:
            self._cancel_timer()
            self._answer = answer
            self._text.clear()
            self._reasoning.clear()
            self._last_flush = 0.0
            self._t0 = time.monotonic()
            self._t_first = None
            self._pieces = 0
            self.messages_sent = 0
            with self.hold_sync():
                self.text = self.reasoning = self.error = self.request_id = ""
                self.stats = {}
                self.model_name = getattr(answer, "model", "") or ""
                self.status = "streaming"
            self._post({"type": "start", "model": self.model_name})

    def on_delta(self, text: str) -> None:
        with self._lock:
            if self.status != "streaming":
                self.on_start(None)
            if self._t_first is None:
                self._t_first = time.monotonic()
            self._pieces += 1
            self._text.append(text)
            self._due()

    def on_reasoning(self, text: str) -> None:
        with self._lock:
            if self.status != "streaming":
                self.on_start(None)
            if self._t_first is None:
                self._t_first = time.monotonic()
            self._reasoning.append(text)
            self._due()

    def on_end(self, answer: Any) -> None:
        """The answer is complete (or stopped): set the exact final text and stats once."""
        with self._lock:
            self._cancel_timer()
            self._answer = answer
            stats = getattr(answer, "stats", None)
            with self.hold_sync():
                self.text = getattr(answer, "text", None) or self._text.value()
                self.reasoning = getattr(answer, "reasoning", None) or self._reasoning.value()
                self.request_id = getattr(answer, "request_id", None) or ""
                self.stats = stats.as_dict() if stats is not None else self._live_stats()
                self.model_name = getattr(answer, "model", "") or self.model_name
                self.status = "stopped" if getattr(answer, "stopped", False) else "done"
                if getattr(answer, "refusal_note", ""):  # said plainly, in the banner
                    self.error = answer.refusal_note

    def on_error(self, exc: BaseException) -> None:
        """Show a short banner (first line of the error, with its request id)."""
        with self._lock:
            self._cancel_timer()
            text = partial_text(exc)
            with self.hold_sync():
                self.text = text or self._text.value()
                self.reasoning = self._reasoning.value()
                self.request_id = getattr(exc, "request_id", None) or ""
                self.stats = self._live_stats()
                self.error = error_line(exc)
                self.status = "error"

    # ----------------------------------------------------------------------- controls
    def stop(self) -> None:
        """Stop the answer in flight (through the bound session)."""
        self.session.stop()

    def stop_streaming(self) -> None:
        """Stop the answer this pane shows, if it is still streaming (thread-safe): a Stop
        click that reaches the kernel late (after the answer) then stops nothing else."""
        if self.status == "streaming":
            self.stop()

    def clear(self) -> None:
        with self._lock:
            self._cancel_timer()
            self._text.clear()
            self._reasoning.clear()
            with self.hold_sync():
                self.text = self.reasoning = self.error = self.request_id = ""
                self.stats = {}
                self.status = "idle"

    # ----------------------------------------------------------------------- internals
    def _due(self) -> None:
        """Flush now if the last flush is old enough, else make sure a timer will."""
        interval = 1.0 / self.max_rate if self.max_rate > 0 else 0.0
        wait = self._last_flush + interval - time.monotonic()
        if wait <= 0:
            self._cancel_timer()
            self._flush()
        elif self._timer is None:
            self._timer = threading.Timer(wait, self._timer_flush)
            self._timer.daemon = True
            self._timer.start()

    def _timer_flush(self) -> None:
        with self._lock:
            self._timer = None
            if self.status == "streaming":
                self._due()  # a direct flush may have happened meanwhile: re-check the rate

    def _flush(self) -> None:
        if not self._text.unsent and not self._reasoning.unsent:
            return
        offset, text = self._text.take_unsent()
        roffset, reasoning = self._reasoning.take_unsent()
        self._post(
            {
                "type": "delta",
                "offset": offset,
                "text": text,
                "roffset": roffset,
                "reasoning": reasoning,
                "stats": self._live_stats(),
            }
        )
        self._last_flush = time.monotonic()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _post(self, msg: dict[str, Any]) -> None:
        self.messages_sent += 1
        self.send(msg)

    def _live_stats(self) -> dict[str, Any]:
        now = time.monotonic()
        ttft = None if self._t_first is None else self._t_first - self._t0
        tps = None
        if self._t_first is not None and self._pieces > 1 and now > self._t_first:
            tps = self._pieces / (now - self._t_first)
        answer = self._answer
        if answer is not None and getattr(answer, "stats", None) is not None:
            ttft = answer.stats.time_to_first_token or ttft
        return {
            "time_to_first_token": ttft,
            "tokens_per_second": tps,
            "output_tokens": self._pieces,
            "request_id": getattr(answer, "request_id", None) or "",
        }

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "stop":
            self.stop_streaming()
        elif kind == "resync":
            with self._lock:
                text, reasoning = self._text.value(), self._reasoning.value()
                self._text.take_unsent()
                self._reasoning.take_unsent()
                self._post({"type": "reset", "text": text, "reasoning": reasoning})

    # ----------------------------------------------------------------------- display
    def __repr__(self) -> str:
        return f"StreamPane(status={self.status!r}, chars={len(self.text)})"

    def _fallback_markdown(self) -> str:
        """The answer as inert Markdown (``text`` stays exact; the error may quote a server)."""
        from nvnb._markdown_safety import inert_markdown

        if self.error:
            return f"**Error:** {inert_markdown(self.error)}"
        if self.text:
            note = "\n\n*(stopped)*" if self.status == "stopped" else ""
            return inert_markdown(self.text) + note
        return "*StreamPane: no answer yet*"


class _StreamedText:
    """Streamed text as a list of pieces, and how much of it the front end has been sent.

    Appending is O(1) (``str +=`` on an attribute copies the whole text at every delta); the
    text is joined only when asked for (the end of the answer, a resync).
    """

    __slots__ = ("parts", "sent", "sent_parts", "size")

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.parts: list[str] = []
        self.size = 0  # characters so far
        self.sent_parts = 0  # parts already sent to the front end
        self.sent = 0  # characters already sent (the next delta's offset)

    def append(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    @property
    def unsent(self) -> bool:
        return self.sent < self.size

    def take_unsent(self) -> tuple[int, str]:
        """(offset, text) of what the front end has not been sent yet; it counts as sent now."""
        offset, text = self.sent, "".join(self.parts[self.sent_parts :])
        self.sent_parts, self.sent = len(self.parts), self.size
        return offset, text

    def value(self) -> str:
        return "".join(self.parts)
