"""Every error nvnb raises, in one hierarchy.

::

    NVNBError                    base: .status .title .detail .request_id .model .hint .url
      ConfigurationError         bad base URL, no key with NVNB_LOCAL=off, malformed settings
      InvalidInputError          refused before sending: labels, roles, empty prompt (ValueError)
        ImageError               not an image, truncated, a bomb, too large, unreadable path
      UnknownModelError          a model name nobody knows; .suggestions (also ValueError)
      APIError                   the service answered with an error status
        AuthenticationError      401/403: missing, wrong or unauthorised key
        NotFoundError            404: unknown model or path
        InvalidRequestError      400/413/422: the service rejected the body; .detail names the field
        RateLimitError           429: too many requests; .retry_after
        ServerError              5xx: the service failed
        StreamError              an ``{"error": …}`` object inside a stream; .partial_text
      TransportError             the conversation with the server broke down
        ConnectError             could not connect; names the URL
        RequestTimeout           connect/read timeout, 202 polling deadline; .partial_text
        StreamInterrupted        the stream broke off or turned to garbage; .partial_text

``str(error)`` is one readable line (with the request id when known), then a hint line.
No error ever carries the API key: HTTP errors are built from response bodies and the URL only.

``error_from_response`` is the one place an HTTP error response becomes an exception.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectError",
    "ImageError",
    "InvalidInputError",
    "InvalidRequestError",
    "NVNBError",
    "NotFoundError",
    "RateLimitError",
    "RequestTimeout",
    "ServerError",
    "StreamError",
    "StreamInterrupted",
    "TransportError",
    "UnknownModelError",
    "error_from_response",
]


class NVNBError(Exception):
    """Base class of every nvnb error."""

    default_hint: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        detail: str | None = None,
        request_id: str | None = None,
        model: str | None = None,
        hint: str | None = None,
        url: str | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail if detail is not None else message
        self.request_id = request_id
        self.model = model
        self.hint = hint if hint is not None else self.default_hint
        self.url = url
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The first line: status and title when known, then the detail."""
        head = " ".join(str(p) for p in (self.status, self.title) if p not in (None, ""))
        detail = self.detail or ""
        if head and detail and detail != self.title:
            line = f"{head}: {detail}"
        else:
            line = head or detail or type(self).__name__
        extras = []
        if self.model and repr(self.model) not in detail:
            extras.append(f"model {self.model}")
        if self.request_id:
            extras.append(f"request id: {self.request_id}")
        if extras:
            line += f" ({', '.join(extras)})"
        return line

    def __str__(self) -> str:
        return self.message + (f"\nHint: {self.hint}" if self.hint else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the attributes (Exception's default reduce would pass only args).
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[NVNBError], state: dict[str, Any]) -> NVNBError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err.message)
    return err


# --- configuration and input ---------------------------------------------------------------


class ConfigurationError(NVNBError):
    """The settings cannot work: a bad base URL, no key where one is required, a bad option."""


class InvalidInputError(NVNBError, ValueError):
    """The input was rejected before anything was sent (labels, roles, an empty prompt…)."""


class ImageError(InvalidInputError):
    """An image could not be used: not an image, truncated, a decompression bomb, too large."""


class UnknownModelError(NVNBError, ValueError):
    """No model by that name; ``.suggestions`` lists the closest known ids.

    ``UnknownModelError("llama-3", suggestions=[...])`` reads "unknown model 'llama-3'; did you
    mean: a, b?"; a first argument with spaces is taken as the whole message."""

    default_hint = "`nvnb models` lists the known ids; nvnb.register_model(...) adds your own"

    def __init__(
        self, name: str | None = None, *, suggestions: list[str] | None = None, **fields: Any
    ) -> None:
        self.suggestions = list(suggestions or [])
        message = name
        if name is not None and name.strip() and not any(c.isspace() for c in name.strip()):
            message = f"unknown model {name.strip()!r}"
            fields.setdefault("model", name.strip())
        if self.suggestions and message is not None:
            message += f"; did you mean: {', '.join(self.suggestions)}?"
        super().__init__(message, **fields)


