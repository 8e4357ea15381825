"""Sample image URLs follow the backend in use."""

from __future__ import annotations

import httpx
import pytest

from nvnb import samples


def test_on_a_loopback_server_the_sample_url_is_served_by_it(nvnb_server, monkeypatch) -> None:
    monkeypatch.setenv("NVIDIA_BASE_URL", nvnb_server.base_url)
    url = samples.image_url("red-circle.png")
    assert url.startswith(nvnb_server.base_url.removesuffix("/v1"))
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"


def test_every_named_sample_exists_on_the_local_server(nvnb_server, monkeypatch) -> None:
    monkeypatch.setenv("NVIDIA_BASE_URL", nvnb_server.base_url)
    for name in samples.LOCAL_SAMPLES:
        assert httpx.get(samples.image_url(name)).status_code == 200, name


def test_on_the_hosted_service_the_sample_is_a_public_url(monkeypatch) -> None:
    monkeypatch.delenv("NVIDIA_BASE_URL", raising=False)
    monkeypatch.delenv("NVNB_HOSTED_ORIGIN", raising=False)
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-" + "x" * 40)
    assert samples.image_url() == samples.PUBLIC_SAMPLE_URL


def test_an_unknown_sample_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"red-circle\.png"):
        samples.image_url("cat.png")
