"""The ASGI application: the hosted service's routes on one Starlette app, behind :class:`Front`."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nvnb.server import completions, conversation, engines, models, sse, tokens, validation
from nvnb.server.front import Call, Front, api
from nvnb.server.problems import Problem, render
from nvnb.server.retrieval import embeddings, ranking
from nvnb.server.samples import SAMPLES
from nvnb.server.samples import render as render_sample
from nvnb.server.state import Asset, Job, ServerState

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
        raise Problem(
            404,
            f"Function '{function_id}': Not found (local nvnb server; see GET /v2/nvcf/functions).",
        )
    return await _complete(call, model, body)


async def _complete(call: Call, model: Any, body: dict) -> Any:
    state, plan = call.state, call.plan
    validation.check_chat(
        body, model, call.request.headers.get("nvcf-input-asset-references"), set(state.assets)
    )
    conv = conversation.read(body["messages"])
    facts = []
    if conv.images:
        from nvnb.server import vision

        facts = await vision.describe(conv.images, {k: a.data for k, a in state.assets.items()})
    count = body.get("n") or 1
    answer = engines.respond(model, body, conv, facts)
    answers = [_shaped(engines.choice(answer, i, count), body, plan) for i in range(count)]
    counts = completions.usage(conv, answers)
    if body.get("stream"):
        include = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks, closing = completions.chunks(answers, model.id, counts, include)
        delay = (plan.number("chunk-delay-ms") or 0) + state.options.chunk_delay_ms
        malformed = 0 if plan.has("invalid-json") else plan.count("malformed-sse")
        stream_faults = sse.StreamFaults(
            delay / 1000,
            plan.count("drop-after"),
            malformed,
            plan.count("stream-error"),
            plan.count("stall-after"),
        )
        return sse.EventStream(chunks, closing, {}, stream_faults, state.stopping)
    payload = completions.completion(answers, model.id, counts)
    polls = plan.accepted_polls
    if polls is not None:
        state.jobs[call.request_id] = Job(polls, json.dumps(payload, ensure_ascii=False).encode())
        return Response(b"", 202, {"NVCF-STATUS": "pending-evaluation"})
    return call.reply(payload)


def _shaped(answer: engines.Answer, body: dict, plan: Any) -> engines.Answer:
    """The answer after the request's faults (``long``, ``refusal``), stop and max_tokens."""
    if plan.has("refusal"):
        answer.content, answer.tool_calls, answer.finish_reason = "", [], "stop"
        answer.refusal = engines.REFUSAL
        return answer
    long = plan.count("long")
    if long:
        seed = answer.content or "local nvnb server "
        answer.content = (seed * (long // len(seed) + 1))[:long]
    elif not answer.tool_calls:
        stop = body.get("stop")
        answer.content, answer.finish_reason = tokens.limit(
            answer.content,
            stop=[stop] if isinstance(stop, str) else stop,
            max_tokens=body.get("max_tokens") or body.get("max_completion_tokens"),
        )
    return answer


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
    return Response(
        job.body, 200, {**headers, "NVCF-STATUS": "fulfilled"}, media_type="application/json"
    )


@api
async def nvcf_functions(call: Call) -> Any:
    listed = [
        {"id": fid, "name": models.function_name(m), "status": "ACTIVE", "versionId": fid}
        for fid, m in models.functions().items()
    ]
    return call.reply({"functions": listed})


@api
async def list_models(call: Call) -> Any:
    data = [
        {
            "id": m.id,
            "object": "model",
            "created": 735790403,
            "owned_by": m.id.split("/")[0] if "/" in m.id else "nvidia",
            "root": m.id,
            "parent": None,
        }
        for m in models.all_models().values()
    ]
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
    return call.reply(
        {
            "assetId": asset_id,
            "uploadUrl": upload,
            "contentType": content_type,
            "description": description,
        }
    )


async def upload_asset(request: Request) -> Response:
    """The presigned upload URL: like S3, the signed headers must match the asset's."""
    state: ServerState = request.app.state.nvnb
    asset = state.assets.get(request.path_params["asset_id"])
    if asset is None:
        return Response("NoSuchUpload: unknown asset id", 404, media_type="text/plain")
    mismatched = [
        name
        for name, want in (
            ("content-type", asset.content_type),
            ("x-amz-meta-nvcf-asset-description", asset.description),
        )
        if request.headers.get(name) != want
    ]
    if mismatched:
        return Response(
            f"SignatureDoesNotMatch: header(s) {', '.join(mismatched)} differ from the asset's",
            403,
            media_type="text/plain",
        )
    asset.data = request.scope.get("nvnb.body", b"")
    return Response(b"", 200)


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
