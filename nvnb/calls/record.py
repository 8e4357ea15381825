"""One request as nvnb saw it: a ``CallRecord`` filled while the answer streams past, the
``RetryNote`` the retry loop keeps for it, and the last few records in memory (``last_call``).

The record is the one account of a request: the call log stores it (one row), a Code view and
``%nvchat last`` show it (the exact JSON body sent, the request headers without the key, the
response headers worth showing: request id, cache hit; retries and 429 waits), a notebook export
cites it. ``Authorization``, cookies and the transport's own headers are dropped before it is
made, and only the key's presence is kept (``authorized``), so the API key cannot reach it.
Which record belongs to which answer: :mod:`nvnb.calls.capture`.

``RetryNote`` is the hook between the retry loop (which knows about retries and waits) and the
transport (which sees each attempt): the client puts one note per logical request in the httpx
request's ``extensions["nvnb.retry"]``; ``RetryPlan`` updates it; the transport reads it when an
attempt ends, so a request retried twice after 429s is *one* row saying so.
"""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

from nvnb.calls.digest import RequestDigest

RETRY_EXTENSION = "nvnb.retry"
# a response's body that a reader may take one read at a time (``await body.read_chunk()``,
# b"" at its end) instead of through httpx's stream layers: set by the async transport and
# by the call log's wrapper (its observing body), only when no decoding is needed
BODY_EXTENSION = "nvnb.body"
# the answer's AnswerReader, on a logged response: a chat stream that read the answer to its
# end hands it its text and usage (``provide``), so the log does not parse the bytes again
ANSWER_EXTENSION = "nvnb.answer"
CACHE_HEADER = "x-nvnb-cache"  # set on replayed responses: "hit"
# response headers kept in a record: those that say which request this was and how it went
_KEPT_HEADERS = (
    "content-type",
    "x-request-id",
    "nvcf-reqid",
    "nvcf-status",
    "retry-after",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    CACHE_HEADER,
)
# request headers a record leaves out: secrets, and what the transport adds on its own
_DROPPED_REQUEST_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "host",
        "content-length",
        "connection",
        "accept-encoding",
        "transfer-encoding",
    }
)
_KEPT = frozenset(_KEPT_HEADERS)
_READ = frozenset(("content-type", "content-encoding"))
_MAX_TEXT = 200_000
_MAX_BODY = 8_000_000  # bytes of an answer kept for reading its text (a long answer is cut)
# a streamed chunk carrying text: "content":"x… (an empty "content":"" is no token)
_FIRST_TOKEN = re.compile(rb'"content":\s*"(?!")')


class RetryNote:
    """What the retry loop did for one logical request (updated by ``nvnb._retry.RetryPlan``)."""

    __slots__ = ("pending", "rate_limited", "retries", "waited_s")

    def __init__(self) -> None:
        self.retries = 0
        self.rate_limited = 0  # how many 429 answers were waited out
        self.waited_s = 0.0  # seconds slept before retries
        self.pending = False  # the attempt now ending will be retried: it is no row of its own

    def retrying(self, delay: float, status: int | None = None) -> None:
        """The loop will sleep ``delay`` s and send again (after ``status``, or an error)."""
        self.retries += 1
        self.waited_s += delay
        if status == 429:
            self.rate_limited += 1
        if status is not None:
            self.pending = True

    def take_pending(self) -> bool:
        pending, self.pending = self.pending, False
        return pending


