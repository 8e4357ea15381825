"""Fault injection: what a request (header ``X-NVNB-Fault``) or the whole server asks to go wrong.

A header holds one or more specs separated by commas; a spec is ``name[=value]`` followed by
``;``-separated parameters::

    X-NVNB-Fault: status=503;times=2;id=t1
    X-NVNB-Fault: status=429;retry-after=2, latency-ms=50
    X-NVNB-Fault: drop-after=3

Faults (``N`` is a count of streamed chunks unless named otherwise):

``status=CODE``       answer with that error status (NVCF-style body). Parameters:
                      ``retry-after=SECONDS|HTTP-DATE`` adds ``Retry-After``; ``html`` / ``text`` /
                      ``style=openai`` choose the body's shape. ``status=410`` answers as the
                      service does for a retired model (``Gone``, "The model '…' has reached its
                      end of life on … and is no longer available."; ``eol=DATE`` sets the date).
``refusal``           the model refuses: ``message.refusal`` (streamed: ``delta.refusal``) holds
                      the refusal, ``content`` is null, as OpenAI-compatible servers send it.
``drop-after=N``      stream N chunks, then cut the TCP connection. Not streamed: 0 cuts it before
                      any response, N > 0 sends the headers and the first N bytes of the body.
``malformed-sse=N``   after N chunks, send a ``data:`` line that is not JSON (the stream goes on).
``invalid-json``      answer 200 with a body that is not JSON (a stream: as ``malformed-sse=0``).
``stream-error=N``    after N chunks, send ``data: {"error": {...}}`` and end the stream.
``chunk-delay-ms=N``  wait N ms before each streamed chunk.
``stall-after=N``     after N chunks (not streamed: before answering) send nothing and keep the
                      connection open until the client leaves or the server stops.
``latency-ms=N``      wait N ms before answering.
``accepted=N``        chat and NVCF pexec, not streamed: answer ``202`` with ``NVCF-REQID``; the
                      first N polls of ``GET /v2/nvcf/pexec/status/{id}`` answer 202 again, the next
                      one the result. ``accepted=forever`` never finishes.
``long=N``            make the answer N characters long (``max_tokens`` is ignored).
``style=openai|nvcf|html|text``, ``html``, ``text``  shape of every error body of the request.

Every spec takes ``times=N`` (apply to the first N requests carrying it, counted per ``id=TOKEN``,
or per spec text without an id), so ``status=503;times=2;id=t1`` gives two 503s, then success.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field

from nvnb.server.problems import STYLES, Problem

FAULT_NAMES = (
    "status",
    "drop-after",
    "malformed-sse",
    "invalid-json",
    "stream-error",
    "chunk-delay-ms",
    "stall-after",
    "latency-ms",
    "accepted",
    "long",
    "refusal",
    "style",
    "html",
    "text",
)
PARAM_NAMES = ("retry-after", "times", "id", "style", "html", "text", "eol")
_NO_VALUE = ("invalid-json", "html", "text", "refusal")
# Commas also occur inside HTTP dates (retry-after), so split only before a fault name.
_SPLIT = re.compile(r"\s*,\s*(?=(?:" + "|".join(map(re.escape, FAULT_NAMES)) + r")\b)")


@dataclass(frozen=True)
class Fault:
    """One parsed spec."""

    name: str
    value: str | None
    params: dict[str, str] = field(default_factory=dict, hash=False)
    text: str = ""


def parse(header: str | None) -> list[Fault]:
    """Parse a header value (or server option) into faults; raises :class:`Problem` (400)."""
    if not header or not header.strip():
        return []
    return [_parse_one(part) for part in _SPLIT.split(header.strip()) if part.strip()]


def _parse_one(text: str) -> Fault:
    head, *rest = [p.strip() for p in text.split(";")]
    name, value = _pair(head)
    if name not in FAULT_NAMES:
        raise _bad(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
    params: dict[str, str] = {}
    for item in rest:
        if not item:
            continue
        key, val = _pair(item)
        if key not in PARAM_NAMES:
            raise _bad(f"unknown parameter {key!r} in {text!r}; known: {', '.join(PARAM_NAMES)}")
        params[key] = "" if val is None else val
    if value is None and name not in _NO_VALUE:
        raise _bad(f"fault {name!r} needs a value ({name}=...)")
    fault = Fault(name, value, params, text.strip())
    _check(fault)
    return fault


def _pair(item: str) -> tuple[str, str | None]:
    key, sep, val = item.partition("=")
    return key.strip().lower(), (val.strip() if sep else None)


def _check(fault: Fault) -> None:
    numeric = fault.name not in ("style", "accepted", *_NO_VALUE)
    if numeric and not _is_number(fault.value):
        raise _bad(f"fault {fault.name!r} needs a number, got {fault.value!r}")
    if fault.name == "accepted" and fault.value != "forever" and not _is_number(fault.value):
        raise _bad("accepted needs a number of polls or 'forever'")
    style = fault.value if fault.name == "style" else fault.params.get("style")
    if style is not None and style not in STYLES:
        raise _bad(f"style must be one of {', '.join(STYLES)}")
    if "times" in fault.params and not fault.params["times"].isdigit():
        raise _bad("times needs a whole number")


def _is_number(value: str | None) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except ValueError:
        return False


def _bad(detail: str) -> Problem:
    return Problem(400, f"X-NVNB-Fault: {detail}")


class Counters:
    """Thread-safe counts behind ``times=N``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}

    def admit(self, fault: Fault) -> bool:
        """Whether ``fault`` applies to this request (counting it when it has ``times``)."""
        times = fault.params.get("times")
        if times is None:
            return True
        key = (fault.params.get("id") or fault.text, fault.name)
        with self._lock:
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
        return count <= int(times)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class FaultPlan:
    """The faults in force for one request: the server's, then the request's own."""

    def __init__(self, faults: list[Fault]) -> None:
        self._by_name: dict[str, Fault] = {}
        for fault in faults:
            self._by_name[fault.name] = fault  # later (the request's own) wins

    def __bool__(self) -> bool:
        return bool(self._by_name)

    def has(self, name: str) -> bool:
        return name in self._by_name

    def number(self, name: str) -> float | None:
        fault = self._by_name.get(name)
        if fault is None or fault.value is None or not _is_number(fault.value):
            return None
        return float(fault.value)

    def count(self, name: str) -> int | None:
        value = self.number(name)
        return None if value is None else max(0, int(value))

    @property
    def status(self) -> Problem | None:
        fault = self._by_name.get("status")
        if fault is None:
            return None
        code = int(float(fault.value or 500))
        headers = {}
        if code == 410:  # the catalog's answer for a retired model
            return Problem(410, "", title="Gone", headers=headers, problem_type="about:blank")
        if "retry-after" in fault.params:
            headers["Retry-After"] = fault.params["retry-after"]
        return Problem(
            code, f"Fault injected on request (X-NVNB-Fault: {fault.text}).", headers=headers
        )

    @property
    def end_of_life(self) -> str:
        """The end-of-life date a ``status=410`` fault reports."""
        fault = self._by_name.get("status")
        eol = fault.params.get("eol") if fault is not None else None
        return eol or "2025-01-15T00:00:00Z"

    @property
    def accepted_polls(self) -> float | None:
        """Polls answered 202 before the result (``math.inf`` for ``forever``)."""
        fault = self._by_name.get("accepted")
        if fault is None:
            return None
        return math.inf if fault.value == "forever" else max(0.0, float(fault.value or 0))

    @property
    def style(self) -> str:
        for fault in self._by_name.values():
            params = fault.params
            if "style" in params:
                return params["style"]
            for shape in ("html", "text"):
                if shape in params:
                    return shape
        style = self._by_name.get("style")
        if style is not None and style.value:
            return style.value
        for shape in ("html", "text"):
            if shape in self._by_name:
                return shape
        return "nvcf"


def plan(server_faults: list[Fault], header: str | None, counters: Counters) -> FaultPlan:
    """The faults that apply to one request (parses the header; counts ``times``)."""
    requested = server_faults + parse(header)
    return FaultPlan([f for f in requested if counters.admit(f)])
