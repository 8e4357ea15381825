"""Images for chat requests: what the service accepts, within its size limit.

The hosted service takes an image as an http(s) URL, as an inline ``data:image/...;base64,`` URI of
at most about 180 000 base64 characters, or as an NVCF asset referenced by
``data:image/<ext>;asset_id,<id>``. This module turns what users have (URLs, data URIs, and through
the explicit :func:`from_path` helper: files, bytes, PIL images) into one of those.

Pillow is imported only when an image must actually be decoded: an oversized data URI, or the input
of :func:`from_path`. Small data URIs and URLs are passed on exactly as given. Local paths are never
read unless a caller asks for it with :func:`from_path`.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nvnb.errors import ImageError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

INLINE_LIMIT = 180_000
"""The service's inline limit, in base64 characters of a data URI's payload."""

MAX_PIXELS = 64_000_000
"""Refuse to decode images larger than this (a decompression bomb, or simply too big)."""

MAX_SIDE = 1024
"""Longest side, in pixels, of an image that has to be shrunk to fit inline."""

FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
"""Formats the service reads, by Pillow's lower-case format name."""

DETAILS = ("auto", "low", "high")

MAX_FILE_BYTES = 20 * 1024 * 1024
"""Image files larger than this are refused before decoding (the ImageDrop widget says so)."""

AssetUpload = Literal["auto", "never", "always"]

_DATA_URI = re.compile(
    r"^data:(?P<mime>image/[A-Za-z0-9.+-]+)?(?P<params>(;[^;,]*)*?)(?P<b64>;base64)?,(?P<data>.*)$",
    re.DOTALL,
)
_ASSET_URI = re.compile(r"^data:image/[^;,]+;asset_id,[^\"'\s]+$")
IMG_TAG = re.compile(r"""<img\s+[^>]*?src=(?P<q>["'])(?P<src>data:image/[^"']+)(?P=q)[^>]*>""")


@dataclass(frozen=True)
class Oversized:
    """An inline image too large to send as it is: its decoded bytes and their MIME type."""

    data: bytes
    mime: str


def is_url(source: str) -> bool:
    """Whether ``source`` is an http(s) URL the service can fetch itself."""
    return source.startswith(("http://", "https://"))


def is_asset_uri(source: str) -> bool:
    """Whether ``source`` references an uploaded NVCF asset (``data:image/png;asset_id,…``)."""
    return bool(_ASSET_URI.match(source))


def validate_detail(detail: Any) -> None:
    """Check an OpenAI ``detail`` value: ``auto``, ``low`` or ``high``."""
    if detail is not None and detail not in DETAILS:
        from nvnb.errors import InvalidInputError

        raise InvalidInputError(
            f"image detail must be one of {', '.join(map(repr, DETAILS))}, not {detail!r}"
        )


def split_data_uri(uri: str) -> tuple[str, str]:
    """``(mime, base64 payload)`` of a base64 image data URI; :class:`ImageError` otherwise."""
    match = _DATA_URI.match(uri)
    if not match or not match.group("b64"):
        raise ImageError(
            f"not a base64 image data URI (expected data:image/<format>;base64,<data>): {uri[:40]}…"
        )
    return match.group("mime") or "image/png", match.group("data")


def to_data_uri(data: bytes, mime: str) -> str:
    """A base64 data URI for ``data``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def check_source(source: str, *, where: str = "image") -> Oversized | None:
    """Check an image source found in a message.

    Returns ``None`` when the source can be sent exactly as given (an http(s) URL, an asset
    reference, or a data URI within :data:`INLINE_LIMIT`), or the decoded bytes of an oversized
    data URI, which the caller then shrinks (:func:`shrink`) or uploads. Anything else, local
    paths included, is an :class:`ImageError`: paths are read only through :func:`from_path`.
    """
    if is_url(source) or is_asset_uri(source):
        return None
    if source.startswith("data:"):
        mime, payload = split_data_uri(source)
        if len(payload) <= INLINE_LIMIT:
            return None
        try:
            data = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ImageError(f"{where}: the data URI's base64 payload is invalid ({exc})") from None
        return Oversized(data=data, mime=mime)
    hint = ""
    if os.path.sep in source or "." in source[-6:]:
        hint = " To send a local file, use nvnb.images.from_path(path), which makes a data URI."
    raise ImageError(
        f"{where} must be an http(s) URL or a data:image/... URI, not {source[:60]!r}.{hint}"
    )


def open_image(data: bytes, *, what: str = "image") -> PILImage:
    """Decode ``data`` fully with Pillow, refusing bombs, truncated files and non-images."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"{what} is {width}×{height} pixels, more than nvnb decodes "
                    f"({MAX_PIXELS:,} pixels); it may be a decompression bomb"
                )
            image.load()
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"{what} looks like a decompression bomb: {exc}") from None
        except UnidentifiedImageError:
            raise ImageError(f"{what} is not an image Pillow can read") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageError(f"{what} is damaged or truncated: {exc}") from None
    return image


def _encode(image: PILImage, fmt: str, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    if fmt == "jpeg":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buffer, format="JPEG", quality=quality, optimize=True)
    else:
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            image = image.convert("RGBA")
        image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _has_alpha(image: PILImage) -> bool:
    if image.mode in ("RGBA", "LA", "PA"):
        return True
    return image.mode == "P" and "transparency" in image.info


