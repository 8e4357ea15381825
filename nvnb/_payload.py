"""LangChain messages and call options → the JSON body of a chat request.

Everything here is pure: no network, no LangChain model state. :func:`build_request` returns a
:class:`RequestPlan` whose ``payload`` is ready to send, except for images that must first be
uploaded as NVCF assets (``plan.uploads``); the caller uploads them (sync or async) and calls
:meth:`RequestPlan.resolve` with the asset ids.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from nvnb import images
from nvnb.catalog import Model, check_labels
from nvnb.errors import InvalidInputError

QA_ROLES = ("user", "context")
ROLES = ("system", "user", "assistant", "tool", "context")
"""The roles the service takes (``ChatMessage(role=...)`` must use one)."""
_ROLE_HINTS = {"human": "user", "ai": "assistant", "developer": "system"}

# Fields the official client sends on every request (None values are dropped).
_SAMPLING_FIELDS = ("temperature", "max_tokens", "top_p", "seed", "stop")


@dataclass(frozen=True)
class Upload:
    """An image to upload as an NVCF asset before the request is sent."""

    token: str
    data: bytes
    mime: str
    description: str = "image sent by nvnb"


@dataclass
class RequestPlan:
    """A request body, plus the uploads it waits for."""

    payload: dict[str, Any]
    uploads: list[Upload] = field(default_factory=list)

    def resolve(self, asset_ids: Sequence[str]) -> dict[str, Any]:
        """The payload with each upload's placeholder replaced by its asset id."""
        if not self.uploads:
            return self.payload
        text = json.dumps(self.payload)
        for upload, asset_id in zip(self.uploads, asset_ids, strict=True):
            text = text.replace(upload.token, asset_id)
        return json.loads(text)


# --------------------------------------------------------------------------- messages


def _image_block_to_part(block: dict[str, Any]) -> dict[str, Any]:
    """A LangChain standard image block (v1 or legacy ``source_type``) → an image_url part."""
    from langchain_core.messages.utils import convert_to_openai_data_block

    if block.get("file_id") or block.get("source_type") == "id":
        raise InvalidInputError("image blocks referencing a provider file id are not supported")
    part = convert_to_openai_data_block(block)
    if part.get("type") != "image_url":
        raise InvalidInputError(f"unsupported image block: {sorted(block)}")
    return part


def content_to_wire(content: Any) -> str | list[dict[str, Any]] | None:
    """Message content → wire content: a string, or a list of text and image_url parts.

    Lists without images collapse to their joined text (the service's text-only models expect a
    string); blocks that are not content (tool calls, reasoning) are left out.
    """
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list):
        return str(content)
    parts: list[dict[str, Any]] = []
    has_image = False
    for block in content:
        if isinstance(block, str):
            parts.append({"type": "text", "text": block})
        elif isinstance(block, dict):
            kind = block.get("type")
            if kind == "text" and "text" in block:
                parts.append({"type": "text", "text": block["text"]})
            elif kind == "image_url":
                has_image = True
                parts.append(dict(block))
            elif kind == "image":
                has_image = True
                parts.append(_image_block_to_part(block))
    if has_image:
        return parts
    text = "".join(p["text"] for p in parts)
    return text or None


def _tool_calls_to_wire(message: AIMessage) -> list[dict[str, Any]] | None:
    """The message's valid tool calls. Invalid ones (arguments that are not JSON, often a call
    cut at ``max_tokens``) are left out: sent back, servers refuse the whole conversation
    (llama.cpp answers 500 "Failed to parse tool call arguments as JSON")."""
    invalid = {call["id"] for call in message.invalid_tool_calls}
    if message.tool_calls or invalid:
        calls = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
            }
            for call in message.tool_calls
        ]
        raw = message.additional_kwargs.get("tool_calls")
        # Keep the service's own arguments text when the message still carries it unchanged.
        if isinstance(raw, list):
            kept = [c for c in raw if isinstance(c, dict) and c.get("id") not in invalid]
            if [c.get("id") for c in kept] == [c["id"] for c in calls]:
                return kept or None
        return calls or None
    raw = message.additional_kwargs.get("tool_calls")
    return raw if raw else None


