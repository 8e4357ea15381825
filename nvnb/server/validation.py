"""Checks a request body the way the hosted service does, and nowhere else.

The service rejects: unknown fields on strict models (kosmos-2's ``stream``), ``stream_options``
on nv-vlm and QA models, labels outside 0–9 or unknown to the model, inline images over its
size limit (413), asset references not announced in ``NVCF-INPUT-ASSET-REFERENCES``, unknown
models (404) and malformed messages or parameters (422).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from nvnb.server import models
from nvnb.server.conversation import IMG_TAG, image_ref
from nvnb.server.problems import Problem

if TYPE_CHECKING:
    from nvnb.catalog import Model

MAX_CHOICES = 16  # n: choices per request
INLINE_IMAGE_LIMIT = 180_000  # base64 characters of one inline image
ROLES = ("system", "user", "assistant", "tool", "context")
QA_ROLES = ("user", "context")
IMAGE_FORMATS = ("png", "jpeg", "jpg", "webp", "gif")
_DATA_URI = re.compile(r"data:image/([\w.+-]+);base64,", re.IGNORECASE)
_ASSET_URI = re.compile(r"data:image/([\w.+-]+);asset_id,([\w-]+)", re.IGNORECASE)
VALIDATION_TYPE = "urn:kaizen:problem-details:validation-failed"


def invalid(*details: str) -> Problem:
    return Problem(422, "; ".join(details), title="Validation Failed", problem_type=VALIDATION_TYPE)


def require_object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise invalid("body: Input should be a valid dictionary or object")
    return body


def resolve(name: Any, wanted_types: frozenset[str] | set[str]) -> Model:
    """The model record named in a request, or 422 (missing) / 404 (unknown or wrong kind)."""
    if not isinstance(name, str) or not name:
        raise invalid("body -> model: Field required")
    model = models.get(name)
    if model is None:
        raise Problem(
            404,
            f"Model '{name}' is unknown to the local nvnb server (ids are matched "
            "exactly, as by the hosted service; see GET /v1/models).",
        )
    if model.type not in wanted_types:
        raise Problem(
            400, f"Model '{name}' is a {model.type} model; it is not served on this route."
        )
    return model


def check_chat(body: dict, model: Model, asset_header: str | None, assets: set[str]) -> None:
    """Raise :class:`Problem` where the hosted service would reject this chat body."""
    if model.accepts is not None:
        extra = [key for key in body if key not in model.accepts]
        if extra:
            raise invalid(*(f"body -> {key}: extra inputs are not permitted" for key in extra))
    if body.get("stream") and not model.streaming:
        raise invalid("body -> stream: this model does not stream")
    if "stream_options" in body and model.type in ("nv-vlm", "qa"):
        raise invalid("body -> stream_options: extra inputs are not permitted")
    _check_params(body)
    _check_tools(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("body -> messages: a non-empty list of messages is required")
    announced = {a.strip() for a in (asset_header or "").split(",") if a.strip()}
    for i, message in enumerate(messages):
        _check_message(i, message, model)
        for ref in _image_refs(message.get("content")):
            _check_image(i, ref, announced, assets)


def _check_params(body: dict) -> None:
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise invalid(f"body -> {key}: Input should be an integer greater than 0")
    for key in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
        value = body.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise invalid(f"body -> {key}: Input should be a valid number")
    count = body.get("n")
    if count is not None and (
        not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_CHOICES
    ):
        raise invalid(f"body -> n: Input should be an integer from 1 to {MAX_CHOICES}")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise invalid("body -> stream: Input should be a valid boolean")
    stop = body.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise invalid("body -> stop: Input should be a string or a list of strings")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise invalid("body -> stream_options: Input should be a valid dictionary")
    fmt = body.get("response_format")
    if fmt is not None and (
        not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema")
    ):
        raise invalid(
            "body -> response_format -> type: should be 'text', 'json_object' or 'json_schema'"
        )


def _check_tools(body: dict) -> None:
    tools = body.get("tools")
    names: list[str] = []
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid("body -> tools: Input should be a valid list")
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise invalid(f"body -> tools -> {i} -> function -> name: Field required")
            names.append(function["name"])
    choice = body.get("tool_choice")
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise invalid(
                "body -> tool_choice: should be 'none', 'auto', 'required' or a named function"
            )
        return
    name = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    if not isinstance(name, str):
        raise invalid("body -> tool_choice -> function -> name: Field required")
    if name not in names:
        raise invalid(f"body -> tool_choice: function '{name}' is not among the tools")


def _check_message(i: int, message: Any, model: Model) -> None:
    where = f"body -> messages -> {i}"
    if not isinstance(message, dict):
        raise invalid(f"{where}: Input should be a valid dictionary")
    role = message.get("role")
    if role not in ROLES:
        raise invalid(f"{where} -> role: Input should be one of {', '.join(ROLES)}")
    labels = message.get("labels")
    if model.type == "qa" and role not in QA_ROLES:
        raise invalid(f"{where} -> role: this model accepts only 'user' and 'context' turns")
    if labels is not None:
        _check_labels(f"{where} -> labels", labels, model)
    content = message.get("content")
    if content is None:
        if role == "assistant" and (message.get("tool_calls") or labels is not None):
            return
        raise invalid(f"{where} -> content: Field required")
    if not isinstance(content, (str, list)):
        raise invalid(f"{where} -> content: Input should be a string or a list of parts")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise invalid(f"{where} -> tool_call_id: Field required")


def _check_labels(where: str, labels: Any, model: Model) -> None:
    if not isinstance(labels, dict):
        raise invalid(f"{where}: Input should be a valid dictionary")
    allowed = models.allowed_labels(model)
    for name, value in labels.items():
        if name not in allowed:
            raise invalid(
                f"{where} -> {name}: unknown label; this model takes {', '.join(allowed)}"
            )
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 9:
            raise invalid(f"{where} -> {name}: Input should be an integer from 0 to 9")


def _image_refs(content: Any) -> list[str]:
    refs: list[str] = []
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                ref = image_ref(part)
                if ref is not None:
                    refs.append(ref)
                elif isinstance(part.get("text"), str):
                    texts.append(part["text"])
    for text in texts:
        refs.extend(IMG_TAG.findall(text))
    return refs


def _check_image(i: int, ref: str, announced: set[str], assets: set[str]) -> None:
    where = f"body -> messages -> {i} -> content"
    asset = _ASSET_URI.match(ref)
    if asset:
        asset_id = asset.group(2)
        if asset_id not in announced:
            raise invalid(
                f"{where}: asset {asset_id} is not listed in the NVCF-INPUT-ASSET-REFERENCES header"
            )
        if asset_id not in assets:
            raise invalid(f"{where}: asset {asset_id} was not found (upload it first)")
        return
    if not ref.startswith("data:"):
        if not ref.startswith(("http://", "https://")):
            raise invalid(f"{where}: image must be an http(s) URL or a data URI")
        return
    match = _DATA_URI.match(ref)
    if not match or match.group(1).lower() not in IMAGE_FORMATS:
        raise invalid(f"{where}: image data URIs must be data:image/<png|jpeg|webp|gif>;base64,…")
    size = len(ref) - match.end()
    if size > INLINE_IMAGE_LIMIT:
        raise Problem(
            413,
            f"Inline image is {size} base64 characters; the limit is "
            f"{INLINE_IMAGE_LIMIT}. To upload larger images, use the assets API "
            "(POST /v2/nvcf/assets).",
            title="Payload Too Large",
        )
