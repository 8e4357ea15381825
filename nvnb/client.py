"""The HTTP client: chat completions (JSON and SSE), model listing, NVCF polling and assets.

``Client`` and ``AsyncClient`` share one ``_Core`` that does everything except I/O: settings,
request building (headers, ``payload_fn``, asset references), retry and polling decisions, error
mapping and stream decoding (``nvnb.sse``). The two classes only send, sleep and read.

httpx exceptions become ``nvnb.errors`` in one place (``_translate``); HTTP error statuses in
another (``nvnb.errors.error_from_response`` via ``_Core.error_for``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import email.utils
import hashlib
import json
import logging
import os
import random
import re
import ssl
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from nvnb import catalog
from nvnb._version import __version__
from nvnb.errors import (
    APIError,
    ConfigurationError,
    ConnectError,
    InvalidInputError,
    NVNBError,
    RequestTimeout,
    StreamInterrupted,
    TransportError,
    error_from_response,
    request_id_from,
)
from nvnb.settings import (
    KEY_ENV,
    RetryPolicy,
    Secret,
    Settings,
    Timeouts,
    resolve_settings,
)
from nvnb.sse import ChatStreamDecoder, stream_error

__all__ = ["AsyncChatStream", "AsyncClient", "ChatResponse", "ChatStream", "Client"]

log = logging.getLogger("nvnb.client")

USER_AGENT = f"nvnb/{__version__}"
PayloadFn = Callable[[dict[str, Any]], dict[str, Any]]
_ASSET_REF = re.compile(r"data:image/[\w.+-]+;asset_id,([\w-]+)")


class ChatResponse(dict):
    """A chat completion (the JSON body) with ``.request_id``, ``.headers`` and ``.status``."""

    request_id: str | None
    headers: httpx.Headers
    status: int

    def __init__(self, data: Mapping[str, Any], *, request_id: str | None = None,
                 headers: httpx.Headers | None = None, status: int = 200) -> None:
        super().__init__(data)
        self.request_id = request_id
        self.headers = headers if headers is not None else httpx.Headers()
        self.status = status


@dataclass
class _Request:
    """One HTTP request, built once, sent (and re-sent on retry) by either client."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None = None
    model: str | None = None
    timeout: httpx.Timeout | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    def build(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        return http.build_request(self.method, self.url, headers=self.headers,
                                  content=self.content, timeout=self.timeout)


# --- errors: httpx → nvnb, the one place ---------------------------------------------------

_RETRYABLE_TRANSPORT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError,
                        httpx.ReadError, httpx.WriteError, httpx.ProxyError)


