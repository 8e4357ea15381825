"""Which URLs are NVIDIA's hosted service: the settings' hosted mode, and the only place
``nvnb serve --upstream`` sends ``NVIDIA_API_KEY`` on its own.

A leaf module (standard library only), so the settings and the local server can both ask
without importing each other.
"""

from __future__ import annotations

from urllib.parse import urlsplit

HOSTED_HOSTS = frozenset({"integrate.api.nvidia.com", "ai.api.nvidia.com", "api.nvcf.nvidia.com"})


def is_hosted_url(url: str) -> bool:
    """Whether ``url``'s host is one of NVIDIA's hosted service."""
    return (urlsplit(url).hostname or "") in HOSTED_HOSTS