def drop_invalid_tool_calls(
    messages: Sequence[BaseMessage], wire: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``wire`` without what only an invalid tool call left behind: an assistant turn with
    nothing else in it, and tool results answering such a call."""
    invalid = {
        call["id"]
        for m in messages
        if isinstance(m, AIMessage)
        for call in m.invalid_tool_calls
        if call.get("id")
    }
    if not invalid:
        return wire
    out = []
    for source, message in zip(messages, wire, strict=True):
        had_invalid = isinstance(source, AIMessage) and bool(source.invalid_tool_calls)
        empty = not message.get("content") and not message.get("tool_calls")
        if had_invalid and empty and not message.get("function_call"):
            continue
        if message["role"] == "tool" and message.get("tool_call_id") in invalid:
            continue
        out.append(message)
    return out


def message_to_wire(message: BaseMessage) -> dict[str, Any]:
    """One LangChain message → one wire message."""
    wire: dict[str, Any]
    if isinstance(message, ChatMessage):
        if message.role not in ROLES:
            hint = _ROLE_HINTS.get(message.role)
            instead = f" (for {message.role!r}, use {hint!r})" if hint else ""
            raise InvalidInputError(
                f"ChatMessage role {message.role!r} is not one the service takes: use one of "
                f"{', '.join(map(repr, ROLES))}{instead}"
            )
        wire = {"role": message.role, "content": content_to_wire(message.content)}
    elif isinstance(message, HumanMessage):
        wire = {"role": "user", "content": content_to_wire(message.content)}
    elif isinstance(message, AIMessage):
        wire = {"role": "assistant", "content": content_to_wire(message.content)}
        calls = _tool_calls_to_wire(message)
        if calls:
            wire["tool_calls"] = calls
            if not wire["content"]:
                wire["content"] = None
        if "function_call" in message.additional_kwargs:
            wire["function_call"] = message.additional_kwargs["function_call"]
    elif isinstance(message, SystemMessage):
        wire = {"role": "system", "content": content_to_wire(message.content)}
    elif isinstance(message, ToolMessage):
        content = content_to_wire(message.content)
        if isinstance(content, list):  # images in tool results: keep the text only
            content = "".join(p.get("text", "") for p in content)
        wire = {"role": "tool", "content": content or "", "tool_call_id": message.tool_call_id}
    elif isinstance(message, FunctionMessage):
        content = content_to_wire(message.content)
        wire = {"role": "function", "content": content, "name": message.name}
    else:
        raise InvalidInputError(f"unsupported message type {type(message).__name__}")
    if "name" in message.additional_kwargs:
        wire["name"] = message.additional_kwargs["name"]
    if wire.get("content") is None and wire["role"] != "assistant":
        raise InvalidInputError(f"a {wire['role']!r} message has no content")
    return wire


def check_roles(messages: Sequence[dict[str, Any]], model: Model | None, model_id: str) -> None:
    """QA models take only user and context turns; context turns elsewhere get a warning."""
    roles = [m["role"] for m in messages]
    if model is not None and model.is_qa:
        bad = sorted({r for r in roles if r not in QA_ROLES})
        if bad:
            raise InvalidInputError(
                f"model {model_id!r} answers questions from context: it takes only 'user' and "
                f"'context' messages, not {', '.join(map(repr, bad))}"
            )
    elif "context" in roles:
        warnings.warn(
            f"'context' messages are meant for QA models; the catalog does not mark "
            f"{model_id!r} as one. Sending them anyway.",
            UserWarning,
            stacklevel=4,
        )


# --------------------------------------------------------------------------- images


@dataclass
class _ImageContext:
    upload: bool  # oversized images: upload as assets (True) or shrink (False)
    flatten: bool  # nv-vlm: {"type": "image_url", "image_url": "<url>"}
    uploads: list[Upload] = field(default_factory=list)

    def handle(self, source: str, where: str) -> tuple[str, bool]:
        """(source to send, whether it is an asset reference)."""
        oversized = images.check_source(source, where=where)
        if oversized is None:
            return source, images.is_asset_uri(source)
        if not self.upload:
            return images.shrink(oversized.data, what=where), False
        data, mime = images.for_upload(oversized.data, what=where)
        token = f"nvnb-asset-{uuid.uuid4().hex}"
        self.uploads.append(Upload(token=token, data=data, mime=mime))
        return f"data:{mime};asset_id,{token}", True


def _process_images(wire: dict[str, Any], ctx: _ImageContext, index: int) -> None:
    content = wire.get("content")
    where = f"image in message {index}"
    if isinstance(content, str) and "<img" in content:

        def replace(match: Any) -> str:
            src, _ = ctx.handle(match.group("src"), where)
            return match.group(0).replace(match.group("src"), src)

        wire["content"] = images.IMG_TAG.sub(replace, content)
    elif isinstance(content, list):
        out: list[dict[str, Any]] = []
        for part in content:
            if part.get("type") != "image_url":
                if part.get("type") == "text" and "<img" in part.get("text", ""):
                    sub = {"content": part["text"]}
                    _process_images(sub, ctx, index)
                    part = {**part, "text": sub["content"]}
                out.append(part)
                continue
            image_url = part.get("image_url")
            if isinstance(image_url, str):
                image_url = {"url": image_url}
            if not isinstance(image_url, dict) or not isinstance(image_url.get("url"), str):
                raise InvalidInputError(f"{where}: image_url needs a 'url' string")
            images.validate_detail(image_url.get("detail"))
            source, is_asset = ctx.handle(image_url["url"], where)
            if is_asset:
                # The service reads asset references from <img> tags, not image_url parts.
                out.append({"type": "text", "text": f'<img src="{source}" />'})
            elif ctx.flatten:
                out.append({**part, "image_url": source})
            else:
                out.append({**part, "image_url": {**image_url, "url": source}})
        wire["content"] = out


# --------------------------------------------------------------------------- thinking


def _deep_merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(out.get(key), dict) and isinstance(value, Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _apply_thinking(
    payload: dict[str, Any],
    messages: list[dict[str, Any]],
    enabled: bool,
    model: Model | None,
    model_id: str,
) -> dict[str, Any]:
    spec = model.thinking if model is not None else None
    if not spec:
        from nvnb._notices import notify_once

        notify_once(
            f"thinking:{model_id}",
            f"the catalog does not say how {model_id!r} switches reasoning on or off; "
            "thinking_mode is ignored.",
        )
        return payload
    params = spec.get("enable_params" if enabled else "disable_params")
    if params:
        return _deep_merge(payload, params)
    prefix = spec.get("enable_prefix" if enabled else "disable_prefix")
    if prefix:
        for message in messages:
            if message["role"] == "system":
                existing = message.get("content") or ""
                message["content"] = f"{existing}\n{prefix}" if existing else prefix
                break
        else:
            messages.insert(0, {"role": "system", "content": prefix})
    return payload


# --------------------------------------------------------------------------- the request


def build_request(
    messages: Sequence[BaseMessage],
    *,
    model_id: str,
    model: Model | None,
    defaults: Mapping[str, Any],
    options: Mapping[str, Any],
    stream: bool,
    stream_options: Mapping[str, Any] | None = None,
    labels: Mapping[str, Any] | None = None,
    upload_images: bool = False,
    force_labels: bool = False,
) -> RequestPlan:
    """The request body for ``messages``.

    ``defaults`` are the model's own settings (temperature, max_tokens, … and model_kwargs),
    ``options`` the per-call ones (``stop``, ``bind(...)`` and ``invoke(...)`` keywords);
    ``None`` values are dropped, as the official client does. ``labels`` (already merged from
    the model and the call) are validated and sent as a trailing assistant message, but only to
    a model the catalog lists as taking them, unless ``force_labels`` (or the call option
    ``force_labels=True``) says to send them anyway.
    """
    options = dict(options)
    force_labels = bool(options.pop("force_labels", force_labels))
    thinking = options.pop("thinking_mode", None)
    call_labels = options.pop("labels", None)
    if call_labels is not None:
        labels = {**(labels or {}), **call_labels} if labels else call_labels

    wire = drop_invalid_tool_calls(messages, [message_to_wire(m) for m in messages])
    check_roles(wire, model, model_id)
    ctx = _ImageContext(upload=upload_images, flatten=model is not None and model.type == "nv-vlm")
    for i, message in enumerate(wire):
        _process_images(message, ctx, i)

    if labels:
        checked = check_labels(labels, model)
        if force_labels or (model is not None and (model.labels or model.type == "steerlm")):
            wire.append({"role": "assistant", "labels": checked})
        else:
            # Other servers answer a labels-only assistant turn with a 400 about a message the
            # user never wrote (llama.cpp: "must contain either 'content' or 'tool_calls'").
            from nvnb._notices import notify_once

            notify_once(
                f"labels-dropped:{model_id}",
                f"labels are not sent to {model_id!r}: the catalog does not list it as a "
                "SteerLM model that takes them. Pass force_labels=True to send them anyway.",
            )

    payload: dict[str, Any] = {"model": model_id}
    payload.update({k: defaults.get(k) for k in _SAMPLING_FIELDS})
    payload.update({k: v for k, v in defaults.items() if k not in _SAMPLING_FIELDS})
    payload.update(options)
    payload = {k: v for k, v in payload.items() if v is not None}
    if thinking is not None:
        payload = _apply_thinking(payload, wire, bool(thinking), model, model_id)
        payload = {k: v for k, v in payload.items() if v is not None}
    payload["messages"] = wire
    if stream or model is None or model.streaming:
        payload["stream"] = stream  # kosmos-2 (streaming: false) refuses the field itself
    # The vlm and QA endpoints reject stream_options, and it means nothing without a stream.
    if stream and not (model is not None and model.type in ("nv-vlm", "qa")):
        if "stream_options" not in payload and stream_options is not None:
            payload["stream_options"] = dict(stream_options)
    else:
        payload.pop("stream_options", None)
    return RequestPlan(payload=payload, uploads=ctx.uploads)