@dataclass
class CallRecord:
    """One request and its answer; ``to_row()`` is what the call log stores."""

    time: float
    method: str
    url: str
    endpoint: str
    model: str | None
    stream: bool
    parameters: dict[str, Any]
    labels: dict[str, Any] | None
    message_count: int
    image_hashes: tuple[str, ...]
    request_body: bytes = b""  # exactly as sent (in memory only; the log keeps images hashed)
    request_headers: dict[str, str] = field(default_factory=dict)  # no key (in memory only)
    authorized: bool = False  # whether an Authorization header was sent (never its value)
    status: int | None = None
    outcome: str = "pending"  # ok | http error | interrupted | error | cached
    request_id: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    tokens_in: int | None = None
    tokens_out: int | None = None
    first_token_s: float | None = None
    total_s: float | None = None
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0
    text: str = ""
    error: str | None = None
    cached: bool = False
    normalised_body: Any = None
    reader: Any = field(default=None, repr=False, compare=False)

    def settle(self) -> CallRecord:
        """Fill in the answer's text and usage from the bytes kept while it streamed."""
        reader = self.reader
        if reader is not None:
            reader.settle(self)
            self.reader = None
        return self

    @classmethod
    def start(cls, digest: RequestDigest, url: str, body: bytes, headers: Any = None) -> CallRecord:
        """A pending record of a request (``headers``: an ``httpx.Headers``, filtered here)."""
        kept, authorized = _request_headers(headers)
        return cls(
            time=time.time(),
            method=digest.method,
            url=_without_query_secrets(url),
            endpoint=digest.endpoint,
            model=digest.model,
            stream=digest.stream,
            parameters=digest.parameters,
            labels=digest.labels,
            message_count=digest.message_count,
            image_hashes=digest.image_hashes,
            request_body=body,
            request_headers=kept,
            authorized=authorized,
            normalised_body=digest.normalised,
        )

    @property
    def request_json(self) -> Any:
        """The request body as sent, parsed (None if it was not JSON)."""
        try:
            return json.loads(self.request_body) if self.request_body else None
        except ValueError:
            return None

    @property
    def body(self) -> dict[str, Any] | None:
        """The request body as sent, when it was a JSON object (what the Code view rewrites)."""
        data = self.request_json
        return data if isinstance(data, dict) else None

    def to_row(self) -> dict[str, Any]:
        self.settle()
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in (
            "request_body",
            "request_headers",
            "authorized",
            "normalised_body",
            "response_headers",
            "url",
            "reader",
        ):
            row.pop(name)
        row["image_hashes"] = list(self.image_hashes)
        return row

    def show(self) -> str:
        """The request and its answer as text: body, headers that matter, retries, timing."""
        self.settle()
        body = json.dumps(self.normalised_body, indent=2, ensure_ascii=False)
        return "\n".join([f"{self.method} {self.url}", body, self.outcome_lines()])

    def outcome_lines(self) -> str:
        """How the request went: status, timing, request id, retries, the headers that matter."""
        self.settle()
        headers = "\n".join(f"{k}: {v}" for k, v in self.response_headers.items())
        timing = f"{self.total_s:.3f} s" if self.total_s is not None else "unfinished"
        if self.first_token_s is not None:
            timing += f", first token {self.first_token_s:.3f} s"
        lines = [
            f"→ {self.status} {self.outcome} ({timing}); request id: {self.request_id or '-'}",
            f"retries: {self.retries} ({self.rate_limited} × 429, {self.waited_s:.2f} s waited)",
        ]
        if headers:
            lines.append(headers)
        return "\n".join(lines)


