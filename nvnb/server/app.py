"""The ASGI application: routes of the hosted service, recording, auth and fault injection."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nvnb.server import (
    completions,
    conversation,
    engines,
    faults,
    models,
    sse,
    tokens,
    validation,
)
from nvnb.server.problems import Problem, render
from nvnb.server.recording import RecordedRequest, redact
from nvnb.server.samples import SAMPLES
from nvnb.server.samples import render as render_sample
from nvnb.server.state import Asset, Job, ServerState

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
            if problem is not None:
                raise problem
            body = _json_body(request.scope.get("nvnb.body", b""))
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
            return render(Problem(500, f"Local nvnb server error: {type(exc).__name__}: {exc}"),
                          request_id, style)

    return endpoint


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
        raise Problem(401, "Authorization header is missing (expected 'Bearer <key>').",
                      headers={"WWW-Authenticate": "Bearer"})
    if given != f"Bearer {key}":
        raise Problem(401, "The API key is not valid for this server.",
                      headers={"WWW-Authenticate": "Bearer"})


async def _stall(request: Request, state: ServerState) -> None:
    waited = 0.0
    while not state.stopping.is_set() and waited < sse.STALL_LIMIT_S:
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.1)
        waited += 0.1


# -- chat -------------------------------------------------------------------------------------


@api
async def chat_completions(call: Call) -> Any:
    body = call.require_body()
    return await _complete(call, validation.resolve(body.get("model"), models.CHAT_TYPES), body)


@api
async def endpoint_chat(call: Call, org: str, name: str) -> Any:
    """``/v1/vlm/{org}/{name}`` and ``/v1/gr/{org}/{name}/chat/completions``."""
    body = call.require_body()
    model = models.by_path(org, name)
    if model is None:
        raise Problem(404, f"Model '{org}/{name}' is unknown to the local nvnb server.")
    return await _complete(call, model, body)


@api
async def pexec(call: Call, function_id: str) -> Any:
    body = call.require_body()
    model = models.functions().get(function_id)
    if model is None:
        raise Problem(404, f"Function '{function_id}': Not found (local nvnb server; see "
                      "GET /v2/nvcf/functions).")
    return await _complete(call, model, body)


async def _complete(call: Call, model: Any, body: dict) -> Any:
    state, plan = call.state, call.plan
    validation.check_chat(body, model, call.request.headers.get("nvcf-input-asset-references"),
                          set(state.assets))
    conv = conversation.read(body["messages"])
    facts = []
    if conv.images:
        from nvnb.server import vision

        facts = await vision.describe(conv.images, {k: a.data for k, a in state.assets.items()})
    answer = engines.respond(model, body, conv, facts)
    long = plan.count("long")
    if long:
        seed = answer.content or "local nvnb server "
        answer.content = (seed * (long // len(seed) + 1))[:long]
    elif not answer.tool_calls:
        stop = body.get("stop")
        answer.content, answer.finish_reason = tokens.limit(
            answer.content, stop=[stop] if isinstance(stop, str) else stop,
            max_tokens=body.get("max_tokens") or body.get("max_completion_tokens"))
    counts = completions.usage(conv, answer)
    if body.get("stream"):
        include = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks, closing = completions.chunks(answer, model.id, counts, include)
        delay = (plan.number("chunk-delay-ms") or 0) + state.options.chunk_delay_ms
        malformed = 0 if plan.has("invalid-json") else plan.count("malformed-sse")
        stream_faults = sse.StreamFaults(delay / 1000, plan.count("drop-after"), malformed,
                                         plan.count("stream-error"), plan.count("stall-after"))
        return sse.EventStream(chunks, closing, {}, stream_faults, state.stopping)
    payload = completions.completion(answer, model.id, counts)
    polls = plan.accepted_polls
    if polls is not None:
        state.jobs[call.request_id] = Job(polls, json.dumps(payload, ensure_ascii=False).encode())
        return Response(b"", 202, {"NVCF-STATUS": "pending-evaluation"})
    return call.reply(payload)


@api
async def pexec_status(call: Call, request_id: str) -> Any:
    job = call.state.jobs.get(request_id)
    headers = {"NVCF-REQID": request_id}
    if job is None:
        raise Problem(404, f"Request '{request_id}' is not pending on the local nvnb server.")
    if job.polls_left > 0:
        job.polls_left -= 1
        return Response(b"", 202, {**headers, "NVCF-STATUS": "pending-evaluation"})
    del call.state.jobs[request_id]
    return Response(job.body, 200, {**headers, "NVCF-STATUS": "fulfilled"},
                    media_type="application/json")


@api
async def nvcf_functions(call: Call) -> Any:
    listed = [{"id": fid, "name": models.function_name(m), "status": "ACTIVE",
               "versionId": fid} for fid, m in models.functions().items()]
    return call.reply({"functions": listed})


@api
async def list_models(call: Call) -> Any:
    data = [{"id": m.id, "object": "model", "created": 735790403,
             "owned_by": m.id.split("/")[0] if "/" in m.id else "nvidia", "root": m.id,
             "parent": None} for m in models.all_models().values()]
    return call.reply({"object": "list", "data": data})


# -- assets -----------------------------------------------------------------------------------


@api
async def create_asset(call: Call) -> Any:
    body = validation.require_object(call.require_body())
    content_type, description = body.get("contentType"), body.get("description")
    if not isinstance(content_type, str) or not content_type.startswith("image/"):
        raise validation.invalid("body -> contentType: an image/* media type is required")
    if not isinstance(description, str):
        raise validation.invalid("body -> description: Field required")
    asset_id = str(uuid.uuid4())
    call.state.assets[asset_id] = Asset(content_type, description)
    upload = f"{str(call.request.base_url).rstrip('/')}/_nvnb/upload/{asset_id}"
    return call.reply({"assetId": asset_id, "uploadUrl": upload, "contentType": content_type,
                       "description": description})


async def upload_asset(request: Request) -> Response:
    """The presigned upload URL: like S3, the signed headers must match the asset's."""
    state: ServerState = request.app.state.nvnb
    asset = state.assets.get(request.path_params["asset_id"])
    if asset is None:
        return Response("NoSuchUpload: unknown asset id", 404, media_type="text/plain")
    mismatched = [name for name, want in (
        ("content-type", asset.content_type),
        ("x-amz-meta-nvcf-asset-description", asset.description),
    ) if request.headers.get(name) != want]
    if mismatched:
        return Response(f"SignatureDoesNotMatch: header(s) {', '.join(mismatched)} differ from "
                        "the asset's", 403, media_type="text/plain")
    asset.data = request.scope.get("nvnb.body", b"")
    return Response(b"", 200)


