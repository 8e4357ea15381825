"""The service's front door: request ids, body buffering and recording, faults, auth, errors.

:class:`Front` wraps the whole ASGI app; :func:`api` wraps each API route handler, which then
receives a :class:`Call` (the parsed body and the faults in force) instead of a bare request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from nvnb.server import faults, sse, validation
from nvnb.server.problems import Problem, render
from nvnb.server.recording import RecordedRequest, redact
from nvnb.server.state import ServerState

log = logging.getLogger("nvnb.server")
_UNRECORDED = ("/_nvnb/requests", "/_nvnb/samples", "/health")
_AUTH_FREE = ("/v1/health",)


@dataclass
class Call:
    """One API request in flight: its body, its faults and how to answer it."""

    request: Request
    state: ServerState
    plan: faults.FaultPlan
    body: Any
    request_id: str

    def require_body(self) -> dict:
        if self.body is _NOT_JSON:
            raise Problem(400, "The request body is not valid JSON.")
        return validation.require_object(self.body)

    def reply(self, payload: Any, status: int = 200) -> Any:
        data = json.dumps(payload, ensure_ascii=False).encode()
        keep = self.plan.count("drop-after")
        if keep:
            return sse.CutResponse(data, keep, {})
        if self.plan.has("invalid-json"):
            return Response(data[: len(data) // 2], 200, media_type="application/json")
        return Response(data, status, media_type="application/json")


_NOT_JSON = object()
Handler = Callable[..., Awaitable[Any]]


def api(handler: Handler) -> Callable[[Request], Awaitable[Any]]:
    """Wrap a handler with the service's front door: faults, latency, auth, error bodies."""

    async def endpoint(request: Request) -> Any:
        state: ServerState = request.app.state.nvnb
        request_id = request.scope["nvnb.request_id"]
        style = "nvcf"
        try:
            plan = faults.plan(state.faults, request.headers.get("x-nvnb-fault"), state.counters)
            style = plan.style
            delay = (plan.number("latency-ms") or 0) + state.options.latency_ms
            if delay > 0:
                await asyncio.sleep(delay / 1000)
            _check_auth(request, state)
            problem = plan.status
            body = _json_body(request.scope.get("nvnb.body", b""))
            if problem is not None and problem.status == 410:
                problem.detail = _end_of_life(body, request.path_params, plan.end_of_life)
            if problem is not None:
                raise problem
            streaming = isinstance(body, dict) and body.get("stream") is True
            if not streaming and plan.count("drop-after") == 0:
                return sse.CutResponse(b"", 0, {})
            if not streaming and plan.has("stall-after"):
                await _stall(request, state)
                return sse.CutResponse(b"", 0, {})
            call = Call(request, state, plan, body, request_id)
            return await handler(call, **request.path_params)
        except Problem as problem:
            return render(problem, request_id, style)
        except Exception as exc:  # a server bug: answer 500 and say so, don't hide it
            log.exception("local nvnb server failed on %s %s", request.method, request.url.path)
            return render(
                Problem(500, f"Local nvnb server error: {type(exc).__name__}: {exc}"),
                request_id,
                style,
            )

    return endpoint


def _end_of_life(body: Any, path: dict[str, Any], eol: str) -> str:
    """The hosted catalog's 410 detail for the model a request names."""
    model = body.get("model") if isinstance(body, dict) else None
    if not isinstance(model, str) and "org" in path:
        model = f"{path['org']}/{path['name']}"
    return (
        f"The model '{model or 'unknown'}' has reached its end of life on {eol} "
        "and is no longer available."
    )


def _json_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _NOT_JSON


def _check_auth(request: Request, state: ServerState) -> None:
    key = state.options.auth_key
    if key is None or request.url.path.startswith(_AUTH_FREE):
        return
    given = request.headers.get("authorization")
    if given is None:
        raise Problem(
            401,
            "Authorization header is missing (expected 'Bearer <key>').",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if given != f"Bearer {key}":
        raise Problem(
            401, "The API key is not valid for this server.", headers={"WWW-Authenticate": "Bearer"}
        )


async def _stall(request: Request, state: ServerState) -> None:
    waited = 0.0
    while not state.stopping.is_set() and waited < sse.STALL_LIMIT_S:
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.1)
        waited += 0.1


class Front:
    """Outermost layer: request id header, body buffering and recording, the raw connection."""

    def __init__(self, app: Any, state: ServerState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # uvicorn's send is a bound method of the request cycle, which owns the transport;
        # faults that cut the connection need it.
        scope["nvnb.cycle"] = getattr(send, "__self__", None)
        in_flight, left = self.state.in_flight, False

        def answering() -> None:  # the recording and fault counts are final from here on
            nonlocal left
            if not left:
                left = True
                in_flight.leave()

        in_flight.enter()
        try:
            await self._handle(scope, receive, send, answering)
        finally:
            answering()

    async def _handle(self, scope: dict, receive: Any, send: Any, answering: Any) -> None:
        request_id = str(uuid.uuid4())
        scope["nvnb.request_id"] = request_id
        parts, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(parts)
        scope["nvnb.body"] = raw
        self._record(scope, raw)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                answering()
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"nvcf-reqid" for k, _ in headers):
                    headers.append((b"nvcf-reqid", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, replay, send_with_id)

    def _record(self, scope: dict, raw: bytes) -> None:
        path = scope["path"]
        if path.startswith(_UNRECORDED) or not self.state.recorder.enabled:
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        headers, has_auth = redact(headers)
        body = _json_body(raw)
        self.state.recorder.add(
            RecordedRequest(
                scope["method"],
                path,
                scope.get("query_string", b"").decode("latin-1"),
                headers,
                has_auth,
                None if body is _NOT_JSON else body,
                len(raw),
            )
        )
