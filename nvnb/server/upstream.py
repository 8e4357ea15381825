"""``nvnb serve --upstream URL``: a real server's answers, with faults applied on the way back.

Every API request is forwarded to the upstream server (a self-hosted NIM, llama.cpp's
llama-server, vLLM, or NVIDIA's hosted service) and its answer is passed back, except where the
request's ``X-NVNB-Fault`` header (or ``--fault``) says otherwise: ``status=429;retry-after=2``
and 503 bursts (``times=N``) answer before anything is forwarded; ``drop-after=N``,
``malformed-sse=N``, ``stream-error=N``, ``stall-after=N`` and ``chunk-delay-ms=N`` strike a
stream between the upstream's own chunks; ``invalid-json`` and ``latency-ms`` work as on the
local server. ``accepted`` and ``long`` belong to the local engines and are refused here.
Requests are recorded (``/_nvnb/requests``, ``LocalServer.requests``) as on the local server.

The upstream key: ``--upstream-key-env NAME`` names the environment variable holding it; without
it, ``NVIDIA_API_KEY`` is used for NVIDIA's hosted service only (never sent to another server).
The key is held in memory only: it is in no log line, recording, repr or error body. Without an
upstream key the client's own ``Authorization`` header is passed on.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from nvnb.server import sse
from nvnb.server.app import health, recorded
from nvnb.server.front import Call, Front, api
from nvnb.server.problems import Problem
from nvnb.server.state import ServerState

LOCAL_ONLY_FAULTS = ("accepted", "long")
_PASSED_HEADERS = ("content-type", "accept", "authorization", "nvcf-input-asset-references")
_RETURNED_HEADERS = ("retry-after", "x-request-id", "nvcf-reqid", "nvcf-status")
_TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=60.0, pool=10.0)


def upstream_key(upstream: str, key_env: str | None) -> str | None:
    """The key to send upstream: from ``key_env`` if named, else ``NVIDIA_API_KEY`` for
    NVIDIA's hosted service only."""
    if key_env:
        return os.environ.get(key_env) or None
    from nvnb._hosted import is_hosted_url

    if is_hosted_url(upstream):
        return os.environ.get("NVIDIA_API_KEY") or None
    return None


def target_url(upstream: str, path: str, query: str) -> str:
    """Where a request for ``path`` goes: ``/v1/x`` under an upstream ``…/v1`` base becomes
    ``{upstream}/x``; any other path keeps its place under the upstream's origin."""
    base = upstream.rstrip("/")
    parts = urlsplit(base)
    prefix = parts.path.rstrip("/")
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        url = base + path[len(prefix) :]
    elif prefix.endswith("/v1") and path.startswith("/v1/"):
        url = base + path[len("/v1") :]
    else:
        url = f"{parts.scheme}://{parts.netloc}{path}"
    return f"{url}?{query}" if query else url


