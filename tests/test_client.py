"""Client over real sockets against nvnb's local server: requests, streams, errors, retries,
202 polling, assets, model listing, routing and the embedded default."""

from __future__ import annotations

import gc
import io
import logging
import pickle
import socket
import time
from collections.abc import Iterator

import pytest

from nvnb import errors as E
from nvnb import settings as nvs
from nvnb._version import __version__
from nvnb.client import ChatResponse, Client, parse_retry_after
from nvnb.server import LocalServer
from nvnb.settings import RetryPolicy, Timeouts
from nvnb.testing import AUTH_KEY

KEY = AUTH_KEY  # the key nvnb_auth_server accepts
MODEL = "meta/llama-3.1-8b-instruct"
FAST_RETRY = RetryPolicy(max_retries=3, backoff_base=0.001, backoff_max=0.005, budget=5.0)
FAST_TIME = Timeouts(connect=2.0, read=5.0, poll_interval=0.001, poll_deadline=2.0)


def body(text: str = "hi", **extra: object) -> dict:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 64,
        **extra,
    }


def fault(spec: str) -> dict[str, str]:
    return {"X-NVNB-Fault": spec}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL", "NVNB_LOCAL", "NVNB_HOSTED_ORIGIN"):
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)


@pytest.fixture
def srv(nvnb_server: LocalServer) -> LocalServer:
    """nvnb's pytest fixture: the session's local server, cleared for this test."""
    return nvnb_server


@pytest.fixture
def asrv(nvnb_auth_server: LocalServer) -> LocalServer:
    """The same with auth on (key: KEY)."""
    return nvnb_auth_server


@pytest.fixture
def client(srv: LocalServer) -> Iterator[Client]:
    with Client(base_url=srv.base_url, retry=FAST_RETRY, timeout=FAST_TIME) as c:
        yield c