# --- HTTP status errors --------------------------------------------------------------------


class APIError(NVNBError):
    """The service answered with an error status."""


class AuthenticationError(APIError):
    """401/403: the API key is missing, wrong, or not allowed to use this model."""

    default_hint = (
        "check NVIDIA_API_KEY (keys start with 'nvapi-'; get one at build.nvidia.com), "
        "or call nvnb.settings.ask_for_key()"
    )


class NotFoundError(APIError):
    """404: the model or path does not exist on this server."""

    default_hint = "check the model name (nvnb models lists them) and the base URL"


class InvalidRequestError(APIError):
    """400/413/422: the service rejected the request body; ``.detail`` says which field."""

    default_hint = "the service rejected a field of the request; see the detail"


class RateLimitError(APIError):
    """429: too many requests; ``.retry_after`` is the wait the service asked for, in seconds."""

    default_hint = "free accounts allow about 40 requests per minute; wait a little and retry"

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **fields: Any
    ) -> None:
        self.retry_after = retry_after
        if "hint" not in fields and retry_after is not None:
            fields["hint"] = f"the service asked to wait {retry_after:g} s before retrying"
        super().__init__(message, **fields)


class ServerError(APIError):
    """5xx: the service failed; retrying later usually helps."""

    default_hint = "the service had a problem; try again in a moment"


class _KeepsPartialText:
    """Mixin for errors raised after output began: ``.partial_text`` is what had arrived and
    ``.chunks_received`` how many chunks carried it."""

    def __init__(
        self,
        message: str | None = None,
        *,
        partial_text: str = "",
        chunks_received: int = 0,
        **fields: Any,
    ) -> None:
        self.partial_text = partial_text
        self.chunks_received = chunks_received
        super().__init__(message, **fields)  # type: ignore[call-arg]


class StreamError(_KeepsPartialText, APIError):
    """An ``{"error": …}`` object arrived inside a stream; ``.partial_text`` is what came before."""

    default_hint = "the model failed mid-answer; the text received so far is in .partial_text"


# --- transport -----------------------------------------------------------------------------


class TransportError(NVNBError):
    """The conversation with the server broke down (no usable HTTP answer)."""


class ConnectError(TransportError):
    """Could not connect to the server (refused, DNS, TLS, proxy); ``.url`` says where."""

    default_hint = "is the server running and the base URL right? proxies come from HTTPS_PROXY"


class RequestTimeout(_KeepsPartialText, TransportError):
    """Connecting or reading took too long, or 202 polling passed its deadline; a stream that
    stalled keeps what had arrived in ``.partial_text``."""

    default_hint = "raise the timeout (Client(timeout=...)) or try again"


class StreamInterrupted(_KeepsPartialText, TransportError):
    """The stream broke off or turned malformed; ``.partial_text`` is what had arrived."""

    default_hint = "the text received so far is in .partial_text"


# --- HTTP error responses → exceptions (the one place) -------------------------------------

_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
}

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_MAX_DETAIL = 300


def error_class_for(status: int) -> type[APIError]:
    """The APIError subclass for an HTTP status."""
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ServerError
    if 400 <= status < 500:
        return InvalidRequestError
    return APIError


