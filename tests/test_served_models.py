"""A self-hosted server's live list as the catalog (nvnb serve stands in for the server)."""

from __future__ import annotations

from typing import Any

from nvnb.client import Client
from nvnb.served_models import record_for, served_default, served_models
from nvnb.session import DEFAULT_MODEL


def test_unknown_listed_ids_become_chat_records_with_their_image_input() -> None:
    text = record_for({"id": "gemma-3-270m", "architecture": {"input_modalities": ["text"]}})
    vision = record_for({"id": "my-vlm", "input_modalities": ["text", "image"]})
    assert text is not None and text.type == "chat" and not text.supports_images
    assert vision is not None and vision.supports_images
    assert record_for({"id": "nvidia/nv-embedqa-e5-v5"}) is None  # an embedding model
    assert record_for({"object": "model"}) is None


def test_only_a_self_hosted_server_has_its_own_list(nvnb_server: Any) -> None:
    with Client(base_url=nvnb_server.base_url) as client:
        served = served_models(client)
        assert served is not None and all(m.is_chat for m in served)
        assert DEFAULT_MODEL in [m.id for m in served]
        assert served_default(client, DEFAULT_MODEL) == DEFAULT_MODEL  # served: kept
        assert served_default(client, "not/served") == served[0].id


def test_the_hosted_catalog_is_not_replaced(nvnb_server: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", nvnb_server.origin)
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-test-sentinel-key-0123456789")
    monkeypatch.delenv("NVIDIA_BASE_URL", raising=False)
    with Client() as client:
        assert client.settings.mode == "hosted"
        assert served_models(client) is None and served_default(client, "x") is None
