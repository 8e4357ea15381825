"""Fixtures for the server's own tests: plain httpx over real sockets, never nvnb's client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest


@pytest.fixture
def http(nvnb_server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=nvnb_server.origin, timeout=10) as client:
        yield client
