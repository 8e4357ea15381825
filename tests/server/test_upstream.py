"""``nvnb serve --upstream``: requests forwarded to a real server, faults applied on the way back.

Here the upstream is nvnb's own local server (deterministic and fast); tests/llama runs the same
proxy in front of llama.cpp's llama-server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from server_helpers import chat_body
from test_serve_command import serving

from nvnb import ChatNVIDIA
from nvnb import errors as E
from nvnb.server import LocalServer
from nvnb.server.upstream import target_url, upstream_key

MODEL = "meta/llama-3.1-8b-instruct"
KEY = "nvapi-upstream-secret-0123456789abcdef"


@pytest.fixture
def upstream() -> Iterator[LocalServer]:
    with LocalServer(auth_key=KEY) as server:
        yield server


@pytest.fixture
def proxy(upstream: LocalServer) -> Iterator[LocalServer]:
    with LocalServer(upstream=upstream.base_url, upstream_key=KEY) as server:
        yield server


def llm(proxy: LocalServer, fault: str | None = None, **kw: Any) -> ChatNVIDIA:
    headers = {"X-NVNB-Fault": fault} if fault else {}
    return ChatNVIDIA(model=MODEL, base_url=proxy.base_url, default_headers=headers, **kw)


@pytest.mark.parametrize(
    ("upstream_url", "path", "want"),
    [
        ("http://h:1/v1", "/v1/chat/completions", "http://h:1/v1/chat/completions"),
        ("http://h:1/nim/v1", "/v1/models", "http://h:1/nim/v1/models"),
        ("http://h:1/v1", "/v2/nvcf/pexec/status/x", "http://h:1/v2/nvcf/pexec/status/x"),
        ("http://h:1", "/v1/models", "http://h:1/v1/models"),
    ],
)
def test_paths_map_onto_the_upstream_base(upstream_url: str, path: str, want: str) -> None:
    assert target_url(upstream_url, path, "") == want


def test_the_environment_key_goes_only_to_nvidias_hosted_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NVIDIA_API_KEY", KEY)
    monkeypatch.setenv("MY_NIM_KEY", "nim-key")
    assert upstream_key("https://integrate.api.nvidia.com/v1", None) == KEY
    assert upstream_key("http://127.0.0.1:8080/v1", None) is None
    assert upstream_key("http://127.0.0.1:8080/v1", "MY_NIM_KEY") == "nim-key"


def test_answers_come_from_the_upstream_with_its_key(
    proxy: LocalServer, upstream: LocalServer
) -> None:
    msg = llm(proxy).invoke("Hello there")
    assert "local nvnb server" in msg.content  # the upstream's engine wrote it
    (seen,) = [r for r in upstream.requests if r.path == "/v1/chat/completions"]
    assert seen.has_auth and seen.json["messages"][-1]["content"] == "Hello there"
    (recorded,) = [r for r in proxy.requests if r.path == "/v1/chat/completions"]
    assert recorded.json == seen.json
    shown = repr(proxy) + str([r.to_dict() for r in proxy.requests])
    assert KEY not in shown


def test_streams_are_relayed_chunk_by_chunk(proxy: LocalServer) -> None:
    chunks = list(llm(proxy).stream("Hello there"))
    assert sum(1 for c in chunks if c.content) > 2
    assert "local nvnb server" in "".join(str(c.content) for c in chunks)


def test_a_429_with_retry_after_is_retried_then_answered(
    proxy: LocalServer, upstream: LocalServer
) -> None:
    fault = "status=429;retry-after=0;times=1;id=up429"
    assert "local nvnb server" in llm(proxy, fault, max_retries=2).invoke("Hi").content
    assert len([r for r in proxy.requests if r.path.endswith("/completions")]) == 2
    assert len([r for r in upstream.requests if r.path.endswith("/completions")]) == 1


def test_a_503_burst_fails_with_a_typed_error_when_retries_run_out(proxy: LocalServer) -> None:
    with pytest.raises(E.ServerError) as caught:
        llm(proxy, "status=503;times=3;id=burst", max_retries=1).invoke("Hi")
    assert caught.value.status == 503 and caught.value.request_id


def test_a_stream_dropped_after_n_chunks_keeps_the_partial_text(proxy: LocalServer) -> None:
    received = ""
    with pytest.raises(E.StreamInterrupted) as caught:
        for chunk in llm(proxy, "drop-after=3", max_retries=0).stream("Hello there"):
            received += str(chunk.content)
    assert caught.value.partial_text == received and received


def test_malformed_sse_and_in_stream_errors_are_typed(proxy: LocalServer) -> None:
    with pytest.raises(E.StreamInterrupted):
        list(llm(proxy, "malformed-sse=2", max_retries=0).stream("Hello there"))
    with pytest.raises(E.StreamError) as caught:
        list(llm(proxy, "stream-error=2", max_retries=0).stream("Hello there"))
    assert caught.value.partial_text


def test_a_stall_ends_in_a_timeout_with_the_partial_text(proxy: LocalServer) -> None:
    with pytest.raises(E.RequestTimeout) as caught:
        list(llm(proxy, "stall-after=2", max_retries=0, timeout=1.0).stream("Hello there"))
    assert caught.value.partial_text


def test_upstream_errors_pass_through_unchanged(upstream: LocalServer) -> None:
    with LocalServer(upstream=upstream.base_url) as keyless:  # no key: the upstream says 401
        response = httpx.post(f"{keyless.base_url}/chat/completions", json=chat_body("Hi"))
    assert response.status_code == 401 and "Authorization" in response.text


def test_local_engine_faults_are_refused_with_a_reason(proxy: LocalServer) -> None:
    response = httpx.post(
        f"{proxy.base_url}/chat/completions",
        json=chat_body("Hi"),
        headers={"X-NVNB-Fault": "long=100"},
    )
    assert response.status_code == 400 and "--upstream" in response.text


def test_an_upstream_that_is_down_answers_502(proxy: LocalServer) -> None:
    with LocalServer(upstream="http://127.0.0.1:9/v1") as dead:
        response = httpx.get(f"{dead.base_url}/models")
    assert response.status_code == 502 and "did not answer" in response.text


def test_the_serve_command_forwards_and_never_prints_the_key(upstream: LocalServer) -> None:
    env = {"MY_KEY": KEY}
    args = ("--upstream", upstream.base_url, "--upstream-key-env", "MY_KEY")
    with serving(*args, env=env) as (url, process):
        response = httpx.post(f"{url}/chat/completions", json=chat_body("Hi"))
        assert response.status_code == 200, response.text
        process.send_signal(2)
        out, err = process.communicate(timeout=10)
    assert "forwarding" in err and KEY not in out + err
