"""Responses written by hand, so faults can strike between any two bytes.

:class:`EventStream` sends ``data: {json}\\n\\n`` events and ``data: [DONE]``; it can pause between
chunks, send a line that is not JSON, an in-stream error, stall, or cut the TCP connection.
:class:`CutResponse` sends part of a JSON answer (or nothing) and cuts the connection.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from typing import Any

STALL_LIMIT_S = 600.0
MALFORMED_LINE = b'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "\n\n'


def encode(event: dict | str) -> bytes:
    data = (
        event
        if isinstance(event, str)
        else json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    )
    return f"data: {data}\n\n".encode()


@dataclass
class StreamFaults:
    """Where a stream goes wrong; positions count the chunks sent before it."""

    chunk_delay_s: float = 0.0
    drop_after: int | None = None
    malformed_after: int | None = None
    error_after: int | None = None
    stall_after: int | None = None


async def cut(scope: dict) -> None:
    """Close the client's TCP connection now, without finishing the response."""
    cycle = scope.get("nvnb.cycle")
    transport = getattr(cycle, "transport", None)
    if transport is None:  # not under uvicorn's h11 protocol: let the server drop it
        raise ConnectionAbortedError("nvnb fault: connection dropped")
    transport.close()
    for _ in range(200):  # until uvicorn has noticed, so it neither logs nor answers 500
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0.005)


async def stall(gone: asyncio.Event, stopping: threading.Event) -> None:
    """Send nothing until the client leaves or the server stops (at most STALL_LIMIT_S)."""
    waited = 0.0
    while not gone.is_set() and not stopping.is_set() and waited < STALL_LIMIT_S:
        try:
            await asyncio.wait_for(gone.wait(), 0.1)
        except asyncio.TimeoutError:
            waited += 0.1


async def watch_disconnect(receive: Any, gone: asyncio.Event) -> None:
    """Set ``gone`` when the client disconnects (run as a task beside a streamed answer)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


class EventStream:
    """An SSE answer: content chunks, closing chunks, then ``[DONE]``."""

    def __init__(
        self,
        body: list[dict],
        closing: list[dict],
        headers: dict[str, str],
        faults: StreamFaults,
        stopping: threading.Event,
    ) -> None:
        self.body, self.closing = body, closing
        self.headers = {
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            **headers,
        }
        self.faults, self.stopping = faults, stopping

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        gone = asyncio.Event()
        watcher = asyncio.create_task(watch_disconnect(receive, gone))
        try:
            await self._send_all(scope, send, gone)
        finally:
            watcher.cancel()

    async def _send_all(self, scope: dict, send: Any, gone: asyncio.Event) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(k.lower().encode(), v.encode()) for k, v in self.headers.items()],
            }
        )
        f, n = self.faults, len(self.body)

        def at(position: int | None, i: int) -> bool:
            return position is not None and min(position, n) == i

        async def write(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        for i in range(n + 1):
            if at(f.drop_after, i):
                await cut(scope)
                return
            if at(f.stall_after, i):
                await stall(gone, self.stopping)
                await cut(scope)
                return
            if at(f.malformed_after, i):
                await write(MALFORMED_LINE)
            if at(f.error_after, i):
                await write(
                    encode(
                        {
                            "error": {
                                "object": "error",
                                "type": "internal_error",
                                "code": 500,
                                "message": f"Fault injected after {i} chunks (local nvnb server).",
                            }
                        }
                    )
                )
                break
            if i == n:
                for event in self.closing:
                    await write(encode(event))
                await write(encode("[DONE]"))
                break
            if f.chunk_delay_s:
                await asyncio.sleep(f.chunk_delay_s)
            if gone.is_set():
                return
            if self.stopping.is_set():  # the server is shutting down: don't hold it up
                await cut(scope)
                return
            await write(encode(self.body[i]))
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class CutResponse:
    """Send the headers and the first ``keep`` bytes of ``body`` (nothing when 0), then cut."""

    def __init__(self, body: bytes, keep: int, headers: dict[str, str]) -> None:
        self.body, self.keep = body, keep
        self.headers = {
            "Content-Type": "application/json",
            **headers,
            "Content-Length": str(len(body)),
        }

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self.keep > 0:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(k.lower().encode(), v.encode()) for k, v in self.headers.items()],
                }
            )
            await send(
                {"type": "http.response.body", "body": self.body[: self.keep], "more_body": True}
            )
        await cut(scope)