@contextlib.contextmanager
def _translate(req: _Request, *, reading: bool = False) -> Iterator[None]:
    """httpx exceptions → ``nvnb.errors`` (``reading``: inside a body already started)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        what = {httpx.ConnectTimeout: "connecting to", httpx.WriteTimeout: "sending to",
                httpx.PoolTimeout: "waiting for a free connection to"}.get(type(exc),
                                                                          "waiting for data from")
        raise RequestTimeout(f"timed out {what} {req.url}", url=req.url, model=req.model) from exc
    except (httpx.ConnectError, httpx.ProxyError) as exc:
        raise ConnectError(f"could not connect to {req.url}: {_reason(exc)}", url=req.url,
                           model=req.model) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise ConfigurationError(f"cannot send to {req.url}: {exc}", url=req.url) from exc
    except httpx.TransportError as exc:  # ReadError, RemoteProtocolError, WriteError, …
        if reading:
            raise StreamInterrupted(f"the connection to {req.url} broke off: {_reason(exc)}",
                                    url=req.url, model=req.model) from exc
        raise TransportError(f"the connection to {req.url} failed: {_reason(exc)}",
                             url=req.url, model=req.model) from exc
    except (httpx.DecodingError, httpx.StreamError) as exc:
        raise StreamInterrupted(f"the answer from {req.url} could not be read: {exc}",
                                url=req.url, model=req.model) from exc


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


# --- retries and polling: decisions without I/O --------------------------------------------


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class _RetryPlan:
    """Decides whether and when to send a request again: bounded count, bounded total time."""

    def __init__(self, policy: RetryPolicy, url: str) -> None:
        self.policy = policy
        self.url = url
        self.retries = 0
        self.started = time.monotonic()

    def after_status(self, status: int, headers: httpx.Headers) -> float | None:
        """Seconds to wait before retrying this status, or None: hand the response back."""
        if status not in self.policy.statuses:
            return None
        return self._next(parse_retry_after(headers.get("retry-after")), f"HTTP {status}")

    def after_error(self, err: NVNBError) -> float | None:
        """Seconds to wait before retrying after a transport error, or None: raise it."""
        if not isinstance(err.__cause__, _RETRYABLE_TRANSPORT):
            return None
        return self._next(None, type(err.__cause__).__name__)

    def _next(self, retry_after: float | None, why: str) -> float | None:
        p = self.policy
        if self.retries >= p.max_retries:
            return None
        if retry_after is not None:
            delay = retry_after
        else:
            ceiling = min(p.backoff_max, p.backoff_base * 2 ** self.retries)
            delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter"
        if time.monotonic() - self.started + delay > p.budget:
            log.debug("%s from %s: not retrying, the retry budget (%.3g s) would run out",
                      why, self.url, p.budget)
            return None
        self.retries += 1
        log.debug("%s from %s: retry %d of %d in %.3g s", why, self.url, self.retries,
                  p.max_retries, delay)
        return delay


class _PollPlan:
    """NVCF 202 polling: ``GET {nvcf}/pexec/status/{id}`` until not 202, within a deadline."""

    def __init__(self, core: _Core, original: _Request) -> None:
        self.core = core
        self.original = original
        self.timeouts = core.settings.timeout
        self.deadline = time.monotonic() + self.timeouts.poll_deadline
        self.polls = 0
        self.request_id: str | None = None

    def next(self, headers: httpx.Headers) -> tuple[_Request, float]:
        """The status request to send after a 202 and the pause before it; raises at deadline."""
        reqid = headers.get("nvcf-reqid") or self.request_id
        if not reqid:
            raise APIError("the service accepted the request (202) without an NVCF-REQID to "
                           "poll", status=202, title="Accepted", url=self.original.url,
                           model=self.original.model)
        self.request_id = reqid
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise RequestTimeout(
                f"no result after polling for {self.timeouts.poll_deadline:g} s",
                request_id=reqid, url=self.original.url, model=self.original.model,
                hint="the poll deadline is Timeouts(poll_deadline=...); the request may still "
                     "finish on the service",
            )
        self.polls += 1
        pause = min(self.timeouts.poll_interval, remaining)
        return self.core.poll_request(reqid, self.original, remaining), pause


# --- the shared core -----------------------------------------------------------------------


def _key_fingerprint(key: str | None) -> bytes | None:
    return hashlib.sha256(key.encode()).digest() if key else None


class _Core:
    """Everything a client does that is not I/O; shared by a Client and its ``.aio``."""

    def __init__(
        self,
        api_key: Any = None,
        base_url: str | None = None,
        *,
        nvidia_api_key: Any = None,
        timeout: Timeouts | float | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        verify_ssl: bool | str | None = None,
        hosted_origin: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        payload_fn: PayloadFn | None = None,
        settings: Settings | None = None,
        shared_pool: bool = False,
    ) -> None:
        options = dict(timeout=timeout, max_retries=max_retries, retry=retry,
                       verify_ssl=verify_ssl, hosted_origin=hosted_origin)
        if settings is not None:
            overrides = {k: v for k, v in options.items() if v is not None}
            settings = _apply(settings, overrides)
            self._follow_env = False
        else:
            key_given = api_key is not None or nvidia_api_key is not None
            # A client on the default settings follows the process key (ask_for_key, %nvchat key).
            self._follow_env = not key_given
            self._resolve_args = dict(api_key=_secret(api_key), base_url=base_url,
                                      nvidia_api_key=_secret(nvidia_api_key), **options)
            self._key_seen = _key_fingerprint(_env_key())
            settings = resolve_settings(**self._resolve_args)
        self._settings = settings
        self.payload_fn = payload_fn
        self.default_headers = dict(default_headers or {})
        self.shared_pool = shared_pool
        self._lock = threading.RLock()
        self._models: tuple[str, float, list[dict[str, Any]]] | None = None

    # settings --------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """Current settings; re-resolved when the process key changed (default clients only)."""
        if self._follow_env:
            seen = _key_fingerprint(_env_key())
            if seen != self._key_seen:
                with self._lock:
                    if seen != self._key_seen:
                        self._settings = resolve_settings(**self._resolve_args)
                        self._key_seen = seen
                        log.debug("the API key changed: requests now go to %s",
                                  self._settings.base_url)
        return self._settings

    def endpoint_for(self, model: str | None) -> str:
        """Chat-completions URL for ``model``: the catalog's endpoint on the hosted service
        (moved onto ``hosted_origin`` when set), else ``{base}/chat/completions``."""
        s = self.settings
        if model and (s.mode == "hosted" or s.hosted_origin):
            record = catalog.find_model(model)
            if record is not None and record.endpoint:
                return s.rewrite_hosted(record.endpoint)
        return f"{s.base_url}/chat/completions"

    # requests --------------------------------------------------------------------------

    def headers(self, settings: Settings, *, accept: str, json_body: bool,
                extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        if json_body:
            headers["Content-Type"] = "application/json"
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        headers.update(self.default_headers)
        if extra:
            headers.update(extra)
        return headers

    def timeout(self, settings: Settings, *, read: float | None = None) -> httpx.Timeout:
        t = settings.timeout
        return httpx.Timeout(connect=t.connect, read=t.read if read is None else read,
                             write=t.write, pool=t.pool)

    def apply_payload_fn(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(payload, Mapping):
            raise InvalidInputError(f"the payload must be a dict, not {type(payload).__name__}")
        body = dict(payload)  # payload_fn may mutate its argument; the caller's stays intact
        fn = self.payload_fn
        if fn is not None:
            result = fn(body)
            body = body if result is None else result
            if not isinstance(body, Mapping):
                raise InvalidInputError("payload_fn must return a dict")
        return dict(body)

    def chat_request(self, payload: Mapping[str, Any], *, url: str | None = None,
                     stream: bool = False, headers: Mapping[str, str] | None = None) -> _Request:
        """A POST of a chat body (after ``payload_fn``) to ``url`` or the model's endpoint."""
        settings = self.settings
        body = self.apply_payload_fn(payload)
        model = body.get("model") if isinstance(body.get("model"), str) else None
        content = _dumps(body)
        hdrs = self.headers(settings, accept="text/event-stream" if stream else "application/json",
                            json_body=True, extra=None)
        refs = _asset_references(content)
        if refs:
            hdrs["NVCF-INPUT-ASSET-REFERENCES"] = ",".join(refs)
        if headers:
            hdrs.update(headers)
        target = url or self.endpoint_for(model)
        return _Request("POST", target, hdrs, content, model, self.timeout(settings))

    def url_for(self, url_or_path: str) -> str:
        """An absolute URL as given (hosted ones moved onto ``hosted_origin``), or a path
        joined to the base URL: ``"embeddings"`` → ``{base}/embeddings``."""
        if "://" in url_or_path:
            return self.settings.rewrite_hosted(url_or_path)
        return f"{self.settings.base_url}/{url_or_path.lstrip('/')}"

    def nvcf_url(self, function_id: str) -> str:
        if not function_id or "/" in function_id:
            raise InvalidInputError(f"not an NVCF function id: {function_id!r}")
        return f"{self.settings.nvcf_url}/pexec/functions/{function_id}"

    def get_request(self, url: str, headers: Mapping[str, str] | None = None) -> _Request:
        settings = self.settings
        return _Request("GET", url, self.headers(settings, accept="application/json",
                                                 json_body=False, extra=headers),
                        timeout=self.timeout(settings))

    def poll_request(self, reqid: str, original: _Request, remaining: float) -> _Request:
        """The status poll, with the original request's authorisation and extra headers."""
        settings = self.settings
        headers = {k: v for k, v in original.headers.items()
                   if k.lower() not in ("content-type", "nvcf-input-asset-references")}
        headers["Accept"] = "application/json"
        url = f"{settings.nvcf_url}/pexec/status/{reqid}"
        read = max(0.001, min(settings.timeout.read, remaining))
        timeout = self.timeout(settings, read=read)
        return _Request("GET", url, headers, None, original.model, timeout)

    def asset_create_request(self, mime: str, description: str) -> _Request:
        if not isinstance(mime, str) or "/" not in mime:
            raise InvalidInputError(f"not a MIME type: {mime!r}")
        settings = self.settings
        content = _dumps({"contentType": mime, "description": description})
        headers = self.headers(settings, accept="application/json", json_body=True, extra=None)
        return _Request("POST", f"{settings.nvcf_url}/assets", headers, content,
                        timeout=self.timeout(settings))

    def asset_put_request(self, created: Mapping[str, Any], data: bytes, mime: str,
                          description: str) -> tuple[str, _Request]:
        """The presigned upload: no Authorization of ours goes to the storage host."""
        asset_id, upload_url = created.get("assetId"), created.get("uploadUrl")
        if not isinstance(asset_id, str) or not isinstance(upload_url, str):
            raise APIError("the assets service answered without assetId/uploadUrl",
                           status=200, title="Unexpected answer")
        headers = {"Content-Type": mime, "x-amz-meta-nvcf-asset-description": description,
                   "User-Agent": USER_AGENT}
        url = self.settings.rewrite_hosted(upload_url)
        return asset_id, _Request("PUT", url, headers, bytes(data),
                                  timeout=self.timeout(self.settings))

    # responses -------------------------------------------------------------------------

    def error_for(self, resp: httpx.Response, body: bytes, req: _Request) -> NVNBError:
        retry_after = parse_retry_after(resp.headers.get("retry-after"))
        err = error_from_response(resp.status_code, body, headers=resp.headers, url=req.url,
                                  model=req.model, retry_after=retry_after)
        return self.scrub(err)

    def scrub(self, err: NVNBError) -> NVNBError:
        """Belt and braces: a server that echoes the key back does not get it into an error."""
        key = self._settings.api_key
        if key:
            secret = key.get_secret_value()
            for name in ("title", "detail", "hint", "url"):
                value = getattr(err, name, None)
                if isinstance(value, str) and secret in value:
                    setattr(err, name, value.replace(secret, "***"))
            err.args = (err.message,)
        return err

    def json_response(self, resp: httpx.Response, body: bytes, req: _Request,
                      request_id: str | None = None) -> ChatResponse:
        if resp.status_code >= 400:
            raise self.error_for(resp, body, req)
        try:
            data = json.loads(body)
        except ValueError:
            preview = body[:80].decode("utf-8", "replace")
            raise APIError(f"the answer is not JSON: {preview!r}", status=resp.status_code,
                           title="Malformed answer", url=req.url, model=req.model,
                           request_id=request_id_from(resp.headers),
                           hint="the server sent something that is not JSON; try again") from None
        rid = request_id_from(resp.headers, data) or request_id
        if not isinstance(data, dict):
            data = {"data": data}
        return ChatResponse(data, request_id=rid, headers=resp.headers, status=resp.status_code)

    def stream_refused(self, resp: httpx.Response, body: bytes, req: _Request) -> NVNBError:
        """Why a stream could not start (an error status, or 202 which streams never poll)."""
        if resp.status_code == 202:
            return APIError("the service queued this streamed request (202); streams do not "
                            "poll", status=202, title="Accepted", url=req.url, model=req.model,
                            request_id=request_id_from(resp.headers),
                            hint="call without streaming (chat) to wait for the result")
        return self.error_for(resp, body, req)

    def cached_models(self) -> list[dict[str, Any]] | None:
        cached = self._models
        s = self.settings
        if cached and cached[0] == s.base_url and time.monotonic() - cached[1] < s.models_ttl:
            return cached[2]
        return None

    def store_models(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        items = data.get("data", [])
        models = [m for m in items if isinstance(m, dict)] if isinstance(items, list) else []
        self._models = (self.settings.base_url, time.monotonic(), models)
        return models

    def pool_key(self) -> tuple[Any, ...]:
        s = self.settings
        return (s.verify_ssl, s.trust_env)

    def pool_options(self) -> dict[str, Any]:
        s = self.settings
        # Redirects are followed (NVCF answers large results with a redirect to storage);
        # httpx drops Authorization when a redirect leaves the origin.
        return dict(verify=_ssl_verify(s), trust_env=s.trust_env, timeout=self.timeout(s),
                    follow_redirects=True,
                    limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                    headers={"User-Agent": USER_AGENT})

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        state["_models"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()


def _apply(settings: Settings, overrides: dict[str, Any]) -> Settings:
    changes: dict[str, Any] = {}
    if "timeout" in overrides:
        changes["timeout"] = Timeouts.coerce(overrides["timeout"])
    if "retry" in overrides:
        changes["retry"] = overrides["retry"]
    if "max_retries" in overrides:
        base = changes.get("retry", settings.retry)
        changes["retry"] = RetryPolicy(**{**base.__dict__, "max_retries": overrides["max_retries"]})
    if "verify_ssl" in overrides:
        changes["verify_ssl"] = overrides["verify_ssl"]
    if "hosted_origin" in overrides:
        changes["hosted_origin"] = overrides["hosted_origin"].rstrip("/")
    return settings.replace(**changes) if changes else settings


def _secret(value: Any) -> Secret | None:
    """Keys are held as Secret from the first moment (no raw key in vars() or pickles)."""
    if value is None or isinstance(value, Secret):
        return value
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return Secret(value) if isinstance(value, str) else value


def _env_key() -> str | None:
    value = os.environ.get(KEY_ENV, "").strip()
    return value or None


def _dumps(body: Any) -> bytes:
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"the payload cannot be sent as JSON: {exc}") from None


def _asset_references(content: bytes) -> list[str]:
    if b";asset_id," not in content:
        return []
    found = _ASSET_REF.findall(content.decode("utf-8", "replace"))
    return list(dict.fromkeys(found))


def _ssl_verify(settings: Settings) -> bool | ssl.SSLContext:
    verify = settings.verify_ssl
    if verify is False:
        return False
    if isinstance(verify, str):
        return _ca_context(verify)
    if settings.trust_env and not (os.environ.get("SSL_CERT_FILE")
                                   or os.environ.get("SSL_CERT_DIR")):
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            path = os.environ.get(name)
            if path and os.path.exists(path):
                return _ca_context(path)
    return True  # httpx: SSL_CERT_FILE / SSL_CERT_DIR when trust_env, else certifi


def _ca_context(path: str) -> ssl.SSLContext:
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)