# -- embeddings and ranking -------------------------------------------------------------------


@api
async def embeddings(call: Call, **_: str) -> Any:
    from nvnb.server import vectors

    body = call.require_body()
    model = validation.resolve(body.get("model"), {"embedding"})
    inputs = body.get("input")
    inputs = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
        raise validation.invalid("body -> input: a string or a non-empty list of strings")
    if body.get("input_type", "query") not in ("query", "passage"):
        raise validation.invalid("body -> input_type: should be 'query' or 'passage'")
    truncate = _truncate(body)
    dims = body.get("dimensions", vectors.DIMENSIONS)
    if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
        raise validation.invalid("body -> dimensions: a positive integer")
    if dims > vectors.DIMENSIONS:
        raise Problem(400, f"dimensions={dims} is more than {model.id} has "
                      f"({vectors.DIMENSIONS} on the local nvnb server).")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise validation.invalid("body -> encoding_format: should be 'float' or 'base64'")
    texts = [_fit(text, truncate, f"input {i}") for i, text in enumerate(inputs)]
    used = sum(tokens.count(text) for text in texts)
    found = await asyncio.to_thread(vectors.embed_many, texts, dims) if _model_installed() \
        else vectors.embed_many(texts, dims)
    data = [{"object": "embedding", "index": i, "embedding":
             vectors.encode_base64(v) if encoding == "base64" else v} for i, v in enumerate(found)]
    return call.reply({"object": "list", "data": data, "model": model.id,
                       "usage": {"prompt_tokens": used, "total_tokens": used}})


@api
async def ranking(call: Call, **_: str) -> Any:
    from nvnb.server import vectors

    body = call.require_body()
    validation.resolve(body.get("model"), {"ranking"})
    query = body.get("query")
    if not isinstance(query, dict) or not isinstance(query.get("text"), str):
        raise validation.invalid("body -> query -> text: Field required")
    passages = body.get("passages")
    if not isinstance(passages, list) or not passages or not all(
            isinstance(p, dict) and isinstance(p.get("text"), str) for p in passages):
        raise validation.invalid("body -> passages: a non-empty list of {\"text\": ...}")
    truncate = _truncate(body)
    texts = [_fit(p["text"], truncate, f"passage {i}") for i, p in enumerate(passages)]
    query_text = _fit(query["text"], truncate, "query")
    if _model_installed():  # a real model takes a while: keep the event loop free
        return call.reply({"rankings": await asyncio.to_thread(vectors.rank, query_text, texts)})
    return call.reply({"rankings": vectors.rank(query_text, texts)})


