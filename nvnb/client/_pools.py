"""Connection pools: an httpx client made from settings over the transport of
``nvnb.client._transport``, the process-wide shared pools (``shared_pool=True``; async ones per
event loop) and what a pool has open (``pool_stats``)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from nvnb.client._exchange import USER_AGENT, httpx_timeout
from nvnb.client._transport import make_mounts, make_transport, transport_stats
from nvnb.settings import Settings

# an async pool, and the event loop it belongs to (weakly: a closed loop's pool is dropped)
LoopPools = dict[Any, tuple[weakref.ref[Any], httpx.AsyncClient]]

_shared_sync: dict[tuple[Any, ...], httpx.Client] = {}
_shared_async: LoopPools = {}
_shared_lock = threading.Lock()


def pool_key(settings: Settings) -> tuple[Any, ...]:
    """What makes two pools different: settings that change how connections are opened."""
    return (settings.verify_ssl, settings.trust_env, settings.max_connections)


def _client_options(settings: Settings) -> dict[str, Any]:
    # Redirects are followed (NVCF answers large results with a redirect to storage);
    # httpx drops Authorization when a redirect leaves the origin.
    return dict(
        trust_env=settings.trust_env,
        timeout=httpx_timeout(settings.timeout),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    )


class _CookiesWhenSet(httpx.Cookies):
    """httpx's cookie jar, read only from responses that set a cookie: httpx hands every
    response to ``http.cookiejar`` (measured ~230 µs each in ``bench/`` load, a fifth of a short
    stream's client CPU), which finds nothing when there is no ``Set-Cookie`` header."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


def make_sync_pool(settings: Settings) -> httpx.Client:
    """A sync pool: ``httpx.Client`` over :func:`make_transport`."""
    pool = httpx.Client(
        transport=make_transport(settings, asynchronous=False),  # type: ignore[arg-type]
        mounts=make_mounts(settings, asynchronous=False),  # type: ignore[arg-type]
        **_client_options(settings),
    )
    pool._cookies = _CookiesWhenSet()  # the `cookies` setter would copy it into a plain jar
    return pool


def make_async_pool(settings: Settings) -> httpx.AsyncClient:
    """An async pool: ``httpx.AsyncClient`` over :func:`make_transport`."""
    pool = httpx.AsyncClient(
        transport=make_transport(settings, asynchronous=True),  # type: ignore[arg-type]
        mounts=make_mounts(settings, asynchronous=True),  # type: ignore[arg-type]
        **_client_options(settings),
    )
    pool._cookies = _CookiesWhenSet()
    return pool


def shared_sync_pool(key: tuple[Any, ...], make: Callable[[], httpx.Client]) -> httpx.Client:
    """The process-wide pool for ``key`` (made again if it was closed)."""
    with _shared_lock:
        pool = _shared_sync.get(key)
        if pool is None or pool.is_closed:
            pool = _shared_sync[key] = make()
        return pool


def shared_async_pool(
    key: tuple[Any, ...], loop: asyncio.AbstractEventLoop, make: Callable[[], httpx.AsyncClient]
) -> httpx.AsyncClient:
    """The process-wide async pool for ``key`` on this event loop."""
    with _shared_lock:
        return loop_pool(_shared_async, key, loop, make)


@atexit.register
def _close_shared_pools() -> None:
    with _shared_lock:
        for pool in _shared_sync.values():
            pool.close()
        _shared_sync.clear()


def current_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def loop_pool(
    table: LoopPools,
    key: Any,
    loop: asyncio.AbstractEventLoop,
    make: Callable[[], httpx.AsyncClient],
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
    _close_with_loop(pool)
    table[key] = (weakref.ref(loop), pool)
    return pool


def _close_with_loop(pool: httpx.AsyncClient) -> None:
    """Close ``pool`` when its event loop shuts down (``asyncio.run`` and pytest's loops call
    ``shutdown_asyncgens`` first), so a pool nobody closed (a ChatNVIDIA's, per loop) leaves no
    connection or aiohttp session open behind its loop. A suspended async generator is the only
    hook asyncio offers for that; the pool holds it, and closing twice is harmless."""

    async def closer() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await pool.aclose()

    agen = closer()
    step = agen.__anext__()  # the first step registers it with the running loop
    with contextlib.suppress(StopIteration):
        step.send(None)
    pool._nvnb_closer = agen  # type: ignore[attr-defined]


def pool_stats(http: httpx.Client | httpx.AsyncClient) -> dict[str, int]:
    """Open connections of a pool: ``connections``, ``active``, ``idle``."""
    return transport_stats(http._transport)
