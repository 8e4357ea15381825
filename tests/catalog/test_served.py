"""A self-hosted server's live list as the catalog (nvnb serve stands in for the server)."""

from __future__ import annotations

from typing import Any

from nvnb.catalog import merge_listing
from nvnb.catalog.served import served_default, served_models
from nvnb.client import Client
from nvnb.session import DEFAULT_MODEL


def test_unknown_listed_ids_become_chat_records_with_their_image_input() -> None:
    listing = [
        {"id": "gemma-3-270m", "architecture": {"input_modalities": ["text"]}},
        {"id": "my-vlm", "input_modalities": ["text", "image"]},
        {"id": "nvidia/nv-embedqa-e5-v5"},  # an embedding model: no chat record
        {"object": "model"},  # no id
        {"id": "gemma-3-270m"},  # listed twice
    ]
    served = merge_listing(lambda: listing, keep=lambda m: m.is_chat, self_hosted=True)
    assert [m.id for m in served] == ["gemma-3-270m", "my-vlm"]
    text, vision = served
    assert text.type == "chat" and not text.supports_images
    assert vision.supports_images


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


def test_chat_models_are_the_servers_list_on_a_nim_and_the_whole_catalog_when_hosted(
    nvnb_server: Any, monkeypatch: Any
) -> None:
    from nvnb.catalog import known_models
    from nvnb.catalog.served import chat_models

    with Client(base_url=nvnb_server.base_url) as client:
        assert [m.id for m in chat_models(client)] == [m.id for m in served_models(client) or []]
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", "http://127.0.0.1:9")  # the listing fails
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-test-sentinel-key-0123456789")
    monkeypatch.delenv("NVIDIA_BASE_URL", raising=False)
    with Client(max_retries=0, timeout=2) as client:
        hosted = {m.id for m in chat_models(client)}
    assert hosted == {m.id for m in known_models() if m.is_chat}


def test_a_name_is_judged_by_the_listing_only_on_the_hosted_service_and_off_the_catalog() -> None:
    from nvnb.catalog.served import judged_by_listing

    assert judged_by_listing("acme/own", self_hosted=False)
    assert not judged_by_listing("acme/own", self_hosted=True)  # the server's own id
    assert not judged_by_listing("ai-neva-22b", self_hosted=False)  # the catalog knows it


def test_resolving_where_the_request_goes() -> None:
    import pytest

    from nvnb.catalog.served import resolve_on_service
    from nvnb.errors import ConnectError, UnknownModelError

    asked: list[str] = []

    def listing() -> list[dict[str, str]]:
        asked.append("listed")
        return [{"id": "acme/own"}, {"object": "model"}]

    def offline() -> list[dict[str, str]]:
        raise ConnectError("no route")

    known = resolve_on_service("ai-neva-22b", self_hosted=False, list_models=listing)
    assert known is not None and known.id == "nvidia/neva-22b" and asked == []
    assert resolve_on_service("acme/own", self_hosted=True, list_models=listing) is None
    assert asked == []  # a self-hosted server's own ids are not looked up
    own = resolve_on_service("acme/own", self_hosted=False, list_models=listing)
    assert own is not None and (own.id, own.type) == ("acme/own", "chat")
    with pytest.raises(UnknownModelError):
        resolve_on_service("acme/0wn", self_hosted=False, list_models=listing)
    assert resolve_on_service("acme/0wn", self_hosted=False, list_models=offline) is None