@api
async def forward(call: Call, path: str = "") -> Any:
    plan, state, request = call.plan, call.state, call.request
    for name in LOCAL_ONLY_FAULTS:
        if plan.has(name):
            raise Problem(400, f"X-NVNB-Fault: {name!r} needs the local engines, not --upstream")
    options = state.options
    headers = {k: v for k, v in request.headers.items() if k.lower() in _PASSED_HEADERS}
    key = options.upstream_key
    if key:
        headers["authorization"] = f"Bearer {key}"
    url = target_url(options.upstream or "", request.url.path, request.url.query)
    client = httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=False)
    outgoing = client.build_request(
        request.method, url, headers=headers, content=request.scope.get("nvnb.body", b"")
    )
    try:
        answer = await client.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        where = urlsplit(url).netloc
        detail = f"The upstream server {where} did not answer: {type(exc).__name__}."
        raise Problem(502, detail) from None
    kept = {k: v for k, v in answer.headers.items() if k.lower() in _RETURNED_HEADERS}
    streaming = answer.headers.get("content-type", "").startswith("text/event-stream")
    if answer.status_code >= 400 or not streaming:
        try:
            data = await answer.aread()
        finally:
            await answer.aclose()
            await client.aclose()
        if answer.status_code < 400:
            keep = plan.count("drop-after")
            if keep:
                return sse.CutResponse(data, keep, kept)
            if plan.has("invalid-json"):
                data = data[: len(data) // 2]
        media = answer.headers.get("content-type", "application/json")
        return Response(data, answer.status_code, kept, media_type=media)
    delay = plan.number("chunk-delay-ms") or 0
    malformed = 0 if plan.has("invalid-json") else plan.count("malformed-sse")
    faults = sse.StreamFaults(
        (delay + options.chunk_delay_ms) / 1000,
        plan.count("drop-after"),
        malformed,
        plan.count("stream-error"),
        plan.count("stall-after"),
    )
    return RelayedStream(client, answer, kept, faults, state.stopping)


class RelayedStream:
    """The upstream's SSE events passed on one by one; faults strike between them, counted in
    content events (``[DONE]`` is not one), as on the local server."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        answer: httpx.Response,
        headers: dict[str, str],
        faults: sse.StreamFaults,
        stopping: threading.Event,
    ) -> None:
        self.client, self.answer, self.faults, self.stopping = client, answer, faults, stopping
        self.headers = {
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            **headers,
        }

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        gone = asyncio.Event()
        watcher = asyncio.create_task(sse.watch_disconnect(receive, gone))
        try:
            await self._relay(scope, send, gone)
        finally:
            watcher.cancel()
            await self.answer.aclose()
            await self.client.aclose()

    async def _events(self) -> Any:
        """Raw SSE events (their lines, without the blank line ending them)."""
        lines: list[str] = []
        async for line in self.answer.aiter_lines():
            if line:
                lines.append(line)
            elif lines:
                yield lines
                lines = []
        if lines:
            yield lines

    async def _relay(self, scope: dict, send: Any, gone: asyncio.Event) -> None:
        start = [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": start})

        async def write(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        f, sent = self.faults, 0
        try:
            async for lines in self._events():
                done = any(line.strip() == "data: [DONE]" for line in lines)
                outcome = await self._strike(scope, write, gone, sent, final=done)
                if outcome == "cut":
                    return
                if outcome == "end":
                    break
                if f.chunk_delay_s and not done:
                    await asyncio.sleep(f.chunk_delay_s)
                if gone.is_set():
                    return
                if self.stopping.is_set():
                    await sse.cut(scope)
                    return
                await write(("\n".join(lines) + "\n\n").encode())
                if not done and any(line.startswith("data:") for line in lines):
                    sent += 1
        except httpx.HTTPError:  # the upstream went away mid-stream: so does this stream
            await sse.cut(scope)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _strike(
        self, scope: dict, write: Any, gone: asyncio.Event, i: int, final: bool
    ) -> str | None:
        """Apply the faults due before content event ``i`` (all remaining ones at the end):
        ``"cut"`` (the connection is gone), ``"end"`` (finish the body now) or None."""
        f = self.faults

        def due(position: int | None) -> bool:
            return position is not None and (position == i or (final and position > i))

        if due(f.drop_after):
            await sse.cut(scope)
            return "cut"
        if due(f.stall_after):
            await sse.stall(gone, self.stopping)
            await sse.cut(scope)
            return "cut"
        if due(f.malformed_after):
            await write(sse.MALFORMED_LINE)
        if due(f.error_after):
            error = {
                "error": {
                    "object": "error",
                    "type": "internal_error",
                    "code": 500,
                    "message": f"Fault injected after {i} chunks (nvnb serve --upstream).",
                }
            }
            await write(sse.encode(error))
            return "end"
        return None


def build(state: ServerState) -> Front:
    """The ASGI app forwarding to ``state.options.upstream``."""
    methods = ["GET", "POST", "PUT", "DELETE"]
    routes = [
        Route("/_nvnb/requests", recorded, methods=["GET", "DELETE"]),
        Route("/health", health),
        Route("/{path:path}", forward, methods=methods),
    ]
    app = Starlette(routes=routes)
    app.state.nvnb = state
    return Front(app, state)