def png(size: tuple[int, int] = (64, 32), colour: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def chat_requests(server: LocalServer) -> list:
    return [r for r in server.requests if r.method == "POST"]


# --- requests and answers ----------------------------------------------------------------


def test_chat_answers_from_the_server_with_its_request_id(client: Client, srv: LocalServer) -> None:
    answer = client.chat(body("hello there"))
    assert isinstance(answer, ChatResponse) and answer.status == 200
    assert "local nvnb server" in answer["choices"][0]["message"]["content"]
    assert answer.request_id and answer.request_id == answer.headers["nvcf-reqid"]
    (req,) = srv.requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.json == body("hello there")


def test_requests_carry_accept_content_type_and_user_agent_but_no_auth_without_a_key(
    client: Client,
    srv: LocalServer,
) -> None:
    client.chat(body())
    headers = srv.requests[0].headers
    assert headers["accept"] == "application/json"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == f"nvnb/{__version__}"
    assert not srv.requests[0].has_auth


def test_a_key_is_sent_as_a_bearer_token(asrv: LocalServer) -> None:
    with Client(KEY, asrv.base_url, retry=FAST_RETRY) as c:
        c.chat(body())
    assert asrv.requests[0].has_auth


def test_the_key_from_the_environment_is_used(
    asrv: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NVIDIA_API_KEY", KEY)
    with Client(base_url=asrv.base_url) as c:
        c.chat(body())
    assert asrv.requests[0].has_auth


def test_default_and_per_request_headers_are_sent(srv: LocalServer) -> None:
    with Client(base_url=srv.base_url, default_headers={"X-Team": "a", "X-Both": "default"}) as c:
        c.chat(body(), headers={"X-Both": "request"})
    headers = srv.requests[0].headers
    assert headers["x-team"] == "a" and headers["x-both"] == "request"


def test_a_client_reuses_its_connection(client: Client) -> None:
    for _ in range(3):
        client.chat(body())
    assert client.pool_stats() == {"connections": 1, "active": 0, "idle": 1}


def test_shared_pool_clients_share_one_pool_but_not_payload_fn(srv: LocalServer) -> None:
    a = Client(base_url=srv.base_url, shared_pool=True)
    b = Client(base_url=srv.base_url, shared_pool=True)
    a.payload_fn = lambda p: {**p, "max_tokens": 5}
    assert a._pool() is b._pool()
    b.chat(body())
    a.chat(body())
    assert [r.json["max_tokens"] for r in srv.requests] == [64, 5]
    a.close()
    b.chat(body())  # closing one client leaves the shared pool open


def test_a_five_megabyte_answer_arrives_whole(client: Client) -> None:
    answer = client.chat(body(), headers=fault("long=5000000"))
    assert len(answer["choices"][0]["message"]["content"]) == 5_000_000
    stream = client.stream_chat(body(stream=True), headers=fault("long=5000000"))
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in stream if c["choices"])
    assert len(text) == 5_000_000


# --- streams -----------------------------------------------------------------------------


def test_a_stream_yields_chunks_then_the_usage_chunk(client: Client, srv: LocalServer) -> None:
    payload = body("stream please", stream=True, stream_options={"include_usage": True})
    with client.stream_chat(payload) as stream:
        chunks = list(stream)
    assert stream.request_id
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == stream.partial_text
    assert text == client.chat(body("stream please"))["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert srv.requests[0].headers["accept"] == "text/event-stream"
    assert client.pool_stats()["active"] == 0


def test_closing_a_stream_closes_its_connection(client: Client) -> None:
    stream = client.stream_chat(
        body("a long answer", stream=True), headers=fault("chunk-delay-ms=20")
    )
    next(stream), next(stream)
    assert client.pool_stats()["active"] == 1
    stream.close()
    assert client.pool_stats() == {"connections": 0, "active": 0, "idle": 0}
    assert list(stream) == []


def test_leaving_a_stream_early_in_a_with_block_closes_the_connection(client: Client) -> None:
    with client.stream_chat(body(stream=True), headers=fault("chunk-delay-ms=20")) as stream:
        for _ in stream:
            break
    assert client.pool_stats()["active"] == 0


def test_a_dropped_stream_that_is_garbage_collected_closes_its_connection(client: Client) -> None:
    for chunk in client.stream_chat(body(stream=True), headers=fault("chunk-delay-ms=20")):
        assert chunk
        break
    gc.collect()
    assert client.pool_stats()["active"] == 0


def test_a_dropped_connection_keeps_the_partial_text_and_is_not_retried(
    client: Client,
    srv: LocalServer,
) -> None:
    stream = client.stream_chat(body("tell me a story", stream=True), headers=fault("drop-after=3"))
    received = []
    with pytest.raises(E.StreamInterrupted) as info:
        for chunk in stream:
            received.append(chunk["choices"][0]["delta"]["content"])
    err = info.value
    assert len(received) == 3 and err.chunks_received == 3
    assert err.partial_text == "".join(received) != ""
    assert err.request_id == stream.request_id and err.model == MODEL
    assert len(chat_requests(srv)) == 1
    assert client.pool_stats()["active"] == 0


def test_an_error_object_in_the_stream_is_a_stream_error_with_partial_text(
    client: Client,
    srv: LocalServer,
) -> None:
    with pytest.raises(E.StreamError) as info:
        list(client.stream_chat(body(stream=True), headers=fault("stream-error=2")))
    assert info.value.chunks_received == 2 and info.value.partial_text
    assert "local nvnb server" in str(info.value)
    assert len(chat_requests(srv)) == 1


def test_malformed_sse_is_a_stream_interruption_with_partial_text(client: Client) -> None:
    with pytest.raises(E.StreamInterrupted) as info:
        list(client.stream_chat(body(stream=True), headers=fault("malformed-sse=2")))
    assert "malformed" in str(info.value) and info.value.chunks_received == 2


def test_a_stalled_stream_times_out_keeping_the_partial_text(srv: LocalServer) -> None:
    with Client(base_url=srv.base_url, timeout=Timeouts(read=0.2)) as c:
        stream = c.stream_chat(body(stream=True), headers=fault("stall-after=2"))
        started = time.monotonic()
        with pytest.raises(E.RequestTimeout) as info:
            list(stream)
        assert time.monotonic() - started < 2
        assert info.value.chunks_received == 2 and info.value.partial_text
        assert c.pool_stats()["active"] == 0


def test_a_stream_is_retried_before_output_starts(client: Client, srv: LocalServer) -> None:
    chunks = list(
        client.stream_chat(body(stream=True), headers=fault("status=503;times=2;id=stream-retry"))
    )
    assert chunks and len(chat_requests(srv)) == 3


def test_a_stream_cut_before_its_first_chunk_is_retried(client: Client, srv: LocalServer) -> None:
    chunks = list(
        client.stream_chat(body(stream=True), headers=fault("drop-after=0;times=1;id=cut-early"))
    )
    assert chunks and len(chat_requests(srv)) == 2
    srv.clear()
    with pytest.raises(E.StreamInterrupted) as info:
        list(client.stream_chat(body(stream=True), headers=fault("drop-after=0")))
    assert info.value.partial_text == "" and info.value.chunks_received == 0
    assert len(chat_requests(srv)) == 1 + FAST_RETRY.max_retries
    assert client.pool_stats()["active"] == 0


def test_stream_errors_before_the_first_chunk_raise_at_the_call(client: Client) -> None:
    with pytest.raises(E.NotFoundError):
        client.stream_chat({**body(stream=True), "model": "nobody/no-such-model"})


# --- payload_fn --------------------------------------------------------------------------


def drop_streaming_key(d: dict) -> dict:
    """The tutorial's function, verbatim in spirit: mutate and return."""
    if "stream" in d:
        d.pop("stream")
    return d


def test_payload_fn_applies_to_chat_and_stream_bodies(client: Client, srv: LocalServer) -> None:
    client.payload_fn = lambda p: {**p, "temperature": 0.25}
    original = body(stream=False)
    client.chat(original)
    list(client.stream_chat(body(stream=True)))
    assert [r.json["temperature"] for r in chat_requests(srv)] == [0.25, 0.25]
    assert "temperature" not in original  # the caller's dict is left alone


def test_the_tutorials_kosmos_case_needs_payload_fn_and_then_works(srv: LocalServer) -> None:
    with Client(base_url=srv.base_url, hosted_origin=srv.origin, retry=FAST_RETRY) as c:
        payload = {
            "model": "microsoft/kosmos-2",
            "stream": False,
            "messages": [{"role": "user", "content": "hello"}],
        }
        with pytest.raises(E.InvalidRequestError) as info:
            c.chat(payload)
        assert "body -> stream" in str(info.value) and "payload_fn" in info.value.hint
        c.payload_fn = drop_streaming_key
        answer = c.chat(payload)
        assert answer["choices"][0]["message"]["content"]
        # a stream request whose stream key is dropped gets JSON: one whole chunk
        chunks = list(c.stream_chat({**payload, "stream": True}))
        assert (
            chunks[0]["choices"][0]["delta"]["content"]
            == answer["choices"][0]["message"]["content"]
        )
    assert chat_requests(srv)[-1].path == "/v1/vlm/microsoft/kosmos-2"
    assert "stream" not in chat_requests(srv)[-1].json


def test_stream_chat_streams_when_the_body_does_not_say_stream(
    client: Client, srv: LocalServer
) -> None:
    chunks = list(client.stream_chat(body()))  # no "stream" key at all
    assert chat_requests(srv)[-1].json["stream"] is True
    assert len(chunks) > 1  # an SSE stream, not one whole JSON answer


def test_stream_chat_sets_stream_before_payload_fn_runs(client: Client, srv: LocalServer) -> None:
    seen: list[object] = []
    client.payload_fn = lambda p: seen.append(p.get("stream")) or p
    list(client.stream_chat(body(stream=False)))
    assert seen == [True]
    client.payload_fn = drop_streaming_key  # kosmos-2's case: the function may still drop it
    list(client.stream_chat(body()))
    assert "stream" not in chat_requests(srv)[-1].json


def test_a_payload_fn_that_returns_nothing_uses_the_mutated_body(
    client: Client, srv: LocalServer
) -> None:
    client.payload_fn = lambda p: p.update(top_p=0.5)
    client.chat(body())
    assert srv.requests[0].json["top_p"] == 0.5


# --- errors from real responses ----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "cls", "status"),
    [
        ("status=400", E.InvalidRequestError, 400),
        ("status=401", E.AuthenticationError, 401),
        ("status=403", E.AuthenticationError, 403),
        ("status=404", E.NotFoundError, 404),
        ("status=413", E.InvalidRequestError, 413),
        ("status=422", E.InvalidRequestError, 422),
        ("status=429", E.RateLimitError, 429),
        ("status=500", E.ServerError, 500),
        ("status=502", E.ServerError, 502),
        ("status=503", E.ServerError, 503),
        ("status=504", E.ServerError, 504),
        ("status=503;html", E.ServerError, 503),
        ("status=500;text", E.ServerError, 500),
        ("status=401;style=openai", E.AuthenticationError, 401),
    ],
)
def test_every_error_status_becomes_its_typed_error(
    srv: LocalServer, spec: str, cls: type, status: int
) -> None:
    with Client(base_url=srv.base_url, max_retries=0) as c, pytest.raises(cls) as info:
        c.chat(body(), headers=fault(spec))
    err = info.value
    assert type(err) is cls and err.status == status
    first_line = str(err).splitlines()[0]
    assert first_line.startswith(str(status)) and "<" not in first_line
    assert err.request_id and err.model == MODEL and err.hint
    assert len(first_line) < 300


def test_an_unknown_model_is_a_not_found_error_naming_it(client: Client) -> None:
    with pytest.raises(E.NotFoundError) as info:
        client.chat({**body(), "model": "nobody/no-such-model"})
    assert "nobody/no-such-model" in str(info.value)


def test_a_wrong_or_missing_key_is_an_authentication_error(asrv: LocalServer) -> None:
    for key in ("nvapi-wrong-key-000000000000", None):
        with Client(key, asrv.base_url) as c, pytest.raises(E.AuthenticationError) as info:
            c.chat(body())
        assert info.value.status == 401 and "NVIDIA_API_KEY" in info.value.hint


def test_invalid_json_is_a_typed_error(client: Client) -> None:
    with pytest.raises(E.APIError) as info:
        client.chat(body(), headers=fault("invalid-json"))
    assert "not JSON" in str(info.value)


def test_a_refused_connection_is_a_connect_error_naming_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    with Client(base_url=base, retry=FAST_RETRY) as c, pytest.raises(E.ConnectError) as info:
        c.chat(body())
    assert f"{base}/chat/completions" in str(info.value)
    assert info.value.url == f"{base}/chat/completions"


def test_a_slow_answer_is_a_request_timeout(srv: LocalServer) -> None:
    with (
        Client(base_url=srv.base_url, timeout=Timeouts(read=0.1), max_retries=0) as c,
        pytest.raises(E.RequestTimeout),
    ):
        c.chat(body(), headers=fault("latency-ms=1000"))


# --- retries -----------------------------------------------------------------------------


def test_a_short_burst_of_503s_is_retried_to_success(client: Client, srv: LocalServer) -> None:
    answer = client.chat(body(), headers=fault("status=503;times=2;id=burst-short"))
    assert answer["choices"]
    assert len(srv.requests) == 3


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_a_long_burst_stops_after_max_retries(srv: LocalServer, status: int) -> None:
    with Client(base_url=srv.base_url, retry=FAST_RETRY) as c, pytest.raises(E.APIError) as info:
        c.chat(body(), headers=fault(f"status={status}"))
    assert info.value.status == status
    assert len(srv.requests) == 1 + FAST_RETRY.max_retries


@pytest.mark.parametrize("status", [400, 401, 404, 422, 500])
def test_other_errors_are_not_retried(srv: LocalServer, status: int) -> None:
    with Client(base_url=srv.base_url, retry=FAST_RETRY) as c, pytest.raises(E.APIError):
        c.chat(body(), headers=fault(f"status={status}"))
    assert len(srv.requests) == 1


def test_the_retry_budget_bounds_the_total_time(srv: LocalServer) -> None:
    policy = RetryPolicy(max_retries=50, backoff_base=0.05, backoff_max=0.05, budget=0.3)
    with Client(base_url=srv.base_url, retry=policy) as c:
        c.chat(body())  # warm up: the budget counts the first attempt too
        srv.clear()
        started = time.monotonic()
        with pytest.raises(E.ServerError):
            c.chat(body(), headers=fault("status=503"))
    assert time.monotonic() - started < 1.0
    assert 2 <= len(srv.requests) <= 1 + 0.3 / 0.025  # the shortest jittered pause is 25 ms


def test_retry_after_is_waited_out(client: Client, srv: LocalServer) -> None:
    started = time.monotonic()
    client.chat(body(), headers=fault("status=429;retry-after=1;times=1;id=wait-once"))
    assert time.monotonic() - started >= 1.0
    assert len(srv.requests) == 2


def test_a_retry_after_beyond_the_budget_gives_up_at_once(srv: LocalServer) -> None:
    policy = RetryPolicy(max_retries=3, backoff_base=0.001, budget=2.0)
    with Client(base_url=srv.base_url, retry=policy) as c:
        started = time.monotonic()
        with pytest.raises(E.RateLimitError) as info:
            c.chat(body(), headers=fault("status=429;retry-after=30"))
    assert time.monotonic() - started < 1.0
    assert info.value.retry_after == 30 and "30 s" in str(info.value)
    assert len(srv.requests) == 1


def test_a_retry_after_http_date_is_understood(srv: LocalServer) -> None:
    date = "Wed, 21 Oct 2099 07:28:00 GMT"
    with (
        Client(base_url=srv.base_url, retry=FAST_RETRY) as c,
        pytest.raises(E.RateLimitError) as info,
    ):
        c.chat(body(), headers=fault(f"status=429;retry-after={date}"))
    assert info.value.retry_after > 10 * 365 * 24 * 3600
    assert len(srv.requests) == 1


def test_parse_retry_after_reads_seconds_and_dates() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-3") == 0.0
    now = 1_700_000_000.0
    date = "Tue, 14 Nov 2023 22:13:30 GMT"  # now + 10 s
    assert parse_retry_after(date, now=now) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_a_connection_dropped_before_the_answer_is_retried(
    client: Client, srv: LocalServer
) -> None:
    answer = client.chat(body(), headers=fault("drop-after=0;times=1;id=drop-early"))
    assert answer["choices"] and len(srv.requests) == 2


def test_a_refused_connection_is_retried_a_bounded_number_of_times() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    policy = RetryPolicy(max_retries=2, backoff_base=0.05, backoff_max=0.05)
    with Client(base_url=f"http://127.0.0.1:{port}", retry=policy) as c:
        started = time.monotonic()
        with pytest.raises(E.ConnectError):
            c.chat(body())
    assert 0.05 <= time.monotonic() - started < 2


# --- NVCF 202 polling --------------------------------------------------------------------


def test_a_202_answer_is_polled_until_the_result(asrv: LocalServer) -> None:
    with Client(KEY, asrv.base_url, timeout=FAST_TIME) as c:
        answer = c.chat(body(), headers=fault("accepted=3"))
    assert "local nvnb server" in answer["choices"][0]["message"]["content"]
    polls = [r for r in asrv.requests if r.method == "GET"]
    assert len(polls) == 4
    assert all(r.path == f"/v2/nvcf/pexec/status/{answer.request_id}" for r in polls)
    assert all(r.has_auth for r in polls)


def test_polling_stops_at_the_poll_deadline(srv: LocalServer) -> None:
    timeouts = Timeouts(read=5, poll_interval=0.01, poll_deadline=0.25)
    with Client(base_url=srv.base_url, timeout=timeouts) as c:
        started = time.monotonic()
        with pytest.raises(E.RequestTimeout) as info:
            c.chat(body(), headers=fault("accepted=forever"))
    assert 0.25 <= time.monotonic() - started < 1.5
    assert info.value.request_id and "0.25" in str(info.value)
    assert len(srv.requests) < 40  # paced by poll_interval, no storm


def test_nvcf_chat_invokes_a_function_and_polls(asrv: LocalServer) -> None:
    with Client(KEY, asrv.base_url, hosted_origin=asrv.origin, timeout=FAST_TIME) as c:
        functions = c._request_json(c._core.get_request(f"{c.settings.nvcf_url}/functions"))
        fid = functions["functions"][0]["id"]
        answer = c.nvcf_chat(
            fid, {"messages": [{"role": "user", "content": "hi"}]}, headers=fault("accepted=1")
        )
    assert answer["choices"][0]["message"]["content"]
    paths = [r.path for r in asrv.requests]
    assert f"/v2/nvcf/pexec/functions/{fid}" in paths
    assert any(p.startswith("/v2/nvcf/pexec/status/") for p in paths)


# --- assets ------------------------------------------------------------------------------


def test_an_uploaded_asset_can_be_used_in_a_request(asrv: LocalServer) -> None:
    with Client(KEY, asrv.base_url, hosted_origin=asrv.origin) as c:
        asset_id = c.upload_asset(png(), "image/png", "a red box")
        text = f'What is this? <img src="data:image/png;asset_id,{asset_id}" />'
        answer = c.chat(
            {"model": "nvidia/neva-22b", "messages": [{"role": "user", "content": text}]}
        )
    assert "64×32" in answer["choices"][0]["message"]["content"]
    create, put, use = asrv.requests
    assert (create.method, create.path) == ("POST", "/v2/nvcf/assets")
    assert create.json == {"contentType": "image/png", "description": "a red box"}
    assert create.has_auth
    assert put.method == "PUT" and not put.has_auth  # our key never goes to the storage host
    assert put.headers["content-type"] == "image/png"
    assert put.headers["x-amz-meta-nvcf-asset-description"] == "a red box"
    assert put.body_size == len(png())
    assert use.path == "/v1/vlm/nvidia/neva-22b"
    assert use.headers["nvcf-input-asset-references"] == asset_id


def test_requests_without_asset_references_carry_no_reference_header(
    client: Client, srv: LocalServer
) -> None:
    client.chat(body("data:image/png;base64,AAAA is not an asset"))
    assert "nvcf-input-asset-references" not in srv.requests[0].headers


# --- models ------------------------------------------------------------------------------


def test_list_models_is_cached_per_client(client: Client, srv: LocalServer) -> None:
    first = client.list_models()
    assert first and all("id" in m for m in first)
    assert client.list_models() == first
    assert len(srv.requests) == 1
    client.list_models(refresh=True)
    assert len(srv.requests) == 2
    with Client(base_url=srv.base_url) as other:
        other.list_models()
    assert len(srv.requests) == 3


def test_the_model_cache_expires_after_its_ttl(srv: LocalServer) -> None:
    settings = nvs.resolve_settings(base_url=srv.base_url, models_ttl=0.0)
    with Client(settings=settings) as c:
        c.list_models()
        c.list_models()
    assert len(srv.requests) == 2


# --- routing -----------------------------------------------------------------------------


def test_self_hosted_servers_get_every_model_on_base_chat_completions(srv: LocalServer) -> None:
    with Client(base_url=srv.base_url) as c:
        assert c.endpoint_for("nvidia/neva-22b") == f"{srv.base_url}/chat/completions"
        assert c.endpoint_for(MODEL) == f"{srv.base_url}/chat/completions"


def test_hosted_models_with_their_own_endpoint_use_it() -> None:
    c = Client(api_key=KEY)
    assert c.endpoint_for("nvidia/neva-22b") == "https://ai.api.nvidia.com/v1/vlm/nvidia/neva-22b"
    assert c.endpoint_for("neva_22b") == "https://ai.api.nvidia.com/v1/vlm/nvidia/neva-22b"
    assert c.endpoint_for(MODEL) == "https://integrate.api.nvidia.com/v1/chat/completions"
    assert (
        c.endpoint_for("someone/unknown") == "https://integrate.api.nvidia.com/v1/chat/completions"
    )


def test_hosted_origin_moves_model_endpoints_onto_the_local_server(srv: LocalServer) -> None:
    c = Client(base_url=srv.base_url, hosted_origin=srv.origin)
    assert c.endpoint_for("nvidia/neva-22b") == f"{srv.origin}/v1/vlm/nvidia/neva-22b"
    assert c.endpoint_for(MODEL) == f"{srv.base_url}/chat/completions"


# --- the embedded default and keys entered later -----------------------------------------


def test_with_no_key_and_no_base_url_answers_come_from_the_embedded_server() -> None:
    with Client() as c:
        answer = c.chat(body("hello embedded"))
        assert c.settings.mode == "local"
    assert "local nvnb server" in answer["choices"][0]["message"]["content"]
    from nvnb.server import embedded_url

    assert c.settings.base_url == embedded_url() + "/v1"


def test_the_embedded_server_is_announced_once_and_plays_the_hosted_endpoints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from nvnb import _notices as notices
    from nvnb.server import embedded_url

    notices.reset("nvnb.embedded-server")
    first, second = Client(), Client()
    err = capsys.readouterr().err
    assert err.count("No NVIDIA_API_KEY") == 1 and "local server" in err
    origin = embedded_url()
    assert first.settings.hosted_origin == origin == second.settings.hosted_origin
    assert first.endpoint_for("nvidia/neva-22b") == f"{origin}/v1/vlm/nvidia/neva-22b"
    assert first.settings.nvcf_url == f"{origin}/v2/nvcf"


def test_a_key_entered_later_moves_a_default_client_to_the_hosted_service(
    asrv: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The hosted service is played by the auth server (hosted URLs are moved onto it).
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", asrv.origin)
    default = Client()
    pinned = Client(base_url=asrv.base_url)
    assert default.settings.mode == "local"
    with pytest.raises(E.AuthenticationError):
        pinned.chat(body())
    monkeypatch.setattr(nvs.getpass, "getpass", lambda prompt: KEY)
    nvs.ask_for_key()
    assert default.settings.mode == "hosted"
    assert default.settings.base_url == f"{asrv.origin}/v1"
    default.chat(body())
    pinned.chat(body())  # an explicit base URL stays, and gets the new key
    assert pinned.settings.base_url == asrv.base_url
    assert [r.has_auth for r in chat_requests(asrv)] == [False, True, True]
    assert default.aio.settings is default.settings


def test_nvnb_local_off_without_a_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVNB_LOCAL", "off")
    with pytest.raises(E.ConfigurationError, match="NVIDIA_API_KEY"):
        Client()


# --- the key never leaks -----------------------------------------------------------------


def test_the_key_never_appears_in_reprs_errors_logs_or_pickles(
    asrv: LocalServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("nvnb", "httpx", "httpcore", "urllib3", "aiohttp"):
        caplog.set_level(logging.DEBUG, logger=name)
    raised: list[BaseException] = []
    with Client(
        KEY, asrv.base_url, hosted_origin=asrv.origin, retry=FAST_RETRY, timeout=FAST_TIME
    ) as c:
        assert KEY not in repr(c) and KEY not in repr(c.settings) and KEY not in repr(c.aio)
        c.chat(body())
        list(c.stream_chat(body(stream=True)))
        c.chat(body(), headers=fault("accepted=1"))
        c.upload_asset(png(), "image/png", "x")
        c.list_models()
        for spec in (
            "status=401",
            "status=404",
            "status=422",
            "status=429",
            "status=503",
            "status=500;html",
            "drop-after=2",
            "stream-error=1",
            "malformed-sse=1",
            "invalid-json",
        ):
            for streamed in (True, False):
                try:
                    if streamed:
                        list(c.stream_chat(body(stream=True), headers=fault(spec)))
                    else:
                        c.chat(body(), headers=fault(spec))
                except E.NVNBError as err:
                    raised.append(err)
        with Client(base_url="http://127.0.0.1:9", api_key=KEY, max_retries=0) as dead:
            with pytest.raises(E.ConnectError) as info:
                dead.chat(body())
            raised.append(info.value)
        data = pickle.dumps(c)
    assert {type(e) for e in raised} >= {
        E.AuthenticationError,
        E.NotFoundError,
        E.InvalidRequestError,
        E.RateLimitError,
        E.ServerError,
        E.StreamInterrupted,
        E.StreamError,
        E.APIError,
        E.ConnectError,
    }
    for err in raised:
        for text in (str(err), repr(err), repr(err.__dict__), str(err.__cause__)):
            assert KEY not in text
        assert KEY.encode() not in pickle.dumps(err)
    assert KEY.encode() not in data
    assert KEY not in caplog.text
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # the transport's DEBUG too
    assert pickle.loads(data).settings.api_key is None


def test_a_pickled_client_works_in_the_loading_process(srv: LocalServer) -> None:
    c = Client(base_url=srv.base_url, payload_fn=drop_streaming_key)
    c.chat(body())
    clone = pickle.loads(pickle.dumps(c))
    assert clone.chat(body())["choices"]
    assert clone.payload_fn is drop_streaming_key


# --- post_json (embeddings, ranking, …) --------------------------------------------------


def test_post_json_joins_a_relative_path_to_the_base_url(client: Client, srv: LocalServer) -> None:
    client.payload_fn = lambda p: {**p, "truncate": "END"}
    answer = client.post_json(
        "embeddings",
        {"model": "nvidia/nv-embedqa-e5-v5", "input": ["hello"], "input_type": "query"},
    )
    assert answer["data"][0]["embedding"] and answer.request_id
    (req,) = srv.requests
    assert req.path == "/v1/embeddings" and req.json["truncate"] == "END"


def test_post_json_takes_an_absolute_url_and_moves_hosted_ones(srv: LocalServer) -> None:
    with Client(base_url=srv.base_url, hosted_origin=srv.origin) as c:
        c.post_json(
            "https://ai.api.nvidia.com/v1/retrieval/nvidia/embeddings",
            {"model": "NV-Embed-QA", "input": "x", "input_type": "passage"},
        )
        c.post_json(
            f"{srv.base_url}/embeddings",
            {"model": "nvidia/nv-embedqa-e5-v5", "input": "x", "input_type": "passage"},
        )
    assert [r.path for r in srv.requests] == ["/v1/retrieval/nvidia/embeddings", "/v1/embeddings"]


def test_post_json_maps_errors_like_chat(client: Client) -> None:
    with pytest.raises(E.NotFoundError):
        client.post_json("embeddings", {"model": "nobody/none", "input": "x"})
    with pytest.raises(E.APIError, match="not JSON"):
        client.post_json("chat/completions", body(), headers=fault("invalid-json"))
