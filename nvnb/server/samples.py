"""Sample images drawn with Pillow on demand, served at ``GET /_nvnb/samples/<name>``.

``red-circle.png``  a red circle on white, 256×256
``gradient.png``    blue to yellow, left to right, 320×200
``blue-square.jpg`` a blue square on a light grey ground, 200×200 (JPEG)
``noise.png``       random colour noise, 640×640: over the inline limit once base64-encoded,
                    so it exercises downscaling and the assets API
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image


def _red_circle() -> Image:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (256, 256), "white")
    ImageDraw.Draw(image).ellipse((48, 48, 208, 208), fill=(220, 20, 30))
    return image


def _gradient() -> Image:
    width, height = 320, 200
    from PIL import Image

    ramp = [x / (width - 1) for x in range(width)]
    row = bytes(v for t in ramp for v in (round(255 * t), round(255 * t), round(255 * (1 - t))))
    return Image.frombytes("RGB", (width, height), row * height)


def _blue_square() -> Image:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (200, 200), (225, 225, 225))
    ImageDraw.Draw(image).rectangle((40, 40, 160, 160), fill=(30, 60, 200))
    return image


def _noise() -> Image:
    from PIL import Image

    size = 640
    return Image.frombytes("RGB", (size, size), random.Random(0).randbytes(size * size * 3))


SAMPLES: dict[str, tuple[Callable[[], Image], str]] = {
    "red-circle.png": (_red_circle, "PNG"),
    "gradient.png": (_gradient, "PNG"),
    "blue-square.jpg": (_blue_square, "JPEG"),
    "noise.png": (_noise, "PNG"),
}
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}


@cache
def render(name: str) -> tuple[bytes, str]:
    """(bytes, media type) of a sample; KeyError for unknown names."""
    draw, fmt = SAMPLES[name]
    buffer = io.BytesIO()
    draw().save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue(), MEDIA_TYPES[fmt]