class AnswerReader:
    """Reads an answer's bytes as they pass (JSON or SSE) into its record: text, usage,
    first-token time. Decompresses gzip/deflate; other encodings leave the text empty.

    On the hot path it only keeps the bytes and notes when the first token arrived (a bytes
    search); the parsing into text and usage waits for :meth:`settle`, which the log's
    background writer (or ``last_call()``) calls."""

    def __init__(self, record: CallRecord, headers: Any, started: float) -> None:
        self.record = record
        self.started = started
        encoding = (headers.get("content-encoding") or "").lower().strip()
        self._inflate = (
            zlib.decompressobj(16 + zlib.MAX_WBITS)
            if encoding == "gzip"
            else zlib.decompressobj()
            if encoding == "deflate"
            else None
        )
        self._readable = encoding in ("", "identity", "gzip", "deflate")
        self._sse = "event-stream" in (headers.get("content-type") or "")
        self._data = bytearray()  # one buffer: no object per read (a stream is one per token)
        self._texts: list[str] = []
        self._text_size = 0
        self._settled = False
        self._given: tuple[str, Any] | None = None
        self._lock = threading.Lock()

    def provide(self, text: str, usage: Any) -> None:
        """The answer as the stream's own decoder read it, to ``[DONE]`` and without an error:
        its text and usage are the record's (what :meth:`settle` would find by parsing the
        kept bytes again, ~5 µs an event on the log's thread), and the bytes go now."""
        with self._lock:
            if self._settled or not self._sse:
                return
            self._given = (text[:_MAX_TEXT], usage)
            self._readable = False  # keep no more bytes (the first token is long past)
            self._data = bytearray()

    def feed(self, chunk: bytes) -> None:
        if not self._readable or not chunk:
            return
        try:
            data = self._inflate.decompress(chunk) if self._inflate else chunk
        except zlib.error:
            self._readable = False
            return
        if len(self._data) < _MAX_BODY:
            self._data += data
        record = self.record  # None once finished: bytes still kept, no first token then
        sse_first = self._sse and record is not None and record.first_token_s is None
        if sse_first and _FIRST_TOKEN.search(data):
            record.first_token_s = time.monotonic() - self.started

    def finish(self, outcome: str) -> CallRecord:
        """The answer ended: total time and outcome now; text and usage at :meth:`settle`."""
        record = self.record
        record.total_s = time.monotonic() - self.started
        if record.first_token_s is None and not self._sse:
            record.first_token_s = record.total_s
        record.outcome = outcome
        record.reader = self
        # the record holds its reader until it is settled, and the reader no longer holds the
        # record: no reference cycle, so a finished call's objects go when the last reference
        # does (not at the cyclic GC's next full collection, which under load is what they
        # would otherwise wait for)
        self.record = None  # type: ignore[assignment]
        return record

    def settle(self, record: CallRecord | None = None) -> None:
        """Parse the kept bytes into the record's text, usage and error (once); ``record``:
        the one this reader was made for (given back by ``CallRecord.settle``)."""
        with self._lock:
            if self._settled:
                return
            self._settled = True
            if record is not None:
                self.record = record
            if self._given is not None:
                self.record.text, usage = self._given
                self._usage(usage)
                return
            data, self._data = self._data, bytearray()
            if not self._readable:
                return
            try:
                if self._sse:
                    self._sse_lines(data)
                    self.record.text = "".join(self._texts)[:_MAX_TEXT]
                else:
                    self._json(data.decode("utf-8", "replace"))
            except Exception as err:  # an answer of an unexpected shape: keep the row, say so
                self.record.error = self.record.error or f"answer not read: {err}"[:500]

    def _sse_lines(self, data: bytearray) -> None:
        """Each line of the kept bytes (ended by LF, CRLF or CR) to :meth:`_sse_line`, one at a
        time: no copy of the whole answer as text (a long answer is megabytes, parsed on the
        log's thread beside the caller's work). A line never splits a UTF-8 character, so
        decoding line by line reads what decoding the whole would."""
        start, end = 0, len(data)
        while start < end:
            stop = data.find(b"\n", start)
            if stop < 0:
                stop = end
            line = data[start:stop]
            start = stop + 1
            if line.endswith(b"\r"):
                del line[-1:]
            for part in line.split(b"\r") if b"\r" in line else (line,):
                if part.startswith(b"data:"):
                    self._sse_line(part.decode("utf-8", "replace"))

    def _sse_line(self, line: str) -> None:
        if not line.startswith("data:"):
            return
        data = line[5:].strip()
        if not data or data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            return
        if not isinstance(chunk, dict):
            return
        if "error" in chunk:
            self.record.error = _error_text(chunk)
        self._usage(chunk.get("usage"))
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            piece = delta.get("content") if isinstance(delta, dict) else None
            if piece and self._text_size < _MAX_TEXT:  # what is kept is cut there anyway
                self._texts.append(piece)
                self._text_size += len(piece)

    def _json(self, text: str) -> None:
        record = self.record
        try:
            data = json.loads(text) if text else None
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if (record.status or 0) >= 400:
            record.error = _error_text(data)
            return
        self._usage(data.get("usage"))
        choices = data.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message") or {}
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                record.text = content[:_MAX_TEXT]
            elif message.get("tool_calls"):
                record.text = json.dumps(message["tool_calls"], ensure_ascii=False)[:_MAX_TEXT]
        elif isinstance(data.get("data"), list):  # embeddings
            record.text = f"{len(data['data'])} embedding(s)"
        elif isinstance(data.get("rankings"), list):
            ranks = [r.get("index") for r in data["rankings"] if isinstance(r, dict)]
            record.text = f"rankings: {ranks}"

    def _usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            if isinstance(usage.get("prompt_tokens"), int):
                self.record.tokens_in = usage["prompt_tokens"]
            if isinstance(usage.get("completion_tokens"), int):
                self.record.tokens_out = usage["completion_tokens"]


