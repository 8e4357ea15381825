"""Where the transport under every nvnb pool is made: :func:`make_transport`, the one place.

Sync pools use urllib3 underneath (``nvnb.client._urllib3``: per network read, httpcore's sync
path measured about twice urllib3's, and a stream is one small read per token). Async pools
use aiohttp underneath, through the ``httpx-aiohttp`` transport (the route OpenAI's SDK offers
for the same reason):
measured in ``bench/`` (load), httpcore's async pool does work quadratic in the number of queued
requests once more are waiting than it has connections (500 streams over 100 connections: 5-10×
slower than raw aiohttp), while aiohttp's connector queues them in order at no extra cost. httpx
stays the API above it; aiohttp's exceptions arrive as httpx's with the aiohttp one as
``__cause__``, which ``nvnb.client._boundary`` reads to name what really happened.

A hook for what wraps the transport (a call log, a response cache): wrap the value
``make_transport`` returns (an ``httpx.BaseTransport`` or ``httpx.AsyncBaseTransport``); every
sync and async pool, shared or not, proxied or not, is built on it, so a wrapper sees every
request nvnb sends (retries, NVCF polls and asset uploads included) and may answer one itself.
"""

from __future__ import annotations

import functools
import os
import ssl

import httpx

from nvnb.calls.transport import observe
from nvnb.settings import Settings


def make_transport(
    settings: Settings, *, asynchronous: bool, proxy: str | None = None
) -> httpx.BaseTransport | httpx.AsyncBaseTransport:
    """The transport for one pool (or, with ``proxy``, for the URLs that go through that
    proxy): TLS verification as settings say, at most ``settings.max_connections`` open."""
    limits = httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=min(20, settings.max_connections),
    )
    options = dict(verify=_tls(settings), trust_env=settings.trust_env, limits=limits)
    # the call log and the response cache see every request through this wrapper
    if asynchronous:
        # imports aiohttp: only when a pool is made
        from nvnb.client._aiohttp import LeanAiohttpTransport

        return observe(
            LeanAiohttpTransport(  # type: ignore[arg-type]
                proxy=httpx.Proxy(proxy) if proxy else None, **options
            )
        )
    from nvnb.client._urllib3 import Urllib3Transport

    verify = options["verify"]
    return observe(
        Urllib3Transport(
            ssl_context=verify if isinstance(verify, ssl.SSLContext) else None,
            verify=verify is not False,
            max_connections=settings.max_connections,
            proxy=proxy,
        )
    )


def transport_stats(transport: object) -> dict[str, int]:
    """Open connections under a transport: ``connections``, ``active``, ``idle``."""
    own = getattr(transport, "stats", None)  # nvnb's urllib3 transport counts its own
    if callable(own):
        return own()
    stats = {"connections": 0, "active": 0, "idle": 0}
    session = getattr(transport, "client", None)  # httpx-aiohttp: an aiohttp ClientSession
    connector = getattr(session, "connector", None)
    if connector is not None and hasattr(connector, "_acquired"):
        # aiohttp keeps no public count; these two are its connector's own bookkeeping
        stats["active"] = len(connector._acquired)
        stats["idle"] = sum(len(conns) for conns in connector._conns.values())
        stats["connections"] = stats["active"] + stats["idle"]
        return stats
    for conn in getattr(getattr(transport, "_pool", None), "connections", []):  # httpcore
        if conn.is_closed():
            continue
        stats["connections"] += 1
        stats["idle" if conn.is_idle() else "active"] += 1
    return stats


def make_mounts(
    settings: Settings, *, asynchronous: bool
) -> dict[str, httpx.BaseTransport | httpx.AsyncBaseTransport | None]:
    """Per-URL-pattern transports for the proxies in the environment (``HTTP_PROXY``,
    ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) when ``trust_env``: httpx reads them only
    for a client without a transport of its own, so a pool on ours mounts them itself."""
    if not settings.trust_env:
        return {}
    # httpx's own reading of the environment, so nvnb's proxies are exactly httpx's
    from httpx._utils import get_environment_proxies

    return {
        pattern: None
        if url is None
        else make_transport(settings, asynchronous=asynchronous, proxy=url)
        for pattern, url in get_environment_proxies().items()
    }


# the environment variables that choose the trust store (read by _ssl_verify and by httpx)
_TLS_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _tls(settings: Settings) -> bool | ssl.SSLContext:
    """False (no verification) or the SSL context for a pool, one per trust store: loading
    the CA bundle costs 30-60 ms, and an async pool is made per event loop (each
    ``asyncio.run``). A context is safe to share between connections and threads."""
    env = tuple(os.environ.get(name) for name in _TLS_ENV) if settings.trust_env else ()
    return _tls_for(settings.verify_ssl, settings.trust_env, env)


@functools.lru_cache(maxsize=16)
def _tls_for(
    verify_ssl: bool | str, trust_env: bool, env: tuple[str | None, ...]
) -> bool | ssl.SSLContext:
    verify = _ssl_verify(verify_ssl, trust_env)
    if verify is True:  # httpx's default trust store (certifi, or SSL_CERT_FILE/DIR)
        return httpx.create_ssl_context(verify=True, trust_env=trust_env)
    return verify


def _ssl_verify(verify: bool | str, trust_env: bool) -> bool | ssl.SSLContext:
    if verify is False:
        return False
    if isinstance(verify, str):
        return _ca_context(verify)
    if trust_env and not (os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")):
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            path = os.environ.get(name)
            if path and os.path.exists(path):
                return _ca_context(path)
    return True  # httpx: SSL_CERT_FILE / SSL_CERT_DIR when trust_env, else certifi


def _ca_context(path: str) -> ssl.SSLContext:
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)
