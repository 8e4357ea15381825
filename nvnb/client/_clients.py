"""``Client`` and ``AsyncClient``: one constructor, then only sending, sleeping and reading.

Everything else is beside them in this package: request building and answers in ``_core``
(``ClientCore``, shared by a Client and its ``.aio``), the error boundary in ``_boundary``,
retry and NVCF polling decisions in ``_retry``, pools in ``_pools`` (transports in
``_transport``), streams in ``_streams`` and the SSE parser in ``sse``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from nvnb.calls.record import BODY_EXTENSION, RETRY_EXTENSION
from nvnb.client._boundary import translate_errors
from nvnb.client._core import ClientCore, PayloadFn
from nvnb.client._exchange import ChatResponse, Request, release
from nvnb.client._pools import (
    LoopPools,
    current_loop,
    loop_pool,
    make_async_pool,
    make_sync_pool,
    pool_key,
    pool_stats,
    shared_async_pool,
    shared_sync_pool,
)
from nvnb.client._retry import PollPlan, RetryPlan
from nvnb.client._streams import AsyncChatStream, ChatStream
from nvnb.errors import ConfigurationError, NVNBError
from nvnb.settings import RetryPolicy, Settings, Timeouts

__all__ = ["AsyncChatStream", "AsyncClient", "ChatResponse", "ChatStream", "Client"]

log = logging.getLogger("nvnb.client")


class _ClientBase:
    """The constructor and attributes both clients share, read from (and written to) the core."""

    _core: ClientCore

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
        max_connections: int | None = None,
    ) -> None:
        """``api_key``/``base_url`` as in :func:`nvnb.settings.resolve_settings` (left out: the
        process key and the embedded default, followed when the key changes). ``timeout`` is
        seconds or :class:`Timeouts`; ``retry`` a :class:`RetryPolicy`; ``verify_ssl`` a bool or
        a CA bundle path; ``hosted_origin`` moves hosted URLs onto another server (testing);
        ``shared_pool`` uses one process-wide pool (per event loop for async);
        ``max_connections`` bounds the connections a pool opens (default
        ``Settings.max_connections``, 100: more requests than that wait for a free one)."""
        arguments = dict(locals())
        del arguments["self"]
        self._core = ClientCore(arguments)
        self._attach(self._core)

    def _attach(self, core: ClientCore) -> None:
        raise NotImplementedError

    @classmethod
    def _on_core(cls, core: ClientCore) -> Any:
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

    def _attach(self, core: ClientCore) -> None:
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
        key = pool_key(core.settings)
        if core.shared_pool:
            return shared_sync_pool(key, lambda: make_sync_pool(core.settings))
        with core._lock:
            if self._http is None or self._http.is_closed or self._http_key != key:
                if self._http is not None:
                    self._http.close()
                self._http = make_sync_pool(core.settings)
                self._http_key = key
            return self._http

    def pool_stats(self) -> dict[str, int]:
        """Open connections of this client's pool: ``connections``, ``active``, ``idle``."""
        return pool_stats(self._pool())

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

    def _send(self, req: Request, plan: RetryPlan | None = None) -> httpx.Response:
        """Send with retries; returns the response with its body unread (caller closes it)."""
        plan = plan or RetryPlan(self._core.settings.retry, req.url)
        http = self._pool()
        while True:
            log.debug("%s %s", req.method, req.url)
            try:
                with translate_errors(req):
                    resp = http.send(req.build(http, {RETRY_EXTENSION: plan.note}), stream=True)
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
            release(resp)
            time.sleep(delay)

    def _read(self, resp: httpx.Response, req: Request) -> bytes:
        try:
            with translate_errors(req, reading=True):
                return resp.read()
        finally:
            resp.close()
            release(resp)

    def _request_json(self, req: Request) -> ChatResponse:
        resp = self._send(req)
        if resp.status_code == 202:
            plan = PollPlan(self._core.settings.timeout, req, self._core.poll_request)
            while resp.status_code == 202:
                self._read(resp, req)
                poll, pause = plan.next(resp.headers)
                time.sleep(pause)
                resp = self._send(poll)
            return self._core.json_response(resp, self._read(resp, req), req, plan.request_id)
        return self._core.json_response(resp, self._read(resp, req), req)

    # API -------------------------------------------------------------------------------

    def chat(
        self, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> ChatResponse:
        """POST a chat completion (202 answers are polled); the JSON answer as a dict."""
        return self._request_json(self._core.chat_request(payload, headers=headers))

    def stream_chat(
        self, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> ChatStream:
        """Start a streamed chat completion: an iterator of chunk dicts. Errors before the
        first chunk raise here; ``close()`` (or leaving ``with``) closes the connection."""
        req = self._core.chat_request(payload, stream=True, headers=headers)
        stream = ChatStream(self._core, req, self._send, self._read)
        stream.open()
        return stream

    def nvcf_chat(
        self,
        function_id: str,
        payload: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> ChatResponse:
        """Invoke an NVCF function (``pexec/functions/{id}``), polling 202 answers."""
        return self._request_json(self._core.nvcf_request(function_id, payload, headers))

    def post_json(
        self,
        url_or_path: str,
        payload: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> ChatResponse:
        """POST any JSON body (``payload_fn``, retries, polling and errors as for chat);
        a relative path joins the base URL (``"embeddings"``, ``"ranking"``)."""
        return self._request_json(self._core.post_request(url_or_path, payload, headers))

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
        return self._core.store_models(self._request_json(self._core.models_request()))


class AsyncClient(_ClientBase):
    """Asynchronous client: the same API as :class:`Client` (``await``), one pool per event loop."""

    def _attach(self, core: ClientCore) -> None:
        self._core = core
        self._pools: LoopPools = {}

    def _pool(self) -> httpx.AsyncClient:
        core = self._core
        loop = current_loop()
        key = (id(loop), *pool_key(core.settings))

        def make() -> httpx.AsyncClient:
            return make_async_pool(core.settings)

        if core.shared_pool:
            return shared_async_pool(key, loop, make)
        return loop_pool(self._pools, key, loop, make)

    def pool_stats(self) -> dict[str, int]:
        """Open connections of this event loop's pool: ``connections``, ``active``, ``idle``."""
        return pool_stats(self._pool())

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

    async def _send(self, req: Request, plan: RetryPlan | None = None) -> httpx.Response:
        plan = plan or RetryPlan(self._core.settings.retry, req.url)
        http = self._pool()
        while True:
            log.debug("%s %s", req.method, req.url)
            try:
                with translate_errors(req):
                    resp = await http.send(
                        req.build(http, {RETRY_EXTENSION: plan.note}), stream=True
                    )
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
            release(resp)
            await asyncio.sleep(delay)

    async def _read(self, resp: httpx.Response, req: Request) -> bytes:
        """The whole body; through the transport's one-read access when it offers it
        (``BODY_EXTENSION``: no httpx stream layers), else httpx's ``aread``."""
        try:
            with translate_errors(req, reading=True):
                body = resp.extensions.get(BODY_EXTENSION)
                if body is None:
                    return await resp.aread()
                parts = []
                while chunk := await body.read_chunk():
                    parts.append(chunk)
                return b"".join(parts)
        finally:
            await resp.aclose()
            release(resp)

    async def _request_json(self, req: Request) -> ChatResponse:
        resp = await self._send(req)
        if resp.status_code == 202:
            plan = PollPlan(self._core.settings.timeout, req, self._core.poll_request)
            while resp.status_code == 202:
                await self._read(resp, req)
                poll, pause = plan.next(resp.headers)
                await asyncio.sleep(pause)
                resp = await self._send(poll)
            return self._core.json_response(resp, await self._read(resp, req), req, plan.request_id)
        return self._core.json_response(resp, await self._read(resp, req), req)

    # API -------------------------------------------------------------------------------

    async def chat(
        self, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> ChatResponse:
        """POST a chat completion (202 answers are polled); the JSON answer as a dict."""
        return await self._request_json(self._core.chat_request(payload, headers=headers))

    def stream_chat(
        self, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> AsyncChatStream:
        """A streamed chat completion: ``async for chunk in client.stream_chat(p)``, or
        ``stream = await client.stream_chat(p)`` to start it (and see errors) first."""
        req = self._core.chat_request(payload, stream=True, headers=headers)
        return AsyncChatStream(self._core, req, self._send, self._read)

    async def nvcf_chat(
        self,
        function_id: str,
        payload: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> ChatResponse:
        return await self._request_json(self._core.nvcf_request(function_id, payload, headers))

    async def post_json(
        self,
        url_or_path: str,
        payload: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> ChatResponse:
        return await self._request_json(self._core.post_request(url_or_path, payload, headers))

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
        return self._core.store_models(await self._request_json(self._core.models_request()))