def shrink(data: bytes, *, limit: int = INLINE_LIMIT, what: str = "image") -> str:
    """Downscale and recompress an image until its data URI fits ``limit`` base64 characters.

    The longest side goes to at most :data:`MAX_SIDE` pixels (smaller if needed); the result is
    JPEG, or PNG when the image has transparency and PNG fits. The data URI names the format
    actually sent.
    """
    from PIL import Image

    image = open_image(data, what=what)
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    side = MAX_SIDE
    while side >= 32:
        candidate = image.copy()
        candidate.thumbnail((side, side), Image.Resampling.LANCZOS)
        attempts: list[tuple[str, int]] = [("png", 0)] if _has_alpha(candidate) else []
        attempts += [("jpeg", 85), ("jpeg", 70), ("jpeg", 50)]
        for fmt, quality in attempts:
            encoded = _encode(candidate, fmt, quality)
            if (len(encoded) + 2) // 3 * 4 <= limit:
                return to_data_uri(encoded, FORMATS[fmt])
        side = int(side * 0.75)
    raise ImageError(f"{what} cannot be made small enough to send inline")


def for_upload(data: bytes, *, what: str = "image") -> tuple[bytes, str]:
    """Bytes and MIME type to upload as an NVCF asset: the original when the service reads its
    format, else a PNG re-encoding. The image is decoded first, so a broken file fails here."""
    image = open_image(data, what=what)
    fmt = (image.format or "").lower()
    if fmt in FORMATS and not (fmt == "gif" and getattr(image, "n_frames", 1) > 1):
        return data, FORMATS[fmt]
    return _encode(image, "png"), FORMATS["png"]


def from_path(source: str | os.PathLike[str] | bytes | PILImage, *, fit: bool = True) -> str:
    """A data URI for a local image file, raw image bytes or a PIL image.

    This is the explicit way to send a local file: message content never reads paths by itself.
    The image is decoded and checked (truncated files, non-images and decompression bombs raise
    :class:`nvnb.errors.ImageError`). Formats the service reads (PNG, JPEG, WebP, still GIF) are
    sent unchanged; others are converted to PNG. With ``fit`` (the default) an image over the
    inline limit is shrunk to fit; with ``fit=False`` it is left whole, and ChatNVIDIA shrinks or
    uploads it according to its ``asset_upload`` setting.
    """
    what = "image"
    if isinstance(source, (str, os.PathLike)):
        what = os.fspath(source)
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ImageError(f"cannot read image file {what!r}: {exc.strerror or exc}") from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "save") and hasattr(source, "size"):
        data = _encode(source, "png")
    else:
        raise ImageError(
            f"from_path takes a path, bytes or a PIL image, not {type(source).__name__}"
        )
    upload, mime = for_upload(data, what=what)
    uri = to_data_uri(upload, mime)
    if fit and len(uri) - uri.index(",") - 1 > INLINE_LIMIT:
        return shrink(upload, what=what)
    return uri


@dataclass(frozen=True)
class ImageAttachment:
    """An image ready for a request: already shrunk and encoded, the original not kept.

    ``data_uri`` is what the request carries; ``width``/``height``/``nbytes`` describe it and
    ``original_*`` the file it came from.
    """

    name: str
    mime: str
    data_uri: str
    width: int
    height: int
    nbytes: int
    original_width: int
    original_height: int
    original_nbytes: int

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "image") -> ImageAttachment:
        """Validate and shrink image bytes; raises :class:`nvnb.errors.ImageError`."""
        data = bytes(data)
        if len(data) > MAX_FILE_BYTES:
            raise ImageError(
                f"{name} is too large ({len(data) / 1e6:.1f} MB; the limit is "
                f"{MAX_FILE_BYTES / 1e6:.0f} MB)"
            )
        with open_image(data, what=name) as original:
            orig_w, orig_h = original.size
        uri = from_path(data)  # shrunk exactly as ChatNVIDIA shrinks an inline image
        mime, payload = split_data_uri(uri)
        raw = base64.b64decode(payload)
        if raw == data:
            width, height = orig_w, orig_h
        else:
            with open_image(raw, what=name) as small:
                width, height = small.size
        return cls(
            name=name,
            mime=mime,
            data_uri=uri,
            width=width,
            height=height,
            nbytes=len(raw),
            original_width=orig_w,
            original_height=orig_h,
            original_nbytes=len(data),
        )

    @classmethod
    def from_path(cls, path: str | Path) -> ImageAttachment:
        p = Path(path).expanduser()
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read image {p}: {exc.strerror or exc}") from None
        return cls.from_bytes(data, p.name)

    def summary(self) -> str:
        kib = self.nbytes / 1024
        return f"{self.name} ({self.width}×{self.height}, {kib:.0f} KiB)"


def to_request_url(image: Any) -> str:
    """An image given to ``Session.ask(images=…)`` as the URL a request carries: an
    :class:`ImageAttachment`, a URL or data URI, image bytes, a path or a PIL image."""
    if isinstance(image, ImageAttachment):
        return image.data_uri
    if isinstance(image, str) and image.startswith(("http://", "https://", "data:")):
        return image
    if isinstance(image, (bytes, bytearray, memoryview)):
        return ImageAttachment.from_bytes(bytes(image)).data_uri
    if isinstance(image, (str, Path)):
        return ImageAttachment.from_path(image).data_uri
    if hasattr(image, "save") and hasattr(image, "size"):  # a PIL image
        return from_path(image)
    raise ImageError(f"cannot use {type(image).__name__} as an image")
