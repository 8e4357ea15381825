"""The pytest fixtures of ``nvnb.testing``: a fresh server per test, even right after a request
that was cancelled or is still arriving."""

from __future__ import annotations

import json
import socket
import threading
import time

from nvnb.server import LocalServer
from nvnb.testing import fresh


def _send_slowly(server: LocalServer, pause: float) -> threading.Thread:
    """A request whose headers arrive now and whose body arrives ``pause`` s later."""
    body = json.dumps(
        {"model": "meta/llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "late"}]}
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = socket.create_connection((server.host, server.port))
    sock.sendall(head + body[:10])

    def rest() -> None:
        time.sleep(pause)
        sock.sendall(body[10:])
        sock.recv(65536)
        sock.close()

    thread = threading.Thread(target=rest, daemon=True)
    thread.start()
    return thread


def test_a_fresh_server_waits_for_a_request_still_arriving_before_clearing(
    nvnb_server_session: LocalServer,
) -> None:
    server = nvnb_server_session
    thread = _send_slowly(server, 0.5)
    time.sleep(0.2)  # the server has the headers, not yet the body
    fresh(server)
    thread.join(5)
    time.sleep(0.1)
    assert server.requests == []  # the late request landed before the clearing, not after


def test_a_fresh_server_gives_up_waiting_after_its_timeout(
    nvnb_server_session: LocalServer,
) -> None:
    server = nvnb_server_session
    thread = _send_slowly(server, 0.8)
    time.sleep(0.2)
    began = time.monotonic()
    assert server.drain(timeout=0.2) is False
    assert time.monotonic() - began < 0.6
    thread.join(5)
    assert server.drain(timeout=2) is True
    server.clear()


def test_the_fixture_is_a_cleared_server(nvnb_server: LocalServer) -> None:
    assert nvnb_server.requests == []
