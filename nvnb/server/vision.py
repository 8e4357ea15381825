"""What Pillow can say about an image: format, size, mode, dominant colours.

Images come as data URIs, uploaded assets (``data:image/…;asset_id,<id>``) or URLs; URLs are
fetched only on loopback, anything else is reported as not fetched.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import re
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from PIL import Image

FETCH_LIMIT = 20 * 1024 * 1024
FETCH_TIMEOUT_S = 5.0
MAX_PIXELS = 64_000_000
_ASSET = re.compile(r"data:image/[\w.+-]+;asset_id,([\w-]+)", re.IGNORECASE)
_PALETTE = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "grey": (128, 128, 128),
    "light grey": (200, 200, 200),
    "dark grey": (64, 64, 64),
    "red": (220, 30, 30),
    "dark red": (128, 0, 0),
    "orange": (255, 140, 0),
    "yellow": (250, 220, 30),
    "olive": (128, 128, 0),
    "green": (40, 170, 40),
    "dark green": (0, 90, 0),
    "cyan": (0, 200, 220),
    "teal": (0, 128, 128),
    "blue": (30, 60, 210),
    "navy": (0, 0, 110),
    "light blue": (140, 190, 240),
    "purple": (128, 40, 160),
    "magenta": (220, 40, 200),
    "pink": (250, 170, 200),
    "brown": (140, 80, 30),
    "beige": (230, 215, 170),
}


async def describe(refs: list[str], assets: Mapping[str, bytes | None]) -> list[str]:
    """One sentence of facts per image reference."""
    facts = []
    for i, ref in enumerate(refs, 1):
        data, problem = await _load(ref, assets)
        facts.append(f"Image {i}: {problem}" if data is None else f"Image {i}: {facts_of(data)}")
    return facts


async def _load(ref: str, assets: Mapping[str, bytes | None]) -> tuple[bytes | None, str]:
    asset = _ASSET.match(ref)
    if asset:
        data = assets.get(asset.group(1))
        return (data, "") if data else (None, "the uploaded asset has no content.")
    if ref.startswith("data:"):
        try:
            return base64.b64decode(ref.partition(",")[2], validate=False), ""
        except (binascii.Error, ValueError):
            return None, "the data URI is not valid base64."
    if not is_loopback(ref):
        return None, (
            f"{_short(ref)} was not fetched: the local nvnb server fetches image URLs "
            "only on loopback."
        )
    import httpx  # imported here: it is slow to import and rarely needed

    try:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, trust_env=False) as client:
            response = await client.get(ref)
        if response.status_code != 200:
            return None, f"{_short(ref)} answered HTTP {response.status_code}."
        if len(response.content) > FETCH_LIMIT:
            return None, f"{_short(ref)} is larger than {FETCH_LIMIT} bytes."
        return response.content, ""
    except httpx.HTTPError as exc:
        return None, f"{_short(ref)} could not be fetched ({type(exc).__name__})."


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def facts_of(data: bytes) -> str:
    """Format, size, mode and dominant colours, or why Pillow could not read it."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                return f"{image.format}, {width}×{height} pixels (too large to analyse)."
            image.load()
            colours = dominant_colours(image)
            fmt, mode = image.format or "unknown format", image.mode
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return f"not an image Pillow can read ({type(exc).__name__})."
    shown = ", ".join(f"{name} ({share}%)" for name, share in colours)
    return f"{fmt}, {width}×{height} pixels, mode {mode}; dominant colours: {shown}."


def dominant_colours(image: Image.Image, n: int = 3) -> list[tuple[str, int]]:
    """Up to ``n`` palette names covering at least 5% of the image, with their share."""
    small = image.convert("RGB")
    small.thumbnail((64, 64))
    raw = small.tobytes()
    counts = Counter(_nearest(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3))
    total = sum(counts.values()) or 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(name, round(100 * c / total)) for name, c in ranked[:n] if c / total >= 0.05]


@lru_cache(maxsize=4096)
def _nearest(r: int, g: int, b: int) -> str:
    return min(
        _PALETTE,
        key=lambda k: (
            (_PALETTE[k][0] - r) ** 2 + (_PALETTE[k][1] - g) ** 2 + (_PALETTE[k][2] - b) ** 2
        ),
    )


def _short(url: str) -> str:
    return url if len(url) <= 80 else url[:77] + "…"
