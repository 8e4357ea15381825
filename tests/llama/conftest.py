"""The llama.cpp tier: nvnb against a real OpenAI-compatible model server (llama-server).

Fixtures:

``llama_server``        llama-server with Gemma 3 270M on a free loopback port, one per session.
``llama_tools_server``  the same with llama.cpp's Gemma 4 template, which makes it call tools.
``llama_binary``        (binary, model, tools template) paths, to start a server of one's own.
``llama_proxy``         ``nvnb serve --upstream`` in front of ``llama_server`` (recorded, faults).

Skipped, with the reason, only when ``NVNB_LLAMA_SERVER`` is unset: ``scripts/test`` always sets
it (building the server once per machine), so CI runs this tier.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llamatools import LlamaServer

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.llama)


@pytest.fixture(scope="session")
def llama_binary() -> tuple[str, str, str | None]:
    binary = os.environ.get("NVNB_LLAMA_SERVER")
    if not binary:
        pytest.skip(
            "NVNB_LLAMA_SERVER is unset: run scripts/test (it builds llama-server once per "
            "machine), or `source scripts/_llama_server.sh` first"
        )
    model = os.environ.get("NVNB_LLAMA_MODEL", "")
    for what, path in (("NVNB_LLAMA_SERVER", binary), ("NVNB_LLAMA_MODEL", model)):
        if not Path(path).is_file():
            pytest.fail(f"{what}={path!r} is not a file: rerun scripts/_llama_server.sh")
    template = os.environ.get("NVNB_LLAMA_TOOLS_TEMPLATE") or None
    return binary, model, template


@pytest.fixture(scope="session")
def llama_server(llama_binary: tuple[str, str, str | None]) -> Iterator[LlamaServer]:
    binary, model, _ = llama_binary
    with LlamaServer(binary, model) as server:
        yield server


@pytest.fixture(scope="session")
def llama_tools_server(llama_binary: tuple[str, str, str | None]) -> Iterator[LlamaServer]:
    binary, model, template = llama_binary
    if template is None or not Path(template).is_file():
        pytest.fail("NVNB_LLAMA_TOOLS_TEMPLATE is not a file: rerun scripts/_llama_server.sh")
    with LlamaServer(binary, model, template=template) as server:
        yield server


@pytest.fixture(scope="session")
def llama_proxy_session(llama_server: LlamaServer) -> Iterator[Any]:
    """``nvnb serve --upstream`` in front of llama-server: real answers, recorded, faults on
    demand (``X-NVNB-Fault``)."""
    from nvnb.server import LocalServer

    with LocalServer(upstream=llama_server.base_url) as proxy:
        yield proxy


@pytest.fixture
def llama_proxy(llama_proxy_session: Any) -> Any:
    """The proxy with its recordings and ``times=`` fault counts cleared for this test."""
    llama_proxy_session.clear()
    return llama_proxy_session
