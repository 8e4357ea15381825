"""The async pools' transport (``nvnb.client._aiohttp``) over real sockets: the one-read body
chat streams and whole reads take, httpx's decoding kept for a compressed body, the call log
seeing every byte either way, and no reference cycle left by an exchange."""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from nvnb import errors as E
from nvnb.calls import log as calllog
from nvnb.calls.record import BODY_EXTENSION, last_call
from nvnb.calls.transport import Call
from nvnb.client import AsyncChatStream, AsyncClient
from nvnb.server import LocalServer
from nvnb.settings import Timeouts

MODEL = "meta/llama-3.1-8b-instruct"


def body(text: str = "hi", **extra: object) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


def text_of(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL", "NVNB_LOCAL", "NVNB_HOSTED_ORIGIN"):
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)
    monkeypatch.setenv("NVNB_LOG", str(tmp_path / "calls.sqlite"))


async def test_a_stream_is_read_through_the_one_read_body_and_logged_whole(
    nvnb_server: LocalServer,
) -> None:
    async with AsyncClient(base_url=nvnb_server.base_url) as client:
        stream = await client.stream_chat(body("tell me a story", max_tokens=40, stream=True))
        assert stream._resp is not None and BODY_EXTENSION in stream._resp.extensions
        chunks = [chunk async for chunk in stream]
    record = last_call("chat/completions")
    assert record is not None and record.outcome == "ok" and record.status == 200
    assert record.text == text_of(chunks) == stream.partial_text and len(chunks) > 5
    assert record.first_token_s is not None and record.total_s >= record.first_token_s
    calllog.flush_all()
    row = calllog.log()[-1]
    assert row["text"] == record.text and row["outcome"] == "ok" and row["stream"] == 1


async def test_a_whole_answer_is_read_through_the_one_read_body(
    nvnb_server: LocalServer,
) -> None:
    async with AsyncClient(base_url=nvnb_server.base_url) as client:
        answer = await client.chat(body("hello there", max_tokens=12))
    record = last_call("chat/completions")
    assert record is not None and record.outcome == "ok"
    assert record.text == answer["choices"][0]["message"]["content"] != ""
    assert (record.tokens_in, record.tokens_out) == (
        answer["usage"]["prompt_tokens"],
        answer["usage"]["completion_tokens"],
    )


async def test_a_dropped_stream_through_the_one_read_body_keeps_its_partial_text(
    nvnb_server: LocalServer,
) -> None:
    received: list[dict] = []
    async with AsyncClient(base_url=nvnb_server.base_url) as client:
        with pytest.raises(E.StreamInterrupted) as info:
            async for chunk in client.stream_chat(
                body("story", max_tokens=40, stream=True),
                headers={"X-NVNB-Fault": "drop-after=4"},
            ):
                received.append(chunk)
        assert client.pool_stats()["connections"] == 0  # the broken connection is not kept
    assert info.value.chunks_received == 4 and info.value.partial_text == text_of(received)
    assert last_call("chat/completions").outcome == "interrupted"  # type: ignore[union-attr]


# --- a compressed body goes through httpx's decoding --------------------------------------


