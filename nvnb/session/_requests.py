"""The ask machinery: one request in flight, streamed on the session's event-loop thread.

:meth:`nvnb.Session.ask` prepares a :class:`Request`, streams it here on a loop thread of its
own (so a stop from any thread, or a ``KeyboardInterrupt`` in the asking thread, closes the
connection at once), and receives every stream event in the asking thread through a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nvnb.answers import Answer, Turn
from nvnb.client.last_exchange import start_capture
from nvnb.images import ImageAttachment

Event = tuple[str, Any]
"""``("start", answer)``, ``("delta", text)``, ``("reasoning", text)`` or ``("end", answer)``."""


@dataclass(eq=False)
class Request:
    """A question ready to send: the messages, the call options and the chat model."""

    prompt: str
    model: str
    messages: list[Any]
    call: dict[str, Any]
    user_turn: Turn
    used_attached: bool
    llm: Any
    attachments: tuple[ImageAttachment, ...] = ()  # put back if nothing was answered


class Flight:
    """One request in flight: cancellable from any thread."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        self.reason: str | None = None
        self.cancelled = False
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any] | None) -> None:
        with self._lock:
            self.loop, self.task = loop, task

    def cancel(self, reason: str) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
            self.reason = reason
            loop, task = self.loop, self.task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)


class Flights:
    """The requests of one session in flight, known to a stop from their start."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: set[Flight] = set()

    def new(self) -> Flight:
        flight = Flight()
        with self._lock:
            self._flights.add(flight)
        return flight

    def discard(self, flight: Flight) -> None:
        with self._lock:
            self._flights.discard(flight)

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._flights)

    def cancel_all(self, reason: str) -> bool:
        """Cancel every request in flight; return whether there was one."""
        with self._lock:
            flights = list(self._flights)
        for flight in flights:
            flight.cancel(reason)
        return bool(flights)


class LoopThread:
    """An event loop running on a daemon thread of its own, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="nvnb-session", daemon=True)
                thread.start()
                self._loop = loop
            return self._loop


async def stream_answer(
    request: Request,
    flight: Flight,
    emit: Callable[[tuple[str, Any]], None],
    done: Callable[[Flight], None],
) -> Answer:
    """Stream one answer; every event goes through ``emit``; ``done(flight)`` once the stream is
    over. Never raises (but cancels)."""
    answer = Answer(model=request.model, prompt=request.prompt)
    answer.exchange = start_capture()  # this task's request body and response headers
    flight.bind(asyncio.get_running_loop(), asyncio.current_task())
    emit(("start", answer))
    started = time.monotonic()
    first: float | None = None
    chunks = 0
    try:
        if flight.cancelled:  # stopped before it started
            raise asyncio.CancelledError
        stream = request.llm.astream(request.messages, **request.call)
        try:
            async for chunk in stream:
                meta = getattr(chunk, "response_metadata", None) or {}
                if meta.get("request_id"):
                    answer.request_id = meta["request_id"]
                if meta.get("finish_reason"):
                    answer.finish_reason = meta["finish_reason"]
                usage = getattr(chunk, "usage_metadata", None)
                if usage:
                    answer.usage = dict(usage)
                extra = getattr(chunk, "additional_kwargs", None) or {}
                reasoning = extra.get("reasoning_content") or ""
                answer.refusal += extra.get("refusal") or ""
                text = content_text(chunk.content)
                if (text or reasoning) and first is None:
                    first = time.monotonic()
                    answer.stats.time_to_first_token = first - started
                if reasoning:
                    answer._append(reasoning=reasoning)
                    emit(("reasoning", reasoning))
                if text:
                    chunks += 1
                    answer._append(text)
                    answer.stats.output_tokens = chunks
                    emit(("delta", text))
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # closes the HTTP stream even when cancelled
    except asyncio.CancelledError:
        answer.stopped = True
        answer.stop_reason = flight.reason or "stop"
        answer.finish_reason = answer.finish_reason or "stopped"
    except Exception as exc:
        answer.error = exc
    finally:
        done(flight)
    answer._settle()
    end = time.monotonic()
    stats = answer.stats
    stats.elapsed = end - started
    if answer.usage.get("output_tokens") and not answer.stopped:
        stats.output_tokens = int(answer.usage["output_tokens"])
    if first is not None and end > first and stats.output_tokens > 1:
        stats.tokens_per_second = stats.output_tokens / (end - first)
    emit(("end", answer))
    return answer


def drain(
    events: queue.SimpleQueue[Event],
    handle: Callable[[Event], Answer | None],
    flight: Flight,
    future: Any,
) -> Answer:
    """Feed the events of one request to ``handle`` (in the asking thread) until the answer
    ends; a ``KeyboardInterrupt`` here stops the request and still collects the answer."""
    answer: Answer | None = None
    try:
        while answer is None:
            try:
                event = events.get(timeout=0.05)
            except queue.Empty:
                continue
            answer = handle(event)
    except KeyboardInterrupt:
        flight.cancel("interrupt")
        # Collect what is left (the end event follows quickly once the task is cancelled).
        while answer is None:
            try:
                event = events.get(timeout=5)
            except queue.Empty:  # pragma: no cover - the loop thread died
                raise KeyboardInterrupt from None
            with contextlib.suppress(KeyboardInterrupt):
                answer = handle(event)
    finally:
        if not future.done():
            flight.cancel("interrupt")
    return answer


def finish(answer: Answer) -> Answer:
    """The answer, or its error raised with the partial answer attached (``exc.answer``)."""
    if answer.error is not None:
        exc = answer.error
        with contextlib.suppress(Exception):
            exc.answer = answer  # type: ignore[attr-defined]
        raise exc
    return answer


def content_text(content: Any) -> str:
    """The text of a message chunk's content (a string, or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and part.get("type") == "text":
                out.append(str(part.get("text", "")))
        return "".join(out)
    return ""
