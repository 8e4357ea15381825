"""AsyncClient over real sockets: the same behaviour as Client, one pool per event loop."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import pytest

from nvnb import errors as E
from nvnb.client import AsyncChatStream, AsyncClient, ChatResponse, Client
from nvnb.client._pools import pool_stats
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


def text_of(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


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
async def aclient(srv: LocalServer) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(base_url=srv.base_url, retry=FAST_RETRY, timeout=FAST_TIME) as c:
        yield c


def posts(server: LocalServer) -> list:
    return [r for r in server.requests if r.method == "POST"]


# --- answers and streams -----------------------------------------------------------------


async def test_chat_answers_with_its_request_id(aclient: AsyncClient, srv: LocalServer) -> None:
    answer = await aclient.chat(body("hello"))
    assert isinstance(answer, ChatResponse)
    assert "local nvnb server" in answer["choices"][0]["message"]["content"]
    assert answer.request_id == answer.headers["nvcf-reqid"]
    assert srv.requests[0].json == body("hello")


async def test_a_stream_iterates_with_async_for(aclient: AsyncClient, srv: LocalServer) -> None:
    stream = aclient.stream_chat(body(stream=True, stream_options={"include_usage": True}))
    assert isinstance(stream, AsyncChatStream)
    chunks = [c async for c in stream]
    assert stream.request_id and chunks[-1]["choices"] == []
    assert text_of(chunks) == (await aclient.chat(body()))["choices"][0]["message"]["content"]
    assert srv.requests[0].headers["accept"] == "text/event-stream"
    assert aclient.pool_stats()["active"] == 0


async def test_stream_chat_streams_when_the_body_does_not_say_stream(
    aclient: AsyncClient, srv: LocalServer
) -> None:
    chunks = [c async for c in aclient.stream_chat(body())]
    assert srv.requests[-1].json["stream"] is True and len(chunks) > 1


async def test_awaiting_a_stream_starts_it_and_raises_errors_early(aclient: AsyncClient) -> None:
    stream = await aclient.stream_chat(body(stream=True))
    assert stream.request_id
    await stream.aclose()
    with pytest.raises(E.NotFoundError):
        await aclient.stream_chat({**body(stream=True), "model": "nobody/no-such-model"})


async def test_aclose_closes_the_streams_connection(aclient: AsyncClient) -> None:
    stream = aclient.stream_chat(body("long", stream=True), headers=fault("chunk-delay-ms=20"))
    await stream.__anext__()
    assert aclient.pool_stats()["active"] == 1
    await stream.aclose()
    assert aclient.pool_stats() == {"connections": 0, "active": 0, "idle": 0}
    assert [c async for c in stream] == []


async def test_a_cancelled_task_inside_async_with_closes_the_connection(
    aclient: AsyncClient,
) -> None:
    got_one = asyncio.Event()

    async def consume() -> None:
        async with aclient.stream_chat(
            body(stream=True), headers=fault("chunk-delay-ms=50")
        ) as stream:
            async for _ in stream:
                got_one.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_one.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert aclient.pool_stats()["active"] == 0


async def test_a_dropped_stream_keeps_partial_text_and_is_not_retried(
    aclient: AsyncClient,
    srv: LocalServer,
) -> None:
    received: list[dict] = []
    with pytest.raises(E.StreamInterrupted) as info:
        async for chunk in aclient.stream_chat(
            body("story", stream=True), headers=fault("drop-after=3")
        ):
            received.append(chunk)
    assert info.value.chunks_received == 3 and info.value.partial_text == text_of(received)
    assert len(posts(srv)) == 1
    assert aclient.pool_stats()["active"] == 0


async def test_a_stream_cut_before_its_first_chunk_is_retried(
    aclient: AsyncClient, srv: LocalServer
) -> None:
    chunks = [
        c
        async for c in aclient.stream_chat(
            body(stream=True), headers=fault("drop-after=0;times=1;id=async-cut-early")
        )
    ]
    assert chunks and len(posts(srv)) == 2


async def test_stream_errors_and_garbage_are_typed(aclient: AsyncClient) -> None:
    with pytest.raises(E.StreamError) as info:
        _ = [
            c async for c in aclient.stream_chat(body(stream=True), headers=fault("stream-error=2"))
        ]
    assert info.value.partial_text
    with pytest.raises(E.StreamInterrupted):
        _ = [
            c
            async for c in aclient.stream_chat(body(stream=True), headers=fault("malformed-sse=1"))
        ]


async def test_a_stalled_stream_times_out_keeping_partial_text(srv: LocalServer) -> None:
    async with AsyncClient(base_url=srv.base_url, timeout=Timeouts(read=0.2)) as c:
        with pytest.raises(E.RequestTimeout) as info:
            _ = [x async for x in c.stream_chat(body(stream=True), headers=fault("stall-after=2"))]
        assert info.value.chunks_received == 2
        assert c.pool_stats()["active"] == 0


async def test_a_five_megabyte_answer_arrives_whole(aclient: AsyncClient) -> None:
    answer = await aclient.chat(body(), headers=fault("long=5000000"))
    assert len(answer["choices"][0]["message"]["content"]) == 5_000_000


# --- payload_fn shared with the sync client ----------------------------------------------


async def test_payload_fn_set_on_a_client_applies_to_its_async_twin(srv: LocalServer) -> None:
    c = Client(base_url=srv.base_url)
    c.payload_fn = lambda p: {k: v for k, v in p.items() if k != "stream"}
    await c.aio.chat(body(stream=False))
    _ = [x async for x in c.aio.stream_chat(body(stream=True))]
    assert [("stream" in r.json) for r in posts(srv)] == [False, False]
    await c.aio.aclose()
    c.payload_fn = None
    assert c.aio.payload_fn is None


async def test_payload_fn_on_an_async_client(aclient: AsyncClient, srv: LocalServer) -> None:
    aclient.payload_fn = lambda p: {**p, "seed": 7}
    await aclient.chat(body())
    _ = [x async for x in aclient.stream_chat(body(stream=True))]
    assert [r.json["seed"] for r in posts(srv)] == [7, 7]


# --- errors and retries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        ("status=401", E.AuthenticationError),
        ("status=404", E.NotFoundError),
        ("status=422", E.InvalidRequestError),
        ("status=429", E.RateLimitError),
        ("status=503;html", E.ServerError),
        ("invalid-json", E.APIError),
    ],
)
async def test_errors_are_typed(srv: LocalServer, spec: str, cls: type) -> None:
    async with AsyncClient(base_url=srv.base_url, max_retries=0) as c:
        with pytest.raises(cls) as info:
            await c.chat(body(), headers=fault(spec))
    assert "<" not in str(info.value).splitlines()[0]


async def test_a_short_burst_is_retried_and_a_long_one_bounded(
    aclient: AsyncClient, srv: LocalServer
) -> None:
    await aclient.chat(body(), headers=fault("status=503;times=2;id=async-burst"))
    assert len(srv.requests) == 3
    srv.clear()
    with pytest.raises(E.ServerError):
        await aclient.chat(body(), headers=fault("status=502"))
    assert len(srv.requests) == 1 + FAST_RETRY.max_retries


async def test_retry_after_is_waited_out(aclient: AsyncClient, srv: LocalServer) -> None:
    started = time.monotonic()
    await aclient.chat(body(), headers=fault("status=429;retry-after=1;times=1;id=async-wait"))
    assert time.monotonic() - started >= 1.0 and len(srv.requests) == 2


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with AsyncClient(base_url="http://127.0.0.1:9", retry=FAST_RETRY) as c:
        with pytest.raises(E.ConnectError, match=r"127\.0\.0\.1:9"):
            await c.chat(body())


# --- polling, assets, models -------------------------------------------------------------


async def test_a_202_is_polled_with_the_same_key_and_a_deadline(asrv: LocalServer) -> None:
    async with AsyncClient(KEY, asrv.base_url, timeout=FAST_TIME) as c:
        answer = await c.chat(body(), headers=fault("accepted=2"))
        assert answer["choices"]
        polls = [r for r in asrv.requests if r.method == "GET"]
        assert len(polls) == 3 and all(r.has_auth for r in polls)
    quick = Timeouts(poll_interval=0.01, poll_deadline=0.2)
    async with AsyncClient(KEY, asrv.base_url, timeout=quick) as c:
        with pytest.raises(E.RequestTimeout):
            await c.chat(body(), headers=fault("accepted=forever"))


async def test_an_uploaded_asset_is_referenced(asrv: LocalServer) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (20, 10), (0, 0, 255)).save(buf, "PNG")
    async with AsyncClient(KEY, asrv.base_url, hosted_origin=asrv.origin) as c:
        asset_id = await c.upload_asset(buf.getvalue(), "image/png", "blue")
        content = f'<img src="data:image/png;asset_id,{asset_id}" />'
        answer = await c.chat(
            {"model": "nvidia/neva-22b", "messages": [{"role": "user", "content": content}]}
        )
    assert "20×10" in answer["choices"][0]["message"]["content"]
    put = asrv.requests[1]
    assert put.method == "PUT" and not put.has_auth
    assert asrv.requests[2].headers["nvcf-input-asset-references"] == asset_id


async def test_list_models_is_cached_and_shared_with_the_sync_twin(srv: LocalServer) -> None:
    c = Client(base_url=srv.base_url)
    models = await c.aio.list_models()
    assert models and await c.aio.list_models() == models
    assert c.list_models() == models
    assert len(srv.requests) == 1
    await c.aio.aclose()


# --- pools and event loops ---------------------------------------------------------------


def test_one_async_client_works_across_event_loops_without_reusing_connections(
    srv: LocalServer,
) -> None:
    client = Client(base_url=srv.base_url)
    pools = []

    async def use() -> str:
        answer = await client.aio.chat(body())
        pools.append(client.aio._pool())
        return answer["choices"][0]["message"]["content"]

    first = asyncio.run(use())
    second = asyncio.run(use())
    assert first == second
    assert pools[0] is not pools[1]


def test_a_pool_nobody_closed_is_closed_with_its_event_loop(srv: LocalServer) -> None:
    client = AsyncClient(base_url=srv.base_url)
    shared = AsyncClient(base_url=srv.base_url, shared_pool=True)
    pools = []

    async def use() -> None:
        await client.chat(body())
        await shared.chat(body())
        pools.extend([client._pool(), shared._pool()])
        assert not any(p.is_closed for p in pools)

    asyncio.run(use())  # no aclose(): the loop's end closes both pools
    assert all(p.is_closed for p in pools)
    assert all(p._transport.client.closed for p in pools)  # the aiohttp sessions too


async def test_max_connections_bounds_the_pool(srv: LocalServer) -> None:
    async with AsyncClient(base_url=srv.base_url, max_connections=3) as client:
        peak = 0

        async def one(i: int) -> None:
            nonlocal peak
            async with client.stream_chat(body(f"q{i}", stream=True)) as stream:
                peak = max(peak, client.pool_stats()["connections"])
                [c async for c in stream]

        await asyncio.gather(*(one(i) for i in range(12)))
        assert 1 <= peak <= 3
        pool = client._pool()
        assert pool_stats(pool)["connections"] >= 1  # idle keep-alive connections
    assert pool.is_closed and pool_stats(pool)["connections"] == 0  # none left after aclose()
    with pytest.raises(E.ConfigurationError, match="max_connections"):
        AsyncClient(base_url=srv.base_url, max_connections=0)


async def test_shared_pool_async_clients_share_the_loops_pool(srv: LocalServer) -> None:
    a = AsyncClient(base_url=srv.base_url, shared_pool=True)
    b = AsyncClient(base_url=srv.base_url, shared_pool=True)
    await a.chat(body())
    await b.chat(body())
    assert a._pool() is b._pool()
    assert a.pool_stats()["connections"] == 1


async def test_many_concurrent_streams_complete_with_bounded_connections(
    srv: LocalServer,
) -> None:
    # a generous read timeout: the machine running the tests may be busy
    async with AsyncClient(base_url=srv.base_url, timeout=Timeouts(read=60)) as client:

        async def one(i: int) -> str:
            chunks = [c async for c in client.stream_chat(body(f"question {i}", stream=True))]
            return text_of(chunks)

        answers = await asyncio.gather(*(one(i) for i in range(150)))
        assert all("local nvnb server" in a for a in answers)
        stats = client.pool_stats()
        assert stats["active"] == 0 and stats["connections"] <= 100


async def test_the_embedded_default_answers_async_too() -> None:
    async with AsyncClient() as c:
        answer = await c.chat(body("hello"))
    assert "local nvnb server" in answer["choices"][0]["message"]["content"]


async def test_post_json_works_async(aclient: AsyncClient, srv: LocalServer) -> None:
    answer = await aclient.post_json(
        "/embeddings", {"model": "nvidia/nv-embedqa-e5-v5", "input": "hi", "input_type": "query"}
    )
    assert answer["data"] and srv.requests[0].path == "/v1/embeddings"
