"""The one boundary where what goes wrong below nvnb becomes :mod:`nvnb.errors`.

Three kinds of failure cross it, each in one function:

- transport exceptions (httpx's; urllib3's and aiohttp's arrive as httpx's from the transports
  under httpx, the aiohttp one kept as ``__cause__`` and read here): :func:`translate_errors`,
  a context manager around every send and read;
  :func:`retryable_cause` says which of them a retry may cure;
- HTTP error statuses with any body (NVCF problem JSON, OpenAI error objects, HTML, text):
  :func:`error_from_response` (status → class, title/detail/request id, hints), and
  :func:`error_for_response` for a response the client received;
- ``{"error": …}`` objects inside a stream: :func:`stream_error`.

Errors built here never carry the API key: :func:`without_key` masks a server that echoes it.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx

from nvnb.client._exchange import Request, parse_retry_after
from nvnb.client._mistakes import hint_for_mistake
from nvnb.errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    InvalidRequestError,
    ModelRetiredError,
    NotFoundError,
    NVNBError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    StreamError,
    StreamInterrupted,
    TransportError,
)
from nvnb.settings import Secret

__all__ = [
    "error_class_for",
    "error_for_response",
    "error_from_response",
    "request_id_from",
    "retryable_cause",
    "stream_error",
    "translate_errors",
    "without_key",
]

# --- transport exceptions ------------------------------------------------------------------

# What went wrong below, in nvnb's words; the kinds a retry may cure
_RETRYABLE = frozenset({"connect", "connect-timeout", "broken"})
_HTTPX_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (httpx.ConnectTimeout, "connect-timeout"),
    (httpx.WriteTimeout, "write-timeout"),
    (httpx.PoolTimeout, "pool-timeout"),
    (httpx.TimeoutException, "read-timeout"),
    (httpx.ConnectError, "connect"),
    (httpx.ProxyError, "connect"),
    (httpx.UnsupportedProtocol, "config"),
    (httpx.InvalidURL, "config"),
    (httpx.RemoteProtocolError, "broken"),
    (httpx.ReadError, "broken"),
    (httpx.WriteError, "broken"),
    (httpx.TransportError, "failed"),
    (httpx.DecodingError, "unreadable"),
    (httpx.StreamError, "unreadable"),
)


def _aiohttp_kind(cause: BaseException) -> str | None:
    """The kind of an aiohttp exception (the ``httpx-aiohttp`` transport maps them coarsely:
    a server that hangs up mid-answer arrives as httpx's ``ConnectTimeout``)."""
    import aiohttp  # already imported: the exception came from it

    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return "connect-timeout"
    if isinstance(cause, aiohttp.ServerTimeoutError):
        return "read-timeout"
    if isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ClientHttpProxyError):
        return "connect"
    if isinstance(cause, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return "config"
    if isinstance(
        cause, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError | aiohttp.ClientPayloadError
    ):
        return "broken"
    if isinstance(cause, aiohttp.ClientError):
        return "failed"
    return None


def _kind(exc: BaseException) -> tuple[str, str]:
    """(kind, the name of the exception that says so) for an httpx exception."""
    cause = exc.__cause__
    if cause is not None and type(cause).__module__.startswith("aiohttp"):
        kind = _aiohttp_kind(cause)
        if kind is not None:
            return kind, type(cause).__name__
    for cls, kind in _HTTPX_KINDS:
        if isinstance(exc, cls):
            return kind, type(exc).__name__
    return "failed", type(exc).__name__


_TIMEOUT_WHAT = {
    "connect-timeout": "connecting to",
    "write-timeout": "sending to",
    "pool-timeout": "waiting for a free connection to",
    "read-timeout": "waiting for data from",
}


# what translate_errors catches (for a hot loop that catches them itself: translated_error)
TRANSPORT_ERRORS = (httpx.HTTPError, httpx.StreamError)


class translate_errors:
    """httpx exceptions (and aiohttp's beneath them) → ``nvnb.errors`` (``reading``: inside a
    body already started, where a broken connection is an interrupted stream).

    A class, not ``@contextmanager``: entered twice per request, and a generator per use
    measured a few µs each in ``bench/`` (dataset rows)."""

    __slots__ = ("reading", "req")

    def __init__(self, req: Request, *, reading: bool = False) -> None:
        self.req = req
        self.reading = reading

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None and isinstance(exc, TRANSPORT_ERRORS):
            raise translated_error(exc, self.req, reading=self.reading) from exc


def translated_error(exc: Exception, req: Request, *, reading: bool = False) -> NVNBError:
    """The nvnb error for one of ``TRANSPORT_ERRORS`` (its ``__cause__`` set to ``exc``, with
    the request and its headers taken out of ``exc``'s chain: see :func:`_drop_requests`)."""
    err = _translated(exc, req, reading)
    err.__cause__ = _drop_requests(exc)
    return err


# what a transport exception may hold that carries the request's headers (so the key)
_REQUEST_HOLDERS = (httpx.Request, httpx.Response, httpx.Headers)
_REQUEST_HOLDER_NAMES = {"RequestInfo", "ClientResponse", "CIMultiDict", "CIMultiDictProxy"}


def _drop_requests(exc: BaseException) -> BaseException:
    """``exc`` and the exceptions chained to it, without the requests they hold.

    httpx's exceptions keep the request (its headers hold ``Authorization``), aiohttp's keep
    ``request_info``. Nothing prints them, but a pickler that follows ``__cause__`` and
    ``__context__`` does: tblib's, which dask.distributed installs process-wide to ship a
    worker's errors. What the message says stays; ``exc.request`` no longer answers.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        link = todo.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        for name, value in list(vars(link).items()):
            if isinstance(value, _REQUEST_HOLDERS) or type(value).__name__ in _REQUEST_HOLDER_NAMES:
                setattr(link, name, None)
        todo += (link.__cause__, link.__context__)
    return exc


def _translated(exc: Exception, req: Request, reading: bool) -> NVNBError:
    kind, _name = _kind(exc)
    where = dict(url=req.url, model=req.model)
    if kind in _TIMEOUT_WHAT:
        return RequestTimeout(f"timed out {_TIMEOUT_WHAT[kind]} {req.url}", **where)
    if kind == "connect":
        return ConnectError(f"could not connect to {req.url}: {_reason(exc)}", **where)
    if kind == "config":
        return ConfigurationError(f"cannot send to {req.url}: {exc}", url=req.url)
    if kind == "unreadable":
        return StreamInterrupted(f"the answer from {req.url} could not be read: {exc}", **where)
    if reading:
        return StreamInterrupted(f"the connection to {req.url} broke off: {_reason(exc)}", **where)
    return TransportError(f"the connection to {req.url} failed: {_reason(exc)}", **where)


def retryable_cause(err: NVNBError) -> str | None:
    """The name of the transport failure behind ``err`` if sending again may cure it, else None."""
    cause = err.__cause__
    if not isinstance(cause, httpx.HTTPError):
        return None
    kind, name = _kind(cause)
    return name if kind in _RETRYABLE else None


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


# --- HTTP error statuses -------------------------------------------------------------------

_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    410: ModelRetiredError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
}

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
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


def error_for_response(resp: httpx.Response, body: bytes, req: Request) -> APIError:
    """The typed error for a response the client received (its ``Retry-After`` included)."""
    return error_from_response(
        resp.status_code,
        body,
        headers=resp.headers,
        url=req.url,
        model=req.model,
        retry_after=parse_retry_after(resp.headers.get("retry-after")),
    )


def malformed_answer(resp: httpx.Response, body: bytes, req: Request) -> APIError:
    """A success status whose body is not the JSON it should be."""
    preview = body[:80].decode("utf-8", "replace")
    return APIError(
        f"the answer is not JSON: {preview!r}",
        status=resp.status_code,
        title="Malformed answer",
        url=req.url,
        model=req.model,
        request_id=request_id_from(resp.headers),
        hint="the server sent something that is not JSON; try again",
    )


def queued_stream(resp: httpx.Response, req: Request) -> APIError:
    """A 202 (queued) answer to a stream request, which streams never poll."""
    return APIError(
        "the service queued this streamed request (202); streams do not poll",
        status=202,
        title="Accepted",
        url=req.url,
        model=req.model,
        request_id=request_id_from(resp.headers),
        hint="call without streaming (chat) to wait for the result",
    )


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


# --- error objects inside a stream ---------------------------------------------------------


def stream_error(error: Any) -> StreamError:
    """The StreamError for an ``{"error": …}`` object (a dict or a bare message)."""
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail") or json.dumps(error)
        kind = error.get("type") or error.get("code")
        status = error.get("status") if isinstance(error.get("status"), int) else None
        return StreamError(
            str(message),
            title=str(kind) if kind else "error in stream",
            status=status,
            request_id=error.get("requestId") if isinstance(error.get("requestId"), str) else None,
        )
    return StreamError(str(error), title="error in stream")


# --- no key in any error -------------------------------------------------------------------


def without_key(err: NVNBError, key: Secret | None) -> NVNBError:
    """Belt and braces: a server that echoes the key back does not get it into an error."""
    if key:
        secret = key.get_secret_value()
        for name in ("title", "detail", "hint", "url"):
            value = getattr(err, name, None)
            if isinstance(value, str) and secret in value:
                setattr(err, name, value.replace(secret, "***"))
        err.args = (err.message,)
    return err
