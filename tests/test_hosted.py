"""nvnb._hosted: which URLs are NVIDIA's hosted service (the settings' mode, the upstream key)."""

from __future__ import annotations

import pytest

from nvnb._hosted import HOSTED_HOSTS, is_hosted_url
from nvnb.settings import mode_for


@pytest.mark.parametrize("host", sorted(HOSTED_HOSTS))
def test_nvidias_hosts_are_the_hosted_service(host: str) -> None:
    assert is_hosted_url(f"https://{host}/v1")
    assert mode_for(f"https://{host}/v1") == "hosted"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "https://integrate.api.nvidia.com.example.com/v1",  # a look-alike host
        "https://example.com/integrate.api.nvidia.com/v1",  # the name in the path only
        "not a url",
    ],
)
def test_anything_else_is_not(url: str) -> None:
    assert not is_hosted_url(url)
    assert mode_for(url) == "self-hosted"
