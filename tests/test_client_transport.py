"""TLS verification (bool or CA bundle, CA variables from the environment) and proxies from the
environment, over real sockets: a small HTTPS server with a throwaway certificate, and a small
forwarding proxy in front of nvnb's local server."""

from __future__ import annotations

import http.client
import http.server
import json
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from nvnb import errors as E
from nvnb.client import AsyncClient, Client
from nvnb.server import LocalServer

MODELS = {"object": "list", "data": [{"id": "tls/model", "object": "model"}]}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "NVIDIA_API_KEY",
        "NVIDIA_BASE_URL",
        "NVNB_LOCAL",
        "NVNB_HOSTED_ORIGIN",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ):
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _ModelsHandler(_Quiet):
    def do_GET(self) -> None:
        data = json.dumps(MODELS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _serve(server: http.server.HTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a throwaway certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_base_url(certificate: tuple[Path, Path]) -> Iterator[str]:
    cert, key = certificate
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ModelsHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _serve(server)
    yield f"https://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_an_unknown_certificate_is_refused_by_default(tls_base_url: str) -> None:
    with Client(base_url=tls_base_url, max_retries=0) as c, pytest.raises(E.ConnectError) as info:
        c.list_models()
    assert "127.0.0.1" in str(info.value)


def test_verify_ssl_takes_a_ca_bundle_path(
    tls_base_url: str, certificate: tuple[Path, Path]
) -> None:
    with Client(base_url=tls_base_url, verify_ssl=str(certificate[0])) as c:
        assert c.list_models()[0]["id"] == "tls/model"


def test_verify_ssl_false_skips_verification(tls_base_url: str) -> None:
    with Client(base_url=tls_base_url, verify_ssl=False) as c:
        assert c.list_models()[0]["id"] == "tls/model"


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_a_ca_bundle_from_the_environment_is_honoured(
    tls_base_url: str,
    certificate: tuple[Path, Path],
    variable: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(certificate[0]))
    with Client(base_url=tls_base_url) as c:
        assert c.list_models()[0]["id"] == "tls/model"


def test_the_trust_store_is_loaded_once_and_again_when_the_environment_changes(
    tls_base_url: str, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    client = AsyncClient(base_url=tls_base_url, max_retries=0)

    async def one_loop() -> object:  # a pool per event loop, each on the shared context
        try:
            assert (await client.list_models(refresh=True))[0]["id"] == "tls/model"
            return client._pool()._transport.inner.ssl_context
        finally:
            await client.aclose()

    first, second = asyncio.run(one_loop()), asyncio.run(one_loop())
    assert first is second
    monkeypatch.delenv("SSL_CERT_FILE")  # the bundle is gone: our certificate is unknown again
    with Client(base_url=tls_base_url, max_retries=0) as c, pytest.raises(E.ConnectError):
        c.list_models()


# --- proxies -----------------------------------------------------------------------------


class _ForwardingProxy(_Quiet):
    """A plain-HTTP forward proxy: absolute-form request lines, forwarded as they are."""

    seen: list[str]

    def _forward(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        conn.request(self.command, target.path or "/", body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        self.send_response(resp.status)
        for name, value in resp.getheaders():
            if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        conn.close()

    do_GET = do_POST = _forward


@pytest.fixture(scope="module")
def proxy() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_ForwardingProxy,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    _serve(server)
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


@pytest.fixture
def local(nvnb_server: LocalServer) -> LocalServer:
    return nvnb_server


def test_a_proxy_from_the_environment_is_used(
    proxy: tuple[str, list[str]],
    local: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, seen = proxy
    seen.clear()
    monkeypatch.setenv("HTTP_PROXY", url)
    with Client(base_url=local.base_url) as c:
        answer = c.chat(
            {
                "model": "meta/llama-3.1-8b-instruct",
                "messages": [{"role": "user", "content": "via proxy"}],
            }
        )
    assert "local nvnb server" in answer["choices"][0]["message"]["content"]
    assert seen == [f"POST {local.base_url}/chat/completions"]


def test_no_proxy_from_the_environment_is_honoured(
    proxy: tuple[str, list[str]],
    local: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, seen = proxy
    seen.clear()
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Client(base_url=local.base_url) as c:
        c.list_models()
    assert seen == []


# --- redirects ---------------------------------------------------------------------------


@pytest.fixture
def redirector(nvnb_server: LocalServer) -> Iterator[str]:
    """A server on another port that sends every request to nvnb's local server (302)."""
    target = nvnb_server.origin

    class Redirect(_Quiet):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    _serve(server)
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_redirects_are_followed_without_our_key_leaving_the_origin(
    redirector: str,
    nvnb_server: LocalServer,
) -> None:
    with Client("nvapi-test-sentinel-key-0123456789", redirector) as c:
        assert c.list_models()
    (req,) = nvnb_server.requests
    assert req.path == "/v1/models" and not req.has_auth


# --- a server that keeps the stream open after [DONE] ------------------------------------


@pytest.fixture
def lingering_sse() -> Iterator[str]:
    class Linger(_Quiet):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            event = {"choices": [{"index": 0, "delta": {"content": "done soon"}}]}
            for data in (f"data: {json.dumps(event)}\n\n", "data: [DONE]\n\n"):
                raw = data.encode()
                self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                self.wfile.flush()
            threading.Event().wait(8)  # the body never ends in time

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Linger)
    server.daemon_threads = True
    _serve(server)
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


async def test_an_async_stream_ends_soon_after_done_even_if_the_body_stays_open(
    lingering_sse: str,
) -> None:
    async with AsyncClient(base_url=lingering_sse) as c:
        started = time.monotonic()
        chunks = [x async for x in c.stream_chat({"model": "m", "messages": [], "stream": True})]
        assert time.monotonic() - started < 4
        assert chunks[0]["choices"][0]["delta"]["content"] == "done soon"
        assert c.pool_stats()["active"] == 0
