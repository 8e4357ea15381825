"""``Request.build``: the httpx request a client sends, made without httpx's header merge but
equal to what that merge gives; cookies a server sets still go back to it."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import httpx
import pytest

from nvnb.client import Client
from nvnb.client._exchange import Request
from nvnb.client._pools import make_async_pool, make_sync_pool
from nvnb.server import LocalServer
from nvnb.settings import resolve_settings

KEY = "nvapi-" + "k" * 60


def _request(**headers: str) -> Request:
    return Request(
        "POST",
        "http://127.0.0.1:9/v1/chat/completions",
        {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **headers},
        b'{"model": "m"}',
        "m",
        httpx.Timeout(5.0, read=7.0),
    )


@pytest.mark.parametrize("make_pool", [make_sync_pool, make_async_pool])
@pytest.mark.parametrize(
    "extra", [{}, {"Accept": "text/event-stream"}, {"user-agent": "mine/1.0", "X-Extra": "1"}]
)
def test_a_built_request_is_what_httpx_merge_builds(make_pool, extra) -> None:
    pool = make_pool(resolve_settings(api_key=KEY, base_url="http://127.0.0.1:9/v1"))
    req = _request(**extra)
    ours = req.build(pool, {"nvnb.retry": "note"})
    theirs = pool.build_request(
        req.method,
        req.url,
        headers=req.headers,
        content=req.content,
        timeout=req.timeout,
        extensions={"nvnb.retry": "note"},
    )
    assert ours.headers.raw == theirs.headers.raw  # names, case, order and values
    assert (ours.method, ours.url, ours.content) == (theirs.method, theirs.url, theirs.content)
    assert ours.extensions == theirs.extensions


def test_the_pool_timeout_applies_when_the_request_has_none() -> None:
    pool = make_sync_pool(resolve_settings(api_key=KEY, base_url="http://127.0.0.1:9/v1"))
    req = _request()
    req.timeout = None
    assert req.build(pool).extensions["timeout"] == pool.timeout.as_dict()


class _CookieHandler(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        _CookieHandler.seen.append(self.headers.get("Cookie"))
        body = b'{"object": "list", "data": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if len(_CookieHandler.seen) == 1:
            self.send_header("Set-Cookie", "session=abc123; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def cookie_server() -> Iterator[str]:
    _CookieHandler.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CookieHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_cookie_the_server_sets_is_sent_back(cookie_server: str) -> None:
    with Client(api_key=KEY, base_url=cookie_server) as client:
        client.list_models(refresh=True)
        client.list_models(refresh=True)
    assert _CookieHandler.seen == [None, "session=abc123"]


def test_requests_reach_the_server_with_our_headers() -> None:
    with LocalServer() as server, Client(api_key=KEY, base_url=str(server)) as client:
        client.chat(
            {"model": "meta/llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "hi"}]}
        )
        sent = server.requests[-1].headers
    names = {k.lower(): v for k, v in sent.items()}
    assert names["user-agent"].startswith("nvnb/")
    assert names["content-type"] == "application/json"
    assert names["accept"] == "application/json"
    assert "authorization" in names  # (redacted in recordings)
