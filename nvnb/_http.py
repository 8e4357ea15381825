"""One HTTP exchange as both clients see it: the request we build, the answer we hand back, and
the one place httpx exceptions become ``nvnb.errors`` (``translate_errors``).

HTTP error *statuses* become errors elsewhere, in ``nvnb.errors.error_from_response``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from nvnb._version import __version__
from nvnb.errors import (
    ConfigurationError,
    ConnectError,
    RequestTimeout,
    StreamInterrupted,
    TransportError,
)
from nvnb.settings import Timeouts

USER_AGENT = f"nvnb/{__version__}"


class ChatResponse(dict):
    """A chat completion (the JSON body) with ``.request_id``, ``.headers`` and ``.status``."""

    request_id: str | None
    headers: httpx.Headers
    status: int

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        request_id: str | None = None,
        headers: httpx.Headers | None = None,
        status: int = 200,
    ) -> None:
        super().__init__(data)
        self.request_id = request_id
        self.headers = headers if headers is not None else httpx.Headers()
        self.status = status


@dataclass
class Request:
    """One HTTP request, built once, sent (and re-sent on retry) by either client."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None = None
    model: str | None = None
    timeout: httpx.Timeout | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    def build(
        self, http: httpx.Client | httpx.AsyncClient, extensions: dict[str, Any] | None = None
    ) -> httpx.Request:
        """The httpx request; ``extensions`` reach the transport (the call log's retry note)."""
        return http.build_request(
            self.method,
            self.url,
            headers=self.headers,
            content=self.content,
            timeout=self.timeout,
            extensions=extensions,
        )


def httpx_timeout(timeouts: Timeouts, *, read: float | None = None) -> httpx.Timeout:
    """Our ``Timeouts`` as httpx's (``read`` replaces the read timeout, e.g. for a poll)."""
    t = timeouts
    return httpx.Timeout(
        connect=t.connect, read=t.read if read is None else read, write=t.write, pool=t.pool
    )


@contextlib.contextmanager
def translate_errors(req: Request, *, reading: bool = False) -> Iterator[None]:
    """httpx exceptions → ``nvnb.errors`` (``reading``: inside a body already started)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        what = {
            httpx.ConnectTimeout: "connecting to",
            httpx.WriteTimeout: "sending to",
            httpx.PoolTimeout: "waiting for a free connection to",
        }.get(type(exc), "waiting for data from")
        raise RequestTimeout(f"timed out {what} {req.url}", url=req.url, model=req.model) from exc
    except (httpx.ConnectError, httpx.ProxyError) as exc:
        raise ConnectError(
            f"could not connect to {req.url}: {_reason(exc)}", url=req.url, model=req.model
        ) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise ConfigurationError(f"cannot send to {req.url}: {exc}", url=req.url) from exc
    except httpx.TransportError as exc:  # ReadError, RemoteProtocolError, WriteError, …
        if reading:
            raise StreamInterrupted(
                f"the connection to {req.url} broke off: {_reason(exc)}",
                url=req.url,
                model=req.model,
            ) from exc
        raise TransportError(
            f"the connection to {req.url} failed: {_reason(exc)}", url=req.url, model=req.model
        ) from exc
    except (httpx.DecodingError, httpx.StreamError) as exc:
        raise StreamInterrupted(
            f"the answer from {req.url} could not be read: {exc}", url=req.url, model=req.model
        ) from exc


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