# --- pools ---------------------------------------------------------------------------------

_shared_sync: dict[tuple[Any, ...], httpx.Client] = {}
_shared_async: dict[tuple[Any, ...], tuple[weakref.ref[Any], httpx.AsyncClient]] = {}
_shared_lock = threading.Lock()


@atexit.register
def _close_shared_pools() -> None:
    with _shared_lock:
        for pool in _shared_sync.values():
            pool.close()
        _shared_sync.clear()


def _current_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def _loop_pool(table: dict[Any, tuple[weakref.ref[Any], httpx.AsyncClient]], key: Any,
               loop: asyncio.AbstractEventLoop, make: Callable[[], httpx.AsyncClient]
               ) -> httpx.AsyncClient:
    """The async pool for this event loop; pools of closed loops are forgotten, not reused."""
    for k, (ref, _pool) in list(table.items()):
        old = ref()
        if old is None or old.is_closed():
            del table[k]
    entry = table.get(key)
    if entry is not None and entry[0]() is loop:
        return entry[1]
    pool = make()
    table[key] = (weakref.ref(loop), pool)
    return pool


def _pool_stats(transport: Any) -> dict[str, int]:
    connections = getattr(getattr(transport, "_pool", None), "connections", [])
    stats = {"connections": 0, "active": 0, "idle": 0}
    for conn in connections:
        if conn.is_closed():
            continue
        stats["connections"] += 1
        stats["idle" if conn.is_idle() else "active"] += 1
    return stats


