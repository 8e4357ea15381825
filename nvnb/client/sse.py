"""Server-sent events, without I/O: bytes in, chat chunks out (the sync and async streams share it).

``SSEParser`` is the WHATWG HTML standard's event-stream parser to the letter ("Parsing an event
stream" and "Interpreting an event stream", html.spec.whatwg.org/multipage/server-sent-events.html):

- the bytes are decoded as UTF-8 with U+FFFD for invalid sequences (never an error), one
  leading byte order mark is dropped (a second is part of the first line);
- lines end in CRLF, LF or CR, wherever the chunks are cut (a CR at the end of one read and the
  LF at the start of the next are one line end; a character may be split across reads);
- a blank line dispatches the event: its data is the ``data`` values joined by LF, its type the
  last ``event`` value (``"message"`` when none or empty), its ``id`` the last event ID, which
  persists from event to event until an ``id`` field changes it (``id`` values with U+0000 are
  ignored); a blank line with no data dispatches nothing;
- a line starting with ``:`` is a comment; ``name:value`` loses one space after the colon; a
  line without a colon is a field with an empty value; fields other than data/event/id/retry
  are ignored; ``retry`` is honoured only when it is ASCII digits (``retry`` on the event is the
  reconnection time in force);
- at the end of the stream an event without its closing blank line is discarded, not dispatched.

One addition guards memory: a line longer than ``max_line_chars`` raises ``StreamInterrupted``.

``ChatStreamDecoder`` is what nvnb adds on top for the chat-completions API, which is not in
the SSE standard: each event's data must be a JSON object (anything else is a malformed stream,
``StreamInterrupted``); ``data: [DONE]`` ends the stream (what follows is ignored); an object
``{"error": …}`` without ``choices``, or an event of type ``error``, becomes a ``StreamError``; a
stream whose bytes end before ``[DONE]`` is interrupted. It also keeps the text delivered so far,
so errors carry ``.partial_text``.
"""

from __future__ import annotations

import codecs
import json
from typing import Any, NamedTuple

from nvnb.client._boundary import stream_error
from nvnb.errors import NVNBError, RequestTimeout, StreamError, StreamInterrupted

__all__ = ["ChatStreamDecoder", "SSEParser", "ServerSentEvent"]

MAX_LINE_CHARS = 32 * 1024 * 1024
_ASCII_DIGITS = frozenset("0123456789")
# the C scanner under ``json.loads``, called directly: one call per event instead of three
# Python frames and two whitespace regex matches (the data is stripped already)
_scan_json = json.JSONDecoder().scan_once
_PLAIN_UTF8 = (b"", 0)  # the utf-8-sig decoder's state once past the BOM with nothing held back


class ServerSentEvent(NamedTuple):
    """A dispatched event: ``data``, its type (``event``), the last event ID, the retry time."""

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEParser:
    """Incremental event-stream parser: ``feed(bytes)`` → the events completed; ``finish()``
    at the end of the stream (what was not closed by a blank line is discarded)."""

    def __init__(self, *, max_line_chars: int = MAX_LINE_CHARS) -> None:
        # "utf-8-sig": the standard's UTF-8 decode drops one leading BOM, even split over reads
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")("replace")
        self._plain = False  # the decoder holds nothing: a read may be decoded on its own
        self._pending = ""  # the current unterminated line
        self._skip_lf = False  # the last text ended in CR: a leading LF belongs to it
        self._max = max_line_chars
        self._data: list[str] = []
        self._type = ""
        self.last_event_id = ""
        self.reconnection_time: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        events, error = self.feed_events(chunk)
        if error is not None:
            raise error
        return events

    def finish(self) -> list[ServerSentEvent]:
        """End of stream: the decoder is flushed and an unfinished event discarded (always [])."""
        events, error = self.finish_events()
        if error is not None:
            raise error
        return events

    def feed_events(self, chunk: bytes) -> tuple[list[ServerSentEvent], NVNBError | None]:
        """``feed`` that returns its error instead of raising it, with the events completed
        before the broken point."""
        events: list[ServerSentEvent] = []
        text = self._text(chunk)
        if text:
            try:
                self._parse(text, events)
            except StreamInterrupted as err:
                return events, err
        return events, None

    def _text(self, chunk: bytes) -> str:
        """The read as text. Usually it holds whole characters and the BOM is behind: then
        one ``bytes.decode``; otherwise (a character cut between reads, invalid bytes, the
        stream's start) the incremental decoder, with the same result."""
        if self._plain:
            try:
                return chunk.decode("utf-8")
            except UnicodeDecodeError:
                pass
        text = self._decoder.decode(chunk)
        self._plain = self._decoder.getstate() == _PLAIN_UTF8
        return text

    def finish_events(self) -> tuple[list[ServerSentEvent], NVNBError | None]:
        """``finish`` with its error returned, like ``feed_events``."""
        events: list[ServerSentEvent] = []
        text = self._decoder.decode(b"", final=True)  # an unfinished character: U+FFFD
        try:
            if text:
                self._parse(text, events)
        except StreamInterrupted as err:
            return events, err
        # "If the file ends in the middle of an event, before the final empty line, the
        # incomplete event is not dispatched."
        self._pending, self._data, self._type = "", [], ""
        return events, None

    def _parse(self, text: str, events: list[ServerSentEvent]) -> None:
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return
        if "\r" in text:
            self._skip_lf = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            self._pending += text
            if len(self._pending) > self._max:
                raise StreamInterrupted(f"a stream line is longer than {self._max} characters")
            return
        lines = text.split("\n")
        if self._pending:
            lines[0] = self._pending + lines[0]
        self._pending = lines.pop()
        data = self._data
        for line in lines:
            if not line:  # a blank line: dispatch
                if data:
                    events.append(
                        ServerSentEvent(
                            "\n".join(data),
                            self._type or "message",
                            self.last_event_id,
                            self.reconnection_time,
                        )
                    )
                    data = self._data = []
                self._type = ""
                continue
            if line[0] == ":":  # a comment
                continue
            colon = line.find(":")
            if colon < 0:
                name, value = line, ""
            else:
                name, value = line[:colon], line[colon + 1 :]
                if value and value[0] == " ":
                    value = value[1:]
            if name == "data":
                data.append(value)
            elif name == "event":
                self._type = value
            elif name == "id" and "\0" not in value:
                self.last_event_id = value
            elif name == "retry" and value and _ASCII_DIGITS.issuperset(value):
                self.reconnection_time = int(value)
            # any other field (and an id with NUL, a retry that is not digits) is ignored
        if len(self._pending) > self._max:
            raise StreamInterrupted(f"a stream line is longer than {self._max} characters")


