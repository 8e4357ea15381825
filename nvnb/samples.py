"""Sample images for tutorials and examples: URLs that the current backend can fetch.

The local server draws a few images itself and serves them on loopback; NVIDIA's hosted service
fetches public URLs only, so there the samples fall back to the public image NVIDIA's own first
tutorial used.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from nvnb.settings import resolve_settings

#: Names the local server serves at ``/_nvnb/samples/<name>``.
LOCAL_SAMPLES = ("red-circle.png", "gradient.png", "blue-square.jpg", "noise.png")
PUBLIC_SAMPLE_URL = (
    "https://www.nvidia.com/content/dam/en-zz/Solutions/research/ai-playground/"
    "nvidia-picasso-3c33-p@2x.jpg"
)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def image_url(name: str = "red-circle.png") -> str:
    """A URL of a sample image that the backend in use can fetch.

    On nvnb's local server (or any server on loopback) that is the server's own sample ``name``;
    anywhere else it is a public image.
    """
    if name not in LOCAL_SAMPLES:
        raise ValueError(f"no sample named {name!r}; samples: {', '.join(LOCAL_SAMPLES)}")
    settings = resolve_settings()
    origin = settings.hosted_origin or settings.base_url.removesuffix("/v1")
    if settings.mode == "local" or urlsplit(origin).hostname in _LOOPBACK:
        return f"{origin}/_nvnb/samples/{name}"
    return PUBLIC_SAMPLE_URL