def answer_headers(headers: Any) -> tuple[dict[str, str], dict[str, str]]:
    """One pass over the response headers (each lookup in ``httpx.Headers`` scans them all):
    (those a record keeps, lower-cased: request id, rate limits, cache hit; those an
    AnswerReader reads: content type and encoding)."""
    items = headers.multi_items() if hasattr(headers, "multi_items") else headers.items()
    found: dict[str, str] = {}
    for name, value in items:
        name = name.lower()
        if name in _KEPT or name in _READ:  # repeated ones joined with ", ", as httpx does
            found[name] = f"{found[name]}, {value}" if name in found else value
    kept = {k: v for k, v in found.items() if k in _KEPT}
    return kept, {k: v for k, v in found.items() if k in _READ}


def request_id_of(headers: Any) -> str | None:
    return headers.get("x-request-id") or headers.get("nvcf-reqid")


# --- the last few records, in memory ------------------------------------------------------

_recent: deque[CallRecord] = deque(maxlen=50)
_recent_lock = threading.Lock()


def remember(record: CallRecord) -> None:
    with _recent_lock:
        _recent.append(record)


def last_call(endpoint: str | None = None) -> CallRecord | None:
    """The last finished request of this process (optionally to a path ending in ``endpoint``,
    e.g. ``"chat/completions"``), with its exact body and response headers; None if none."""
    with _recent_lock:
        for record in reversed(_recent):
            if endpoint is None or record.endpoint.endswith(endpoint):
                return record.settle()
    return None


def _request_headers(headers: Any) -> tuple[dict[str, str], bool]:
    """The request headers worth showing again (as spelled when sent), and whether a key went."""
    if headers is None:
        return {}, False
    pairs = headers.raw if hasattr(headers, "raw") else [(k, v) for k, v in headers.items()]
    kept: dict[str, str] = {}
    authorized = False
    for name, value in pairs:
        name = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        lower = name.lower()
        if lower == "authorization":
            authorized = True
        if lower not in _DROPPED_REQUEST_HEADERS:
            kept[name] = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return kept, authorized


def _error_text(data: dict[str, Any]) -> str:
    err = data.get("error", data)
    if isinstance(err, dict):
        parts = [err.get(k) for k in ("title", "detail", "message") if err.get(k)]
        text = ": ".join(str(p) for p in parts) or json.dumps(err)[:300]
    else:
        text = str(err)
    return text[:500]


def _without_query_secrets(url: str) -> str:
    # nvnb puts no secret in URLs; a signed asset URL's query is dropped all the same
    return url.split("?", 1)[0]