# --- the sync client -----------------------------------------------------------------------


class _ClientBase:
    """The constructor and attributes both clients share, read from (and written to) the core."""

    _core: _Core

    def __init__(
        self,
        api_key: Any = None,
        base_url: str | None = None,
        *,
        nvidia_api_key: Any = None,
        timeout: Timeouts | float | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        verify_ssl: bool | str | None = None,
        hosted_origin: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        payload_fn: PayloadFn | None = None,
        settings: Settings | None = None,
        shared_pool: bool = False,
    ) -> None:
        """``api_key``/``base_url`` as in :func:`nvnb.settings.resolve_settings` (left out: the
        process key and the embedded default, followed when the key changes). ``timeout`` is
        seconds or :class:`Timeouts`; ``retry`` a :class:`RetryPolicy`; ``verify_ssl`` a bool or
        a CA bundle path; ``hosted_origin`` moves hosted URLs onto another server (testing);
        ``shared_pool`` uses one process-wide pool (per event loop for async)."""
        self._core = _Core(api_key, base_url, nvidia_api_key=nvidia_api_key, timeout=timeout,
                           max_retries=max_retries, retry=retry, verify_ssl=verify_ssl,
                           hosted_origin=hosted_origin, default_headers=default_headers,
                           payload_fn=payload_fn, settings=settings, shared_pool=shared_pool)
        self._attach(self._core)

    def _attach(self, core: _Core) -> None:
        raise NotImplementedError

    @classmethod
    def _on_core(cls, core: _Core) -> Any:
        """A client on an existing core (``Client.aio``): same settings, payload_fn, headers."""
        self = cls.__new__(cls)
        self._attach(core)
        return self

    @property
    def settings(self) -> Settings:
        return self._core.settings

    @property
    def payload_fn(self) -> PayloadFn | None:
        """Applied to every chat body (sync, async, stream), e.g. to drop a field a model
        refuses: ``llm.client.payload_fn = drop_streaming_key``."""
        return self._core.payload_fn

    @payload_fn.setter
    def payload_fn(self, fn: PayloadFn | None) -> None:
        if fn is not None and not callable(fn):
            raise ConfigurationError("payload_fn must be a function taking and returning a dict")
        self._core.payload_fn = fn

    @property
    def default_headers(self) -> dict[str, str]:
        return self._core.default_headers

    def endpoint_for(self, model: str) -> str:
        """Full chat-completions URL for this model id."""
        return self._core.endpoint_for(model)

    def __repr__(self) -> str:
        s = self._core._settings
        key = "set" if s.api_key else "none"
        return f"{type(self).__name__}(base_url={s.base_url!r}, mode={s.mode!r}, api_key={key})"