def error_from_response(
    status: int,
    body: bytes | str,
    *,
    headers: Any = None,
    url: str | None = None,
    model: str | None = None,
    retry_after: float | None = None,
    content_type: str | None = None,
) -> APIError:
    """Turn an HTTP error response (NVCF, OpenAI, HTML or plain-text body) into one typed error."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    headers = headers or {}
    ctype = content_type or headers.get("content-type", "") or ""
    title, detail, body_request_id = _parse_error_body(text, ctype)
    title = title or _REASONS.get(status)
    request_id = request_id_from(headers) or body_request_id
    cls = error_class_for(status)
    fields: dict[str, Any] = dict(
        status=status, title=title, detail=detail, request_id=request_id, model=model, url=url
    )
    hint = _hint_for(status, detail)
    if hint:
        fields["hint"] = hint
    if cls is RateLimitError:
        return RateLimitError(retry_after=retry_after, **fields)
    return cls(**fields)


def request_id_from(headers: Any, body: Any = None) -> str | None:
    """The request id: header ``NVCF-REQID`` or ``x-request-id``, else body ``requestId``."""
    if headers:
        for name in ("nvcf-reqid", "x-request-id"):
            value = headers.get(name)
            if value:
                return str(value)
    if isinstance(body, dict):
        value = body.get("requestId") or body.get("request_id")
        if isinstance(value, str) and value:
            return value
    return None


def _parse_error_body(text: str, content_type: str) -> tuple[str | None, str | None, str | None]:
    """(title, detail, requestId) from an error body of any known shape."""
    stripped = text.strip()
    if not stripped:
        return None, None, None
    if stripped[:1] in "{[":
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if data is not None:
            return _parse_json_error(data)
    if "html" in content_type.lower() or re.match(r"(?is)\s*<(!doctype|html|head|body)", stripped):
        return _parse_html_error(stripped), None, None
    first = next((line.strip() for line in stripped.splitlines() if line.strip()), "")
    return None, _clip(first), None


def _parse_json_error(data: Any) -> tuple[str | None, str | None, str | None]:
    if not isinstance(data, dict):
        return None, _clip(json.dumps(data)), None
    request_id = data.get("requestId") if isinstance(data.get("requestId"), str) else None
    err = data.get("error")
    if isinstance(err, dict):  # OpenAI style
        message = err.get("message") or err.get("detail") or err.get("type")
        return None, _clip(_detail_text(message)), request_id
    if isinstance(err, str) and "detail" not in data:
        return None, _clip(err), request_id
    title = data.get("title") if isinstance(data.get("title"), str) else None
    detail = data.get("detail", data.get("message", err))
    return title, _clip(_detail_text(detail)), request_id


def _detail_text(detail: Any) -> str | None:
    """Validation lists become one line: ``body -> stream: extra inputs are not permitted``."""
    if detail is None:
        return None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = [_detail_text(item) or "" for item in detail]
        return "; ".join(p for p in parts if p)
    if isinstance(detail, dict):
        msg = detail.get("msg") or detail.get("message")
        loc = detail.get("loc")
        if msg and isinstance(loc, list | tuple):
            return f"{' -> '.join(str(p) for p in loc)}: {msg}"
        if msg:
            return str(msg)
    return json.dumps(detail)


def _parse_html_error(text: str) -> str | None:
    for pattern in (r"(?is)<title[^>]*>(.*?)</title>", r"(?is)<h1[^>]*>(.*?)</h1>"):
        match = re.search(pattern, text)
        if match:
            inner = re.sub(r"(?s)<[^>]+>", " ", match.group(1))
            inner = " ".join(html.unescape(inner).split())
            inner = re.sub(r"^\d{3}\s*[-:]?\s*", "", inner)  # "503 Bad Gateway" → title
            if inner:
                return _clip(inner, 120)
    return None


def _clip(text: str | None, limit: int = _MAX_DETAIL) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_EXTRA_FIELD = re.compile(
    r"body\s*->\s*([\w.]+)\s*:\s*extra (?:inputs|fields) (?:are )?not permitted", re.I
)


def _hint_for(status: int, detail: str | None) -> str | None:
    from nvnb.client_mistakes import hint_for_mistake

    if mistake := hint_for_mistake(detail):  # before any 5xx "try again": it cannot help
        return mistake
    if detail and (match := _EXTRA_FIELD.search(detail)):
        field = match.group(1)
        drop = f"{{k: v for k, v in p.items() if k != {field!r}}}"
        return (
            f"this model does not accept {field!r}; drop it from every request, e.g. "
            f"llm.client.payload_fn = lambda p: {drop}"
        )
    if status == 413:
        return (
            "the request is too large; inline images over ~180 000 base64 characters need "
            "the assets API (Client.upload_asset)"
        )
    return None