def _model_installed() -> bool:
    from nvnb.server import minilm

    return minilm.available()


def _truncate(body: dict) -> str:
    truncate = body.get("truncate", "NONE")
    if truncate not in ("NONE", "START", "END"):
        raise validation.invalid("body -> truncate: should be 'NONE', 'START' or 'END'")
    return truncate


def _fit(text: str, truncate: str, what: str) -> str:
    from nvnb.server.vectors import MAX_INPUT_TOKENS

    pieces = tokens.pieces(text)
    if len(pieces) <= MAX_INPUT_TOKENS:
        return text
    if truncate == "NONE":
        raise Problem(400, f"Input length of {what} is {len(pieces)} tokens, more than the "
                      f"maximum of {MAX_INPUT_TOKENS}; send truncate='END' or 'START'.")
    kept = pieces[:MAX_INPUT_TOKENS] if truncate == "END" else pieces[-MAX_INPUT_TOKENS:]
    return "".join(kept)


# -- local helpers ----------------------------------------------------------------------------


async def recorded(request: Request) -> Response:
    state: ServerState = request.app.state.nvnb
    if request.method == "DELETE":
        state.clear()
        return Response(b"", 204)
    return JSONResponse({"requests": [r.to_dict() for r in state.recorder.list()]})


async def sample(request: Request) -> Response:
    name = request.path_params.get("name")
    if name is None:
        return JSONResponse({"samples": sorted(SAMPLES)})
    try:
        data, media_type = render_sample(name)
    except KeyError:
        return await _not_found(request, HTTPException(404))
    return Response(data, media_type=media_type, headers={"Cache-Control": "max-age=3600"})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "server": "local nvnb server"})


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    detail = f"No route {request.method} {request.url.path} on the local nvnb server."
    return render(Problem(status, detail), request.scope.get("nvnb.request_id", ""))


def build(state: ServerState) -> Front:
    """The ASGI app for ``state``."""
    chat_methods = ["POST"]
    routes = [
        Route("/v1/models", list_models),
        Route("/v1/chat/completions", chat_completions, methods=chat_methods),
        Route("/v1/vlm/{org}/{name}", endpoint_chat, methods=chat_methods),
        Route("/v1/gr/{org}/{name}/chat/completions", endpoint_chat, methods=chat_methods),
        Route("/v1/embeddings", embeddings, methods=chat_methods),
        Route("/v1/retrieval/{org}/embeddings", embeddings, methods=chat_methods),
        Route("/v1/ranking", ranking, methods=chat_methods),
        Route("/v1/retrieval/{org}/reranking", ranking, methods=chat_methods),
        Route("/v1/retrieval/{org}/{name}/reranking", ranking, methods=chat_methods),
        Route("/v2/nvcf/pexec/functions/{function_id}", pexec, methods=chat_methods),
        Route("/v2/nvcf/pexec/status/{request_id}", pexec_status),
        Route("/v2/nvcf/functions", nvcf_functions),
        Route("/v2/nvcf/assets", create_asset, methods=chat_methods),
        Route("/_nvnb/upload/{asset_id}", upload_asset, methods=["PUT"]),
        Route("/_nvnb/requests", recorded, methods=["GET", "DELETE"]),
        Route("/_nvnb/samples", sample),
        Route("/_nvnb/samples/{name}", sample),
        Route("/health", health),
        Route("/v1/health/ready", health),
        Route("/v1/health/live", health),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_found})
    app.state.nvnb = state
    return Front(app, state)


class Front:
    """Outermost layer: request id header, body buffering and recording, the raw connection."""

    def __init__(self, app: Starlette, state: ServerState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # uvicorn's send is a bound method of the request cycle, which owns the transport;
        # faults that cut the connection need it.
        scope["nvnb.cycle"] = getattr(send, "__self__", None)
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
        self.state.recorder.add(RecordedRequest(
            scope["method"], path, scope.get("query_string", b"").decode("latin-1"), headers,
            has_auth, None if body is _NOT_JSON else body, len(raw)))
