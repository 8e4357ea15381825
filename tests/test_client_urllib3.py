"""The sync transport (httpx over urllib3) on real sockets: bodies as they arrive, connections
back to the pool or dropped, the pool bounded, urllib3's failures as httpx's exceptions."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from nvnb.client._urllib3 import Urllib3Transport
from nvnb.server import LocalServer

BODY = {"model": "meta/llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "hi"}]}


def transport(size: int = 4) -> Urllib3Transport:
    return Urllib3Transport(ssl_context=None, verify=True, max_connections=size)


def test_a_body_read_to_the_end_returns_its_connection(nvnb_server: LocalServer) -> None:
    t = transport()
    with httpx.Client(transport=t) as c:
        for _ in range(3):
            assert c.post(f"{nvnb_server.base_url}/chat/completions", json=BODY).json()["choices"]
        assert t.stats() == {"connections": 1, "active": 0, "idle": 1}


def test_a_stream_arrives_read_by_read_and_an_early_close_drops_the_connection(
    nvnb_server: LocalServer,
) -> None:
    t = transport()
    url = f"{nvnb_server.base_url}/chat/completions"
    headers = {"X-NVNB-Fault": "chunk-delay-ms=30"}
    with httpx.Client(transport=t) as c:
        with c.stream("POST", url, json={**BODY, "stream": True}, headers=headers) as r:
            began = time.monotonic()
            first = next(r.iter_bytes())
            assert first.startswith(b"data: ") and time.monotonic() - began < 1.0
            assert t.stats()["active"] == 1
        assert t.stats() == {"connections": 0, "active": 0, "idle": 0}


def test_a_refused_connection_is_a_connect_error() -> None:
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    with httpx.Client(transport=transport()) as c, pytest.raises(httpx.ConnectError):
        c.get(f"http://127.0.0.1:{free}/")


def test_a_body_cut_short_is_a_protocol_error() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a few bytes")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    port = server.getsockname()[1]
    with httpx.Client(transport=transport()) as c, pytest.raises(httpx.RemoteProtocolError):
        c.get(f"http://127.0.0.1:{port}/").read()
    server.close()


def test_the_pool_is_bounded_and_a_wait_past_the_pool_timeout_is_a_pool_timeout(
    nvnb_server: LocalServer,
) -> None:
    t = transport(size=1)
    url = f"{nvnb_server.base_url}/chat/completions"
    headers = {"X-NVNB-Fault": "chunk-delay-ms=200"}
    timeout = httpx.Timeout(5.0, pool=0.2)
    with (
        httpx.Client(transport=t, timeout=timeout) as c,
        c.stream("POST", url, json={**BODY, "stream": True}, headers=headers),
        pytest.raises(httpx.PoolTimeout),
    ):
        c.post(url, json=BODY)


def _one_answer_server(head: bytes, body: bytes) -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    return server, server.getsockname()[1]


def test_a_gzip_encoded_stream_is_decoded_before_its_events_are_read() -> None:
    # the stream reads the transport's bytes directly only when there is no content encoding
    import gzip

    from nvnb.client import Client

    events = b"".join(
        b'data: {"choices": [{"index": 0, "delta": {"content": "%s"}}]}\n\n' % w
        for w in (b"packed", b" text")
    )
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
    server, port = _one_answer_server(head, gzip.compress(events + b"data: [DONE]\n\n"))
    with Client(api_key="nvapi-test", base_url=f"http://127.0.0.1:{port}/v1") as c:
        stream = c.stream_chat({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        texts = [chunk["choices"][0]["delta"]["content"] for chunk in stream]
    server.close()
    assert texts == ["packed", " text"]


def test_sync_exchanges_leave_no_cyclic_garbage(nvnb_server: LocalServer) -> None:
    """The sync twin of the async transport's test: streams read to the end, closed early,
    broken, and whole answers leave nothing for the cyclic GC."""
    import gc

    from nvnb import errors as E
    from nvnb.calls.transport import Call
    from nvnb.client import Client
    from nvnb.client._streams import ChatStream

    def body(**extra: object) -> dict:
        return {**BODY, **extra}

    with Client(base_url=nvnb_server.base_url) as client:
        client.chat(body(max_tokens=4))
        gc.collect()
        gc.disable()
        try:
            for _ in range(3):
                for _chunk in client.stream_chat(body(max_tokens=8)):
                    pass
                with client.stream_chat(body(max_tokens=40)) as early:
                    next(early)
                with pytest.raises(E.StreamInterrupted):
                    for _chunk in client.stream_chat(
                        body(max_tokens=40), headers={"X-NVNB-Fault": "drop-after=2"}
                    ):
                        pass
                client.chat(body(max_tokens=4))
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            kinds = (httpx.Response, httpx.Request, Call, ChatStream)  # by type: the server
            garbage = [type(o).__name__ for o in gc.garbage if isinstance(o, kinds)]  # has its own
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert not garbage, garbage