def _sse_events(words: list[str]) -> bytes:
    events = [
        {"id": "c1", "object": "chat.completion.chunk", "model": MODEL,
         "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
        for word in words
    ]  # fmt: skip
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + (
        b"data: [DONE]\n\n"
    )


class _GzipHandler(BaseHTTPRequestHandler):
    """Answers every POST gzip-compressed: SSE when the body asks to stream, else JSON."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        words = ["zipped ", "words ", "arrive ", "whole"]
        if request.get("stream"):
            raw, ctype = _sse_events(words), "text/event-stream"
        else:
            message = {"role": "assistant", "content": "".join(words)}
            raw = json.dumps({"choices": [{"index": 0, "message": message}]}).encode()
            ctype = "application/json"
        packed = gzip.compress(raw)
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(packed)))
        self.end_headers()
        self.wfile.write(packed)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gzip_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GzipHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_compressed_stream_is_decoded_by_httpx_not_read_raw(gzip_server: str) -> None:
    async with AsyncClient(base_url=gzip_server) as client:
        stream = await client.stream_chat(body(stream=True))
        assert stream._resp is not None and BODY_EXTENSION not in stream._resp.extensions
        chunks = [chunk async for chunk in stream]
        answer = await client.chat(body())
    assert text_of(chunks) == "zipped words arrive whole"
    assert answer["choices"][0]["message"]["content"] == "zipped words arrive whole"
    assert last_call("chat/completions").text == "zipped words arrive whole"  # type: ignore[union-attr]


# --- no reference cycles ----------------------------------------------------------------


async def test_exchanges_leave_no_cyclic_garbage(nvnb_server: LocalServer) -> None:
    """A finished exchange's objects go with their last reference: none waits for the cyclic
    GC (under load they would outlive its young generations and make full collections
    frequent). Streams read to the end, closed early, broken, and whole answers."""
    async with AsyncClient(base_url=nvnb_server.base_url) as client:
        await client.chat(body(max_tokens=4))  # the pool and its connections exist
        gc.collect()
        gc.disable()
        try:
            for _ in range(3):
                async for _chunk in client.stream_chat(body(max_tokens=8, stream=True)):
                    pass
                async with client.stream_chat(body(max_tokens=40, stream=True)) as early:
                    await early.__anext__()
                with pytest.raises(E.StreamInterrupted):
                    async for _chunk in client.stream_chat(
                        body(max_tokens=40, stream=True), headers={"X-NVNB-Fault": "drop-after=2"}
                    ):
                        pass
                await client.chat(body(max_tokens=4))
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            garbage = [type(o).__name__ for o in gc.garbage]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    kinds = (httpx.Response, httpx.Request, Call, AsyncChatStream)
    assert not [name for name in garbage if name in {k.__name__ for k in kinds}], garbage


# --- the in-flight gate: requests wait for a free connection in the transport's queue ------


def small_pool(server: LocalServer, pool_s: float = 5.0) -> AsyncClient:
    return AsyncClient(
        base_url=server.base_url,
        max_connections=1,
        max_retries=0,
        timeout=Timeouts(pool=pool_s, read=10.0),
    )


async def test_a_request_waits_for_a_free_connection_then_goes(nvnb_server: LocalServer) -> None:
    async with small_pool(nvnb_server) as client:
        held = await client.stream_chat(body(max_tokens=8, stream=True))
        waiting = asyncio.ensure_future(client.chat(body(max_tokens=4)))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the one connection is the held stream's
        chunks = [chunk async for chunk in held]  # read to its end: the place is free
        answer = await asyncio.wait_for(waiting, 5)
    assert text_of(chunks) and answer["choices"][0]["message"]["content"]


async def test_the_wait_for_a_free_connection_ends_at_the_pool_timeout(
    nvnb_server: LocalServer,
) -> None:
    async with small_pool(nvnb_server, pool_s=0.3) as client:
        held = await client.stream_chat(body(max_tokens=8, stream=True))
        started = time.monotonic()
        with pytest.raises(E.NVNBError) as caught:
            await client.chat(body(max_tokens=4))
        waited = time.monotonic() - started
        message = str(caught.value)
        await held.aclose()  # closed early: its place is free again
        answer = await asyncio.wait_for(client.chat(body(max_tokens=4)), 5)
    assert 0.25 < waited < 3, waited
    assert "waiting for a free connection" in message and nvnb_server.base_url in message, message
    assert answer["choices"][0]["message"]["content"]


async def test_no_place_is_lost_to_errors_cancellations_or_an_unclosed_stream(
    nvnb_server: LocalServer,
) -> None:
    """With one connection, each of these would leave every later request waiting forever
    if it kept its place: an HTTP error, a dropped stream, a cancelled waiter, a cancelled
    sender, a stream nobody closed (collected)."""
    async with small_pool(nvnb_server, pool_s=3.0) as client:
        for _ in range(2):
            with pytest.raises(E.APIError):
                await client.chat(body(), headers={"X-NVNB-Fault": "status=500"})
            with pytest.raises(E.StreamInterrupted):
                async for _chunk in client.stream_chat(
                    body(max_tokens=40, stream=True), headers={"X-NVNB-Fault": "drop-after=2"}
                ):
                    pass
        held = await client.stream_chat(body(max_tokens=8, stream=True))
        waiters = [asyncio.ensure_future(client.chat(body(max_tokens=4))) for _ in range(3)]
        await asyncio.sleep(0.1)
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        await held.aclose()
        slow = asyncio.ensure_future(
            client.chat(body(max_tokens=4), headers={"X-NVNB-Fault": "latency-ms=2000"})
        )
        await asyncio.sleep(0.3)
        slow.cancel()  # cancelled while its request is on the wire
        await asyncio.gather(slow, return_exceptions=True)
        forgotten = await client.stream_chat(body(max_tokens=8, stream=True))
        await forgotten.__anext__()
        del forgotten  # never closed nor read to its end
        gc.collect()
        answers = await asyncio.wait_for(
            asyncio.gather(*(client.chat(body(max_tokens=4)) for _ in range(3))), 10
        )
    assert all(a["choices"][0]["message"]["content"] for a in answers)
