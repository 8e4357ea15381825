"""What a request *is*, read from its JSON body: model, endpoint, parameters, labels, message
count, image hashes, and a cache key over all of it.

The call log stores these facts; the response cache keys answers on them. Images (data URIs,
base64 ``<img>`` tags in NV-VLM prompts) are replaced by ``sha256:…`` of their bytes, so neither
stores an image, and a key is short. Nothing here sees headers, so no key can reach a digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# data:image/png;base64,AAAA…  (also inside NV-VLM's <img src="data:…"/> text)
_DATA_URI = re.compile(r"data:([\w/+.-]+);base64,([A-Za-z0-9+/=]+)")
_INPUT_FIELDS = ("messages", "input", "passages")


@dataclass(frozen=True)
class RequestDigest:
    """The facts of one request; ``key`` identifies it for the cache."""

    method: str
    endpoint: str  # the URL path, e.g. "/v1/chat/completions" (no host: see ``cache_key``)
    model: str | None = None
    stream: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] | None = None
    message_count: int = 0
    image_hashes: tuple[str, ...] = ()
    normalised: Any = None  # the body with images hashed: what the key is made of

    @property
    def key(self) -> str:
        return cache_key(self)

    def describe(self) -> str:
        """A short line naming the request, e.g. for a replay-mode miss."""
        what = f"{self.method} {self.endpoint}"
        if self.model:
            what += f" model={self.model!r}"
        prompt = last_user_text(self.normalised)
        if prompt:
            short = prompt if len(prompt) <= 60 else prompt[:57] + "…"
            what += f" prompt={short!r}"
        return what


def digest_request(method: str, url: str, body: bytes | None) -> RequestDigest:
    """Read a request's facts from its method, URL and body bytes (any JSON, or none)."""
    parts = urlsplit(url)
    endpoint = parts.path + (f"?{parts.query}" if parts.query else "")
    data: Any = None
    if body:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            # not JSON (an asset upload): identify it by its bytes' hash
            return RequestDigest(
                method, endpoint, normalised={"sha256": hashlib.sha256(body).hexdigest()}
            )
    images: list[str] = []
    # only a body with a data URI has an image to hash (no copy of the rest, once per request)
    normalised = _hash_images(data, images) if body and b"base64," in body else data
    if not isinstance(normalised, dict):
        return RequestDigest(method, endpoint, normalised=normalised, image_hashes=tuple(images))
    inputs = next((normalised[f] for f in _INPUT_FIELDS if isinstance(normalised.get(f), list)), [])
    params = {k: v for k, v in normalised.items() if k not in (*_INPUT_FIELDS, "model", "query")}
    return RequestDigest(
        method=method,
        endpoint=endpoint,
        model=normalised.get("model") if isinstance(normalised.get("model"), str) else None,
        stream=bool(normalised.get("stream")),
        parameters=params,
        labels=_labels(normalised.get("messages")),
        message_count=len(inputs),
        image_hashes=tuple(dict.fromkeys(images)),
        normalised=normalised,
    )


def cache_key(digest: RequestDigest) -> str:
    """sha256 of the method, the URL path and the normalised body (sorted keys).

    The host is left out on purpose: a notebook recorded against the hosted service replays
    against the local server (and the other way round) as long as the request is the same.
    """
    canonical = json.dumps(
        [digest.method, digest.endpoint, digest.normalised],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def last_user_text(body: Any) -> str:
    """The text of the last user turn (or the query / first input), for naming a request."""
    if not isinstance(body, dict):
        return ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(p.get("text", "")) for p in content if isinstance(p, dict)
                ).strip()
    query = body.get("query")
    if isinstance(query, dict):
        return str(query.get("text", ""))
    inputs = body.get("input")
    if isinstance(inputs, list) and inputs:
        return str(inputs[0])
    return str(inputs or "")


def _labels(messages: Any) -> dict[str, Any] | None:
    # payload.py sends SteerLM labels as a trailing {"role": "assistant", "labels": {...}}
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and isinstance(message.get("labels"), dict):
            return dict(message["labels"])
    return None


def _hash_images(value: Any, found: list[str]) -> Any:
    if isinstance(value, str):
        return (
            _DATA_URI.sub(lambda m: _image_hash(m, found), value) if "base64," in value else value
        )
    if isinstance(value, list):
        return [_hash_images(v, found) for v in value]
    if isinstance(value, dict):
        return {k: _hash_images(v, found) for k, v in value.items()}
    return value


def _image_hash(match: re.Match[str], found: list[str]) -> str:
    try:
        raw = base64.b64decode(match.group(2), validate=False)
    except (binascii.Error, ValueError):
        raw = match.group(2).encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    found.append(digest)
    return f"data:{match.group(1)};{digest}"