class Client(_ClientBase):
    """Synchronous client on one pooled ``httpx.Client`` (keep-alive), a context manager.

    ``.aio`` is the async twin sharing settings, ``payload_fn`` and headers.
    """

    def _attach(self, core: _Core) -> None:
        self._core = core
        self._http: httpx.Client | None = None
        self._http_key: tuple[Any, ...] | None = None
        self._aio: AsyncClient | None = None

    @property
    def aio(self) -> AsyncClient:
        if self._aio is None:
            self._aio = AsyncClient._on_core(self._core)
        return self._aio

    # pool ------------------------------------------------------------------------------

    def _pool(self) -> httpx.Client:
        core = self._core
        key = core.pool_key()
        if core.shared_pool:
            with _shared_lock:
                pool = _shared_sync.get(key)
                if pool is None or pool.is_closed:
                    pool = _shared_sync[key] = httpx.Client(**core.pool_options())
                return pool
        with core._lock:
            if self._http is None or self._http.is_closed or self._http_key != key:
                if self._http is not None:
                    self._http.close()
                self._http = httpx.Client(**core.pool_options())
                self._http_key = key
            return self._http

    def pool_stats(self) -> dict[str, int]:
        """Open connections of this client's pool: ``connections``, ``active``, ``idle``."""
        return _pool_stats(self._pool()._transport)

    def close(self) -> None:
        """Close this client's own pool (a shared pool stays open for others)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"_core": self._core, "_http": None, "_http_key": None, "_aio": None}

    # I/O -------------------------------------------------------------------------------

    def _send(self, req: _Request, plan: _RetryPlan | None = None) -> httpx.Response:
        """Send with retries; returns the response with its body unread (caller closes it)."""
        plan = plan or _RetryPlan(self._core.settings.retry, req.url)
        http = self._pool()
        while True:
            log.debug("%s %s", req.method, req.url)
            try:
                with _translate(req):
                    resp = http.send(req.build(http), stream=True)
            except NVNBError as err:
                delay = plan.after_error(err)
                if delay is None:
                    raise
                time.sleep(delay)
                continue
            log.debug("%s %s -> %d", req.method, req.url, resp.status_code)
            delay = plan.after_status(resp.status_code, resp.headers)
            if delay is None:
                return resp
            resp.close()
            time.sleep(delay)

    def _read(self, resp: httpx.Response, req: _Request) -> bytes:
        try:
            with _translate(req, reading=True):
                return resp.read()
        finally:
            resp.close()

    def _request_json(self, req: _Request) -> ChatResponse:
        resp = self._send(req)
        if resp.status_code == 202:
            plan = _PollPlan(self._core, req)
            while resp.status_code == 202:
                self._read(resp, req)
                poll, pause = plan.next(resp.headers)
                time.sleep(pause)
                resp = self._send(poll)
            return self._core.json_response(resp, self._read(resp, req), req, plan.request_id)
        return self._core.json_response(resp, self._read(resp, req), req)

    # API -------------------------------------------------------------------------------

    def chat(self, payload: Mapping[str, Any], *,
             headers: Mapping[str, str] | None = None) -> ChatResponse:
        """POST a chat completion (202 answers are polled); the JSON answer as a dict."""
        return self._request_json(self._core.chat_request(payload, headers=headers))

    def stream_chat(self, payload: Mapping[str, Any], *,
                    headers: Mapping[str, str] | None = None) -> ChatStream:
        """Start a streamed chat completion: an iterator of chunk dicts. Errors before the
        first chunk raise here; ``close()`` (or leaving ``with``) closes the connection."""
        req = self._core.chat_request(payload, stream=True, headers=headers)
        stream = ChatStream(self, req)
        stream.open()
        return stream

    def nvcf_chat(self, function_id: str, payload: Mapping[str, Any], *,
                  headers: Mapping[str, str] | None = None) -> ChatResponse:
        """Invoke an NVCF function (``pexec/functions/{id}``), polling 202 answers."""
        req = self._core.chat_request(payload, url=self._core.nvcf_url(function_id),
                                      headers=headers)
        return self._request_json(req)

    def post_json(self, url_or_path: str, payload: Mapping[str, Any], *,
                  headers: Mapping[str, str] | None = None) -> ChatResponse:
        """POST any JSON body (``payload_fn``, retries, polling and errors as for chat);
        a relative path joins the base URL (``"embeddings"``, ``"ranking"``)."""
        req = self._core.chat_request(payload, url=self._core.url_for(url_or_path),
                                      headers=headers)
        return self._request_json(req)

    def upload_asset(self, data: bytes, mime: str, description: str = "") -> str:
        """Upload bytes to NVCF assets; returns the asset id to reference in a request."""
        req = self._core.asset_create_request(mime, description)
        created = self._request_json(req)
        asset_id, put = self._core.asset_put_request(created, data, mime, description)
        resp = self._send(put)
        body = self._read(resp, put)
        if resp.status_code >= 300:
            raise self._core.error_for(resp, body, put)
        return asset_id

    def list_models(self, *, refresh: bool = False) -> list[dict[str, Any]]:
        """``GET {base}/models`` → the ``data`` list; cached for ``settings.models_ttl`` s."""
        cached = None if refresh else self._core.cached_models()
        if cached is not None:
            return cached
        data = self._request_json(self._core.get_request(f"{self.settings.base_url}/models"))
        return self._core.store_models(data)


class ChatStream:
    """Chunk dicts of a streamed completion. ``close()`` closes the connection; errors after
    output started carry ``.partial_text``. Never retried once a chunk reached the caller."""

    def __init__(self, client: Client, req: _Request) -> None:
        self._client = client
        self._req = req
        self._resp: httpx.Response | None = None
        self._bytes: Iterator[bytes] | None = None
        self._state = _StreamState(client._core, req)
        self.closed = False

    @property
    def request_id(self) -> str | None:
        return self._state.request_id

    @property
    def partial_text(self) -> str:
        return self._state.decoder.partial_text

    @property
    def headers(self) -> httpx.Headers | None:
        return self._resp.headers if self._resp is not None else None

    def open(self) -> None:
        """Send the request and check the status (done by ``stream_chat``)."""
        if self._resp is not None or self.closed:
            return
        resp = self._client._send(self._req, self._state.plan)
        self._resp = resp
        if not self._state.accept(resp):
            raise self._state.refused(resp, self._client._read(resp, self._req))
        if self._state.whole_answer(resp):
            self._state.take_whole(self._client._read(resp, self._req))
            return
        self._bytes = resp.iter_bytes()

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> dict[str, Any]:
        state = self._state
        while True:
            item = state.next_item()
            if isinstance(item, dict):
                return item
            if isinstance(item, NVNBError):
                self.close()
                raise item
            if item is _END:
                if not self.closed:
                    self._drain()
                    self.close()
                raise StopIteration
            if self._resp is None:
                self.open()
                continue
            try:
                with _translate(self._req, reading=True):
                    data = next(self._bytes, None) if self._bytes is not None else None
            except NVNBError as err:
                delay = state.retry_before_output(err)
                if delay is None:
                    state.fail(err)
                    continue
                self._resp.close()
                self._resp = self._bytes = None
                time.sleep(delay)
                continue
            state.received(data)

    def _drain(self) -> None:
        """After [DONE], read the (empty) rest so the connection can go back to the pool.
        (Bounded by the read timeout: a sync read cannot be given a shorter one midway.)"""
        if self._bytes is None:
            return
        with contextlib.suppress(httpx.HTTPError, httpx.StreamError):
            for _, _chunk in zip(range(16), self._bytes, strict=False):
                pass

    def close(self) -> None:
        """Stop: close the connection (an unfinished response is not reused)."""
        self.closed = True
        self._state.closed = True
        if self._resp is not None:
            self._resp.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if not self.closed:
                self.close()


_END = object()
_NEED = object()
_DRAIN_TIMEOUT = 1.0  # async: how long the rest of a body after [DONE] may take


class _StreamState:
    """What a stream does without I/O: status checks, decoding, errors with partial text."""

    def __init__(self, core: _Core, req: _Request) -> None:
        self.core = core
        self.req = req
        self.decoder = ChatStreamDecoder()
        self.queue: deque[dict[str, Any] | NVNBError] = deque()
        self.request_id: str | None = None
        self.eof = False
        self.closed = False
        self.plan = _RetryPlan(core.settings.retry, req.url)  # shared by every (re)open

    def retry_before_output(self, err: NVNBError) -> float | None:
        """A connection that broke before any chunk reached the caller may be tried again;
        once output has started, never. Returns the pause, after resetting the decoder."""
        if self.decoder.chunks_received or self.queue:
            return None
        delay = self.plan.after_error(err)
        if delay is not None:
            self.decoder = ChatStreamDecoder()
        return delay

    def accept(self, resp: httpx.Response) -> bool:
        self.request_id = request_id_from(resp.headers)
        return resp.status_code < 300 and resp.status_code != 202

    def refused(self, resp: httpx.Response, body: bytes) -> NVNBError:
        return self.core.stream_refused(resp, body, self.req)

    def whole_answer(self, resp: httpx.Response) -> bool:
        """A JSON answer to a stream request (e.g. ``stream`` dropped by ``payload_fn``)."""
        ctype = resp.headers.get("content-type", "")
        return "json" in ctype and "event-stream" not in ctype

    def take_whole(self, body: bytes) -> None:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.fail(StreamInterrupted("the answer to a stream request was neither SSE nor JSON"))
            return
        self.request_id = self.request_id or request_id_from(None, data)
        if data.get("error") and not data.get("choices"):
            self.fail(stream_error(data["error"]))
            return
        self.queue.append(_completion_as_chunk(data))
        self.eof = True
        self.decoder.done = True

    def received(self, data: bytes | None) -> None:
        if data is None:
            self.eof = True
            self.queue.extend(self.decoder.finish())
        elif data:
            self.queue.extend(self.decoder.feed(data))

    def fail(self, err: NVNBError) -> None:
        self.queue.append(err)

    def next_item(self) -> Any:
        """A chunk to deliver, an error to raise (annotated), ``_END`` or ``_NEED`` (read more)."""
        if self.closed:
            return _END
        if self.queue:
            item = self.queue.popleft()
            if isinstance(item, NVNBError):
                self.queue.clear()
                self.closed = True
                return self._annotate(item)
            self.decoder.delivered(item)
            return item
        if self.decoder.done or self.eof:
            return _END
        return _NEED

    def _annotate(self, err: NVNBError) -> NVNBError:
        self.decoder.annotate(err)
        err.request_id = err.request_id or self.request_id
        err.model = err.model or self.req.model
        err.url = err.url or self.req.url
        err.args = (err.message,)
        return self.core.scrub(err)


def _completion_as_chunk(data: dict[str, Any]) -> dict[str, Any]:
    """A whole chat completion in the shape of one stream chunk (message → delta)."""
    choices = []
    for i, choice in enumerate(data.get("choices") or []):
        if isinstance(choice, dict):
            choices.append({"index": choice.get("index", i),
                            "delta": choice.get("message") or choice.get("delta") or {},
                            "finish_reason": choice.get("finish_reason")})
    chunk = {k: v for k, v in data.items() if k not in ("choices", "object")}
    chunk["object"] = "chat.completion.chunk"
    chunk["choices"] = choices
    return chunk


# --- the async client ----------------------------------------------------------------------


class AsyncClient(_ClientBase):
    """Asynchronous client: the same API as :class:`Client` (``await``), one pool per event loop."""

    def _attach(self, core: _Core) -> None:
        self._core = core
        self._pools: dict[Any, tuple[weakref.ref[Any], httpx.AsyncClient]] = {}

    def _pool(self) -> httpx.AsyncClient:
        core = self._core
        loop = _current_loop()
        key = core.pool_key()
        make = lambda: httpx.AsyncClient(**core.pool_options())  # noqa: E731
        if core.shared_pool:
            with _shared_lock:
                return _loop_pool(_shared_async, (id(loop), *key), loop, make)
        return _loop_pool(self._pools, (id(loop), *key), loop, make)

    def pool_stats(self) -> dict[str, int]:
        """Open connections of this event loop's pool: ``connections``, ``active``, ``idle``."""
        return _pool_stats(self._pool()._transport)

    async def aclose(self) -> None:
        """Close this client's own pool(s) (a shared pool stays open for others)."""
        pools, self._pools = self._pools, {}
        loop = asyncio.get_running_loop()
        for ref, pool in pools.values():
            if ref() is loop:
                await pool.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __getstate__(self) -> dict[str, Any]:
        return {"_core": self._core, "_pools": {}}

    # I/O -------------------------------------------------------------------------------

    async def _send(self, req: _Request, plan: _RetryPlan | None = None) -> httpx.Response:
        plan = plan or _RetryPlan(self._core.settings.retry, req.url)
        http = self._pool()
        while True:
            log.debug("%s %s", req.method, req.url)
            try:
                with _translate(req):
                    resp = await http.send(req.build(http), stream=True)
            except NVNBError as err:
                delay = plan.after_error(err)
                if delay is None:
                    raise
                await asyncio.sleep(delay)
                continue
            log.debug("%s %s -> %d", req.method, req.url, resp.status_code)
            delay = plan.after_status(resp.status_code, resp.headers)
            if delay is None:
                return resp
            await resp.aclose()
            await asyncio.sleep(delay)

    async def _read(self, resp: httpx.Response, req: _Request) -> bytes:
        try:
            with _translate(req, reading=True):
                return await resp.aread()
        finally:
            await resp.aclose()

    async def _request_json(self, req: _Request) -> ChatResponse:
        resp = await self._send(req)
        if resp.status_code == 202:
            plan = _PollPlan(self._core, req)
            while resp.status_code == 202:
                await self._read(resp, req)
                poll, pause = plan.next(resp.headers)
                await asyncio.sleep(pause)
                resp = await self._send(poll)
            return self._core.json_response(resp, await self._read(resp, req), req,
                                            plan.request_id)
        return self._core.json_response(resp, await self._read(resp, req), req)

    # API -------------------------------------------------------------------------------

    async def chat(self, payload: Mapping[str, Any], *,
                   headers: Mapping[str, str] | None = None) -> ChatResponse:
        """POST a chat completion (202 answers are polled); the JSON answer as a dict."""
        return await self._request_json(self._core.chat_request(payload, headers=headers))

    def stream_chat(self, payload: Mapping[str, Any], *,
                    headers: Mapping[str, str] | None = None) -> AsyncChatStream:
        """A streamed chat completion: ``async for chunk in client.stream_chat(p)``, or
        ``stream = await client.stream_chat(p)`` to start it (and see errors) first."""
        req = self._core.chat_request(payload, stream=True, headers=headers)
        return AsyncChatStream(self, req)

    async def nvcf_chat(self, function_id: str, payload: Mapping[str, Any], *,
                        headers: Mapping[str, str] | None = None) -> ChatResponse:
        req = self._core.chat_request(payload, url=self._core.nvcf_url(function_id),
                                      headers=headers)
        return await self._request_json(req)

    async def post_json(self, url_or_path: str, payload: Mapping[str, Any], *,
                        headers: Mapping[str, str] | None = None) -> ChatResponse:
        req = self._core.chat_request(payload, url=self._core.url_for(url_or_path),
                                      headers=headers)
        return await self._request_json(req)

    async def upload_asset(self, data: bytes, mime: str, description: str = "") -> str:
        req = self._core.asset_create_request(mime, description)
        created = await self._request_json(req)
        asset_id, put = self._core.asset_put_request(created, data, mime, description)
        resp = await self._send(put)
        body = await self._read(resp, put)
        if resp.status_code >= 300:
            raise self._core.error_for(resp, body, put)
        return asset_id

    async def list_models(self, *, refresh: bool = False) -> list[dict[str, Any]]:
        cached = None if refresh else self._core.cached_models()
        if cached is not None:
            return cached
        req = self._core.get_request(f"{self.settings.base_url}/models")
        return self._core.store_models(await self._request_json(req))


