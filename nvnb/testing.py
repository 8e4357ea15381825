"""pytest plugin (entry point ``pytest11: nvnb``): fixtures backed by nvnb's local server.

Fixtures:

``nvnb_server``          a :class:`~nvnb.server.LocalServer` on a free loopback port, auth off.
                         One server per test session; its recordings and ``times=`` fault counts
                         are cleared before each test, once requests still arriving from the
                         test before (a cancelled one, say) have landed (up to 2 s).
                         ``str(nvnb_server)`` is its base URL.
``nvnb_auth_server``     the same with auth on: only ``Authorization: Bearer`` +
                         :data:`AUTH_KEY` passes.
``nvnb_server_session``  the session-scoped server itself (not cleared between tests).

The server is imported only when a fixture is used, so the plugin costs nothing otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from nvnb.server import LocalServer

AUTH_KEY = "nvapi-test-sentinel-key-0123456789"


@pytest.fixture(scope="session")
def nvnb_server_session() -> Iterator[LocalServer]:
    """One local server for the whole session (auth off)."""
    from nvnb.server import LocalServer

    with LocalServer() as server:
        yield server


@pytest.fixture(scope="session")
def nvnb_auth_server_session() -> Iterator[LocalServer]:
    from nvnb.server import LocalServer

    with LocalServer(auth_key=AUTH_KEY) as server:
        yield server


@pytest.fixture
def nvnb_server(nvnb_server_session: LocalServer) -> LocalServer:
    """The session's local server, with recordings and fault counts cleared for this test."""
    return fresh(nvnb_server_session)


@pytest.fixture
def nvnb_auth_server(nvnb_auth_server_session: LocalServer) -> LocalServer:
    """The session's auth-on local server (key :data:`AUTH_KEY`), cleared for this test."""
    return fresh(nvnb_auth_server_session)


def fresh(server: LocalServer) -> LocalServer:
    """``server`` with no recordings and no ``times=`` counts, after what was still arriving
    (from an earlier test) has landed: otherwise it would land in this test's recordings."""
    server.drain()
    server.clear()
    return server
