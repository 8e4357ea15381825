"""Connection pools: how an httpx pool is made from settings, the process-wide shared pools
(``shared_pool=True``; async ones per event loop) and what a pool has open (``pool_stats``)."""

from __future__ import annotations

import asyncio
import atexit
import os
import ssl
import threading
import weakref
from collections.abc import Callable
from typing import Any

import httpx

from nvnb._http import USER_AGENT, httpx_timeout
from nvnb.call_transport import observe_pool
from nvnb.settings import Settings

# an async pool, and the event loop it belongs to (weakly: a closed loop's pool is dropped)
LoopPools = dict[Any, tuple[weakref.ref[Any], httpx.AsyncClient]]

_shared_sync: dict[tuple[Any, ...], httpx.Client] = {}
_shared_async: LoopPools = {}
_shared_lock = threading.Lock()


def pool_key(settings: Settings) -> tuple[Any, ...]:
    """What makes two pools different: settings that change how connections are opened."""
    return (settings.verify_ssl, settings.trust_env)


def pool_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client``/``httpx.AsyncClient``."""
    # Redirects are followed (NVCF answers large results with a redirect to storage);
    # httpx drops Authorization when a redirect leaves the origin.
    return dict(
        verify=_ssl_verify(settings),
        trust_env=settings.trust_env,
        timeout=httpx_timeout(settings.timeout),
        follow_redirects=True,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": USER_AGENT},
    )


def new_sync_pool(settings: Settings) -> httpx.Client:
    """A new sync pool; its transport logs calls and serves the response cache."""
    return observe_pool(httpx.Client(**pool_options(settings)))


def new_async_pool(settings: Settings) -> httpx.AsyncClient:
    """A new async pool; its transport logs calls and serves the response cache."""
    return observe_pool(httpx.AsyncClient(**pool_options(settings)))


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
    table[key] = (weakref.ref(loop), pool)
    return pool


def pool_stats(http: httpx.Client | httpx.AsyncClient) -> dict[str, int]:
    """Open connections of a pool: ``connections``, ``active``, ``idle``."""
    transport = http._transport
    connections = getattr(getattr(transport, "_pool", None), "connections", [])
    stats = {"connections": 0, "active": 0, "idle": 0}
    for conn in connections:
        if conn.is_closed():
            continue
        stats["connections"] += 1
        stats["idle" if conn.is_idle() else "active"] += 1
    return stats


def _ssl_verify(settings: Settings) -> bool | ssl.SSLContext:
    verify = settings.verify_ssl
    if verify is False:
        return False
    if isinstance(verify, str):
        return _ca_context(verify)
    if settings.trust_env and not (
        os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")
    ):
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            path = os.environ.get(name)
            if path and os.path.exists(path):
                return _ca_context(path)
    return True  # httpx: SSL_CERT_FILE / SSL_CERT_DIR when trust_env, else certifi


def _ca_context(path: str) -> ssl.SSLContext:
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)
