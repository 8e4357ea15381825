"""LocalServer: starts fast on a free port, stops cleanly, never shows its key."""

from __future__ import annotations

import socket
import time

import httpx

from nvnb.server import LocalServer, embedded_url


def test_a_server_starts_in_under_a_second_on_a_free_port():
    import nvnb.server.app  # noqa: F401  (imports are not the start-up being measured)

    began = time.monotonic()
    server = LocalServer().start()
    try:
        assert time.monotonic() - began < 1.0
        assert server.port > 0
        assert httpx.get(f"{server.origin}/health").json()["status"] == "ok"
    finally:
        server.stop()


def test_keep_alive_requests_are_not_held_back_by_nagle():
    import statistics

    with LocalServer() as server, httpx.Client(base_url=server.origin) as client:
        client.get("/health")
        timings = []
        for _ in range(9):
            began = time.monotonic()
            client.get("/health")
            timings.append(time.monotonic() - began)
    assert statistics.median(timings) < 0.025  # ~40 ms each with Nagle + delayed ACK


def test_stopping_frees_the_port_and_ends_the_thread():
    server = LocalServer().start()
    port = server.port
    server.stop()
    assert not server.running
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # the port is free again


def test_the_context_manager_starts_and_stops_and_str_is_the_base_url():
    with LocalServer() as server:
        assert server.running
        assert str(server) == server.base_url == f"{server.origin}/v1"
        assert server.nvcf_url == f"{server.origin}/v2/nvcf"
    assert not server.running


def test_repr_says_whether_auth_is_on_but_never_shows_the_key():
    server = LocalServer(auth_key="nvapi-secret-value-42")
    assert "nvapi-secret-value-42" not in repr(server)
    assert "auth on" in repr(server)


def test_two_servers_run_side_by_side_with_their_own_recordings():
    with LocalServer() as one, LocalServer() as two:
        assert one.port != two.port
        httpx.get(f"{one.origin}/v1/models")
        assert len(one.requests) == 1 and two.requests == []


def test_a_bad_server_fault_option_fails_at_construction():
    import pytest

    from nvnb.server.problems import Problem

    with pytest.raises(Problem, match="unknown fault"):
        LocalServer(fault="explode=1")


def test_embedded_url_starts_one_server_per_process():
    first = embedded_url()
    assert first == embedded_url()
    assert first.startswith("http://127.0.0.1:")
    assert httpx.get(f"{first}/health").status_code == 200
