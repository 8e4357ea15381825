"""Server-sent events, without I/O: bytes in, chat chunks out (the sync and async streams share it).

``SSEParser`` follows the WHATWG event-stream rules (``data:`` lines, multi-line data, comments and
keep-alives ignored, CR/LF/CRLF line ends, UTF-8 split anywhere). It is strict about lines that
are no SSE field at all: those mean the stream is broken and raise ``StreamInterrupted``.

``ChatStreamDecoder`` turns events into chat-completion chunk dicts: ``[DONE]`` ends the stream,
``{"error": …}`` becomes a ``StreamError``, anything else that is not a JSON object is malformed.
It also keeps the text delivered so far, so errors carry ``.partial_text``.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nvnb.client._boundary import stream_error
from nvnb.errors import NVNBError, RequestTimeout, StreamError, StreamInterrupted

__all__ = ["ChatStreamDecoder", "SSEParser", "ServerSentEvent"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_KNOWN_FIELDS = frozenset({"data", "event", "id", "retry"})
MAX_LINE_CHARS = 32 * 1024 * 1024


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


class SSEParser:
    """Incremental event-stream parser: ``feed(bytes)`` → complete events; ``finish()`` at EOF."""

    def __init__(self, *, strict: bool = True, max_line_chars: int = MAX_LINE_CHARS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._pieces: list[str] = []  # the current incomplete line
        self._pending_chars = 0
        self._skip_lf = False  # the last chunk ended in CR: a leading LF belongs to it
        self._started = False
        self._strict = strict
        self._max = max_line_chars
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._broken: NVNBError | None = None  # bad UTF-8 met while decoding, raised after parsing

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        events, error = self.feed_events(chunk)
        if error is not None:
            raise error
        return events

    def finish(self) -> list[ServerSentEvent]:
        """End of stream: the last unterminated line and event count (servers often skip them)."""
        events, error = self.finish_events()
        if error is not None:
            raise error
        return events

    def feed_events(self, chunk: bytes) -> tuple[list[ServerSentEvent], NVNBError | None]:
        """``feed`` that returns its error instead of raising it, with the events completed
        before the broken point (a read may hold good events, then a line that is no SSE)."""
        events: list[ServerSentEvent] = []
        try:
            self._feed_text(self._decode(chunk), events)
        except NVNBError as err:
            return events, err
        return events, None

    def finish_events(self) -> tuple[list[ServerSentEvent], NVNBError | None]:
        """``finish`` with its error returned, like ``feed_events``."""
        events: list[ServerSentEvent] = []
        try:
            self._feed_text(self._decode(b"", final=True), events)
            if self._pieces:
                line = "".join(self._pieces)
                self._pieces, self._pending_chars = [], 0
                events.extend(self._line(line))
            events.extend(self._line(""))
        except NVNBError as err:
            return events, err
        return events, None

    def _decode(self, chunk: bytes, final: bool = False) -> str:
        try:
            return self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            # Parse the valid text before the bad bytes first; the error comes after its events.
            self._broken = StreamInterrupted(
                "the stream ended inside a UTF-8 character"
                if final
                else "the stream is not valid UTF-8"
            )
            return bytes(exc.object[: exc.start]).decode("utf-8")

    def _feed_text(self, text: str, events: list[ServerSentEvent]) -> None:
        """Parse ``text`` into ``events`` (complete ones stay there if a line then raises)."""
        broken, self._broken = self._broken, None
        if text:
            self._parse_text(text, events)
        if broken is not None:
            raise broken

    def _parse_text(self, text: str, events: list[ServerSentEvent]) -> None:
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._skip_lf:
            self._skip_lf = False
            text = text.removeprefix("\n")
        if not _LINE_BREAK.search(text):
            self._append_partial(text)
            return
        head, *lines = _LINE_BREAK.split(text)
        tail = lines.pop()
        first = "".join(self._pieces) + head
        self._pieces, self._pending_chars = [], 0
        for line in (first, *lines):
            events.extend(self._line(line))
        self._append_partial(tail)
        self._skip_lf = text.endswith("\r")

    def _append_partial(self, text: str) -> None:
        if text:
            self._pieces.append(text)
            self._pending_chars += len(text)
            if self._pending_chars > self._max:
                raise StreamInterrupted(f"a stream line is longer than {self._max} characters")

    def _line(self, line: str) -> list[ServerSentEvent]:
        if line == "":
            if not self._data:
                self._event = None
                return []
            event = ServerSentEvent("\n".join(self._data), self._event, self._id, self._retry)
            self._data, self._event = [], None
            return [event]
        if line.startswith(":"):  # comment / keep-alive
            return []
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isdigit():
                self._retry = int(value)
        elif self._strict:
            raise StreamInterrupted(f"malformed stream line: {_preview(line)}")
        return []


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

    def annotate(self, err: NVNBError) -> NVNBError:
        """Attach what had arrived to a stream error."""
        if isinstance(err, StreamInterrupted | StreamError | RequestTimeout):
            err.partial_text = self.partial_text
            err.chunks_received = self.chunks_received
        return err

    def _items(
        self, events: list[ServerSentEvent], error: NVNBError | None
    ) -> list[dict[str, Any] | NVNBError]:
        """The chunks of ``events``, then the parser's error if the stream had not ended."""
        items: list[dict[str, Any] | NVNBError] = list(self._decode(events))
        if error is not None and not self.done and not (items and isinstance(items[-1], NVNBError)):
            items.append(error)
        return items

    def _decode(self, events: list[ServerSentEvent]) -> Iterator[dict[str, Any] | NVNBError]:
        for event in events:
            try:
                chunk = decode_chat_event(event)
            except NVNBError as err:
                yield err
                return
            if chunk is None:
                self.done = True
                return
            yield chunk


def decode_chat_event(event: ServerSentEvent) -> dict[str, Any] | None:
    """One event → a chunk dict; ``None`` for ``[DONE]``; typed errors for the rest."""
    data = event.data.strip()
    if data == "[DONE]":
        return None
    try:
        obj = json.loads(data)
    except ValueError:
        raise StreamInterrupted(f"malformed stream data: {_preview(data)}") from None
    if not isinstance(obj, dict):
        raise StreamInterrupted(f"malformed stream data: {_preview(data)}")
    if event.event == "error" or (obj.get("error") and not obj.get("choices")):
        raise stream_error(obj.get("error", obj))
    return obj


def chunk_text(chunk: dict[str, Any]) -> str:
    """The answer text a chunk adds (first choice's ``delta.content``)."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices:
        return ""
    first = choices[0]
    if not isinstance(first, dict):
        return ""
    delta = first.get("delta") or first.get("message") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


def _preview(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")