class ChatStreamDecoder:
    """Chat-completion chunks from SSE bytes; remembers what was delivered for ``.partial_text``.

    ``feed``/``finish`` return chunk dicts and, where the stream broke, the error as the last
    item, so the chunks before it are still delivered in order. ``delivered(chunk)`` is called by
    the iterator for each chunk it hands to the caller.
    """

    def __init__(self) -> None:
        self._parser = SSEParser()
        self.done = False
        self.chunks_received = 0
        self.usage: Any = None  # the last usage a delivered chunk carried
        self._text: list[str] = []

    @property
    def partial_text(self) -> str:
        return "".join(self._text)

    def feed(self, data: bytes) -> list[dict[str, Any] | NVNBError]:
        if self.done:
            return []
        events, error = self._parser.feed_events(data)
        return self._items(events, error)

    def finish(self) -> list[dict[str, Any] | NVNBError]:
        """The stream's bytes ended. Without ``[DONE]`` that is an interruption."""
        if self.done:
            return []
        events, error = self._parser.finish_events()
        items = self._items(events, error)
        if not self.done and not (items and isinstance(items[-1], NVNBError)):
            items.append(StreamInterrupted("the stream ended before [DONE]"))
        return items

    def delivered(self, chunk: dict[str, Any]) -> None:
        self.chunks_received += 1
        self._text.append(chunk_text(chunk))
        usage = chunk.get("usage")
        if usage:
            self.usage = usage

    def annotate(self, err: NVNBError) -> NVNBError:
        """Attach what had arrived to a stream error."""
        if isinstance(err, StreamInterrupted | StreamError | RequestTimeout):
            err.partial_text = self.partial_text
            err.chunks_received = self.chunks_received
        return err

    def _items(
        self, events: list[ServerSentEvent], error: NVNBError | None
    ) -> list[dict[str, Any] | NVNBError]:
        """The chunks of ``events`` up to ``[DONE]`` or the first bad one (then its error), then
        the parser's error if the stream had not ended. (On the per-read hot path: kept flat.)"""
        items: list[dict[str, Any] | NVNBError] = []
        for event in events:
            try:
                chunk = decode_chat_event(event)
            except NVNBError as err:
                items.append(err)
                return items
            if chunk is None:
                self.done = True
                return items
            items.append(chunk)
        if error is not None:
            items.append(error)
        return items


def decode_chat_event(event: ServerSentEvent) -> dict[str, Any] | None:
    """One event → a chunk dict; ``None`` for ``[DONE]``; typed errors for the rest."""
    data = event.data.strip()
    if data == "[DONE]":
        return None
    try:
        obj, end = _scan_json(data, 0)
    except (ValueError, StopIteration):
        raise StreamInterrupted(f"malformed stream data: {_preview(data)}") from None
    if end != len(data) or not isinstance(obj, dict):
        raise StreamInterrupted(f"malformed stream data: {_preview(data)}")
    if event.event == "error" or (obj.get("error") and not obj.get("choices")):
        raise stream_error(obj.get("error", obj))
    return obj


def chunk_text(chunk: dict[str, Any]) -> str:
    """The answer text a chunk adds to the first choice (``index`` 0, or no index): with
    ``n`` > 1 a stream interleaves choices, and the partial text must not mix them."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices:
        return ""
    first = choices[0]  # the usual chunk: one choice, index 0 (no search, once per chunk)
    if not (isinstance(first, dict) and first.get("index", 0) in (0, None)):
        first = next(
            (c for c in choices if isinstance(c, dict) and c.get("index", 0) in (0, None)), None
        )
        if first is None:
            return ""
    delta = first.get("delta") or first.get("message") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


def _preview(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")
