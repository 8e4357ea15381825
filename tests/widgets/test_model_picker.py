"""ModelPicker: the catalog, filters, two-way binding to the session, live list off the kernel."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from nvnb.session import Session
from nvnb.widgets import ModelPicker
from nvnb.widgets.model_picker import catalog_records


def test_the_picker_lists_the_chat_models_of_the_catalog_without_embeddings():
    records = catalog_records()
    types = {r["type"] for r in records}
    assert "steerlm" in types and "vlm" in types and "qa" in types
    assert "embedding" not in types and "ranking" not in types
    steer = next(r for r in records if r["id"] == "nvidia/nemotron-steerlm-8b")
    assert steer["labels"] == ["creativity", "complexity", "verbosity"]
    assert "playground_nemotron_steerlm_8b" in steer["aliases"]


def test_selecting_a_model_sets_the_session_and_the_session_moves_the_picker():
    session = Session()
    picker = ModelPicker(session=session, live=False)
    assert picker.value == session.model
    picker.set_state({"value": "nvidia/nemotron-steerlm-8b"})  # what a click in the view does
    assert session.model == "nvidia/nemotron-steerlm-8b"
    session.model = "ai-neva-22b"  # an alias, as %nvchat use would set it
    assert picker.value == "nvidia/neva-22b"


def test_filters_are_state_the_kernel_can_read_and_set():
    picker = ModelPicker(session=Session(), live=False)
    picker.set_state({"type_filter": "steerlm", "capability_filter": "tools"})
    assert (picker.type_filter, picker.capability_filter) == ("steerlm", "tools")


def test_the_live_list_loads_in_the_background_and_marks_listed_models(nvnb_server):
    picker = ModelPicker(session=Session(base_url=nvnb_server.base_url))
    picker._thread.join(10)
    assert picker.status == "ready", picker.error
    assert any(r["live"] for r in picker.models)


def test_a_failing_live_list_shows_in_the_widget_and_never_blocks():
    session = Session(base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    t0 = time.monotonic()
    picker = ModelPicker(session=session)
    assert time.monotonic() - t0 < 1.0
    picker._thread.join(15)
    assert picker.status == "error"
    assert picker.error.startswith("Could not load the live model list")
    assert "\n" not in picker.error
    assert len(picker.models) > 100  # the known catalog stays usable


@pytest.fixture
def listing_server() -> Iterator[Callable[[list[dict[str, Any]]], str]]:
    """A loopback server whose ``/v1/models`` lists what the test says (an origin is returned)."""
    servers: list[ThreadingHTTPServer] = []

    def serve(listing: list[dict[str, Any]]) -> str:
        body = json.dumps({"object": "list", "data": listing}).encode()

        class Listing(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path.rstrip("/").endswith("/models")
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Listing)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def loaded(picker: ModelPicker) -> dict[str, dict[str, Any]]:
    picker._thread.join(10)
    assert picker.status == "ready", picker.error
    return {r["id"]: r for r in picker.models}


def test_unknown_live_ids_are_added_as_chat_models(
    listing_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = listing_server(
        [
            {"id": "acme/new-model-1"},  # the catalog lacks it
            {"id": "ai-neva-22b"},  # a legacy alias: its record is the one listed
            {"id": "nvidia/nv-embedqa-e5-v5"},  # an embedding model does not chat
        ]
    )
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-test-sentinel-key-0123456789")
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", origin)
    monkeypatch.delenv("NVIDIA_BASE_URL", raising=False)
    models = loaded(ModelPicker(session=Session()))
    assert models["acme/new-model-1"] == {
        "id": "acme/new-model-1",
        "type": "chat",
        "aliases": [],
        "endpoint": None,
        "capabilities": [],
        "labels": [],
        "deprecated": False,
        "live": True,
        "description": "",
        "context_length": None,
        "license": "",
        "url": "",
    }
    assert models["nvidia/neva-22b"]["live"]
    assert "nvidia/nv-embedqa-e5-v5" not in models and "ai-neva-22b" not in models
    # the hosted catalog stays whole; only what was listed is live
    assert {r["id"] for r in catalog_records()} < set(models)
    assert [i for i, r in models.items() if r["live"]] == ["acme/new-model-1", "nvidia/neva-22b"]


def test_a_self_hosted_servers_list_is_the_pickers_and_the_session_settles_on_it(
    listing_server: Any,
) -> None:
    origin = listing_server(
        [{"id": "gemma-3-270m"}, {"id": "my-vlm", "input_modalities": ["text", "image"]}]
    )
    session = Session(base_url=f"{origin}/v1")
    picker = ModelPicker(session=session)
    models = loaded(picker)
    assert list(models) == ["gemma-3-270m", "my-vlm"]
    assert all(r["live"] for r in models.values())
    assert models["my-vlm"]["capabilities"] == ["images"]
    assert picker.value == session.model == "gemma-3-270m"  # the default is not served there


def test_repr_and_fallback_are_stable():
    picker = ModelPicker(session=Session("nvidia/nemotron-steerlm-8b"), live=False)
    assert repr(picker) == "ModelPicker(value='nvidia/nemotron-steerlm-8b')"
    assert picker._repr_mimebundle_()[0]["text/markdown"] == (
        "**Model:** `nvidia/nemotron-steerlm-8b`"
    )


def test_the_card_shows_the_public_facts_the_catalog_has_and_invents_none():
    from langchain_nvidia_ai_endpoints.data._profiles import _PROFILES

    records = {r["id"]: r for r in catalog_records()}
    nano = records["nvidia/nemotron-3-nano-30b-a3b"]
    profile = _PROFILES["nvidia/nemotron-3-nano-30b-a3b"]
    assert nano["context_length"] == profile["max_input_tokens"]
    assert nano["description"].startswith(profile["name"])
    assert f"answers up to {profile['max_output_tokens']:,} tokens" in nano["description"]
    # No profile, no facts: nothing is made up for a model models.dev does not describe.
    unprofiled = [r for i, r in records.items() if i not in _PROFILES]
    assert unprofiled
    assert all(r["description"] == "" and r["context_length"] is None for r in unprofiled)
    assert all(r["license"] == "" and r["url"] == "" for r in records.values())