class AsyncChatStream:
    """Async iterator of chunk dicts; ``await`` it to start, ``aclose()`` closes the connection."""

    def __init__(self, client: AsyncClient, req: _Request) -> None:
        self._client = client
        self._req = req
        self._resp: httpx.Response | None = None
        self._bytes: AsyncIterator[bytes] | None = None
        self._state = _StreamState(client._core, req)
        self.closed = False

    @property
    def request_id(self) -> str | None:
        return self._state.request_id

    @property
    def partial_text(self) -> str:
        return self._state.decoder.partial_text

    @property
    def headers(self) -> httpx.Headers | None:
        return self._resp.headers if self._resp is not None else None

    async def open(self) -> AsyncChatStream:
        if self._resp is not None or self.closed:
            return self
        resp = await self._client._send(self._req, self._state.plan)
        self._resp = resp
        if not self._state.accept(resp):
            raise self._state.refused(resp, await self._client._read(resp, self._req))
        if self._state.whole_answer(resp):
            self._state.take_whole(await self._client._read(resp, self._req))
            return self
        self._bytes = resp.aiter_bytes()
        return self

    def __await__(self) -> Any:
        return self.open().__await__()

    def __aiter__(self) -> AsyncChatStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        state = self._state
        while True:
            item = state.next_item()
            if isinstance(item, dict):
                return item
            if isinstance(item, NVNBError):
                await self.aclose()
                raise item
            if item is _END:
                if not self.closed:
                    await self._drain()
                    await self.aclose()
                raise StopAsyncIteration
            if self._resp is None:
                await self.open()
                continue
            try:
                with _translate(self._req, reading=True):
                    data = await anext(self._bytes, None) if self._bytes is not None else None
            except NVNBError as err:
                delay = state.retry_before_output(err)
                if delay is None:
                    state.fail(err)
                    continue
                await self._resp.aclose()
                self._resp = self._bytes = None
                await asyncio.sleep(delay)
                continue
            state.received(data)

    async def _drain(self) -> None:
        if self._bytes is None:
            return
        with contextlib.suppress(httpx.HTTPError, httpx.StreamError, asyncio.TimeoutError):
            for _ in range(16):
                # a server that keeps the body open after [DONE] costs at most this long
                if await asyncio.wait_for(anext(self._bytes, None), _DRAIN_TIMEOUT) is None:
                    break

    async def aclose(self) -> None:
        """Stop: close the connection (an unfinished response is not reused)."""
        self.closed = True
        self._state.closed = True
        if self._resp is not None:
            await self._resp.aclose()

    async def __aenter__(self) -> AsyncChatStream:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
