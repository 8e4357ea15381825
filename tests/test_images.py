"""nvnb.images: image sources → what the service accepts within its inline limit."""

from __future__ import annotations

import base64
import io
import os

import pytest
from PIL import Image

from nvnb import images
from nvnb.errors import ImageError, InvalidInputError


def _png(size: tuple[int, int] = (8, 8), mode: str = "RGB", noise: bool = False) -> bytes:
    if noise:
        image = Image.frombytes(mode, size, os.urandom(size[0] * size[1] * len(mode)))
    else:
        image = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _payload(uri: str) -> str:
    return uri.split(",", 1)[1]


def test_urls_and_small_data_uris_are_sent_exactly_as_given() -> None:
    small = images.to_data_uri(_png(), "image/png")
    assert images.check_source("https://example.com/cat.jpg") is None
    assert images.check_source(small) is None
    assert images.check_source("data:image/png;asset_id,abc-123") is None


def test_an_oversized_data_uri_is_decoded_for_shrinking_or_upload() -> None:
    big = images.to_data_uri(_png((400, 400), noise=True), "image/png")
    assert len(_payload(big)) > images.INLINE_LIMIT
    found = images.check_source(big)
    assert found is not None and found.mime == "image/png"
    assert found.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_local_paths_are_never_read_silently(tmp_path: object) -> None:
    with pytest.raises(ImageError, match="from_path"):
        images.check_source("/tmp/cat.png")


def test_shrink_fits_the_limit_and_labels_the_real_format() -> None:
    noisy = _png((1500, 1000), noise=True)
    uri = images.shrink(noisy)
    assert uri.startswith("data:image/jpeg;base64,")
    assert len(_payload(uri)) <= images.INLINE_LIMIT
    shrunk = Image.open(io.BytesIO(base64.b64decode(_payload(uri))))
    assert shrunk.format == "JPEG" and max(shrunk.size) <= images.MAX_SIDE


def test_shrink_keeps_transparency_as_png_when_it_fits() -> None:
    uri = images.shrink(_png((600, 600), mode="RGBA"))
    assert uri.startswith("data:image/png;base64,")


def test_non_images_truncated_files_and_bombs_raise_clear_image_errors() -> None:
    with pytest.raises(ImageError, match="not an image"):
        images.open_image(b"hello, not an image")
    with pytest.raises(ImageError, match=r"truncated|damaged"):
        images.open_image(_png((300, 300), noise=True)[:2000])
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bomb, format="PNG")
    with pytest.raises(ImageError, match="bomb"):
        images.open_image(bomb.getvalue())


def test_detail_must_be_auto_low_or_high() -> None:
    for ok in ("auto", "low", "high", None):
        images.validate_detail(ok)
    with pytest.raises(InvalidInputError, match="detail"):
        images.validate_detail("ultra")


def test_from_path_reads_files_bytes_and_pil_images(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "red.png"
    path.write_bytes(_png())
    assert images.from_path(path) == images.to_data_uri(_png(), "image/png")
    assert images.from_path(str(path)).startswith("data:image/png;base64,")
    assert images.from_path(_png()).startswith("data:image/png;base64,")
    assert images.from_path(Image.new("RGB", (4, 4))).startswith("data:image/png;base64,")


def test_from_path_converts_unsupported_formats_and_fits_big_images(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bmp = io.BytesIO()
    Image.new("RGB", (10, 10)).save(bmp, format="BMP")
    assert images.from_path(bmp.getvalue()).startswith("data:image/png;base64,")
    big = _png((1200, 1200), noise=True)
    assert len(_payload(images.from_path(big))) <= images.INLINE_LIMIT
    assert len(_payload(images.from_path(big, fit=False))) > images.INLINE_LIMIT


def test_from_path_names_a_missing_file() -> None:
    with pytest.raises(ImageError, match=r"no-such\.png"):
        images.from_path("/nonexistent/no-such.png")


# --- ImageAttachment: an image ready for a request (the session's images, the ImageDrop widget)


def test_large_images_are_shrunk_once_and_the_original_is_not_kept():
    buf = io.BytesIO()
    Image.frombytes("RGB", (1600, 1200), os.urandom(1600 * 1200 * 3)).save(buf, format="PNG")
    att = images.ImageAttachment.from_bytes(buf.getvalue(), "noise.png")
    assert max(att.width, att.height) <= 1024
    assert (att.original_width, att.original_height) == (1600, 1200)
    assert len(att.data_uri) < 190_000
    assert not any(isinstance(v, bytes) for v in vars(att).values())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not an image at all", "not an image"),
        (_png((40, 30))[:60], "damaged|truncated|not an image"),
    ],
)
def test_non_images_and_corrupt_files_are_refused_with_a_clear_message(data, message):
    with pytest.raises(ValueError, match=message):
        images.ImageAttachment.from_bytes(data, "x.png")


def test_too_large_files_are_refused_before_decoding(monkeypatch):
    monkeypatch.setattr("nvnb.images.MAX_FILE_BYTES", 100)
    with pytest.raises(ValueError, match="too large"):
        images.ImageAttachment.from_bytes(_png((100, 100)), "big.png")


def test_an_image_given_to_ask_becomes_the_url_the_request_carries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    png = _png((40, 30))
    att = images.ImageAttachment.from_bytes(png, "red.png")
    assert images.to_request_url(att) == att.data_uri
    assert images.to_request_url("https://example.com/cat.jpg") == "https://example.com/cat.jpg"
    assert images.to_request_url(png) == att.data_uri
    (tmp_path / "red.png").write_bytes(png)
    assert images.to_request_url(tmp_path / "red.png") == att.data_uri
    with pytest.raises(ImageError, match="cannot use int as an image"):
        images.to_request_url(3)
