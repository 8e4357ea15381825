"""ImageDrop: binary buffers in, validation messages, shrinking, thumbnails, removal."""

from __future__ import annotations

import io
import os

from PIL import Image

from nvnb.session import Session
from nvnb.widgets import ImageDrop


def png(size=(64, 48), color="blue") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def drop(widget: ImageDrop, data: bytes, name: str) -> None:
    """What the view sends: metadata plus the file as a binary buffer (a memoryview here)."""
    widget._on_front_end_msg(
        widget, {"type": "add", "name": name, "size": len(data)}, [memoryview(data)]
    )


def test_a_dropped_image_is_attached_to_the_session_with_a_thumbnail():
    session = Session("meta/llama-3.2-11b-vision-instruct")
    widget = ImageDrop(session=session)
    drop(widget, png(), "blue.png")
    assert widget.error == ""
    assert len(session.images) == 1 and session.images[0].name == "blue.png"
    (shown,) = widget.images
    assert (shown["width"], shown["height"]) == (64, 48)
    assert shown["thumb"].startswith("data:image/jpeg;base64,")
    assert "data_uri" not in shown  # the request version is not duplicated into the view state


def test_non_images_corrupt_and_too_large_files_get_a_message_in_the_widget():
    session = Session("meta/llama-3.2-11b-vision-instruct")
    widget = ImageDrop(session=session)
    drop(widget, b"%PDF-1.4 not an image", "paper.pdf")
    assert "paper.pdf" in widget.error and "not an image" in widget.error
    drop(widget, png()[:80], "cut.png")
    assert "cut.png" in widget.error
    widget.max_bytes = 1000
    drop(widget, png((400, 400)) + os.urandom(2000), "big.png")
    assert "too large" in widget.error
    assert session.images == []
    drop(widget, png(), "ok.png")
    assert widget.error == "" and len(session.images) == 1


def test_big_images_are_shrunk_and_only_the_request_version_is_kept():
    session = Session("meta/llama-3.2-11b-vision-instruct")
    widget = ImageDrop(session=session)
    noise = Image.frombytes("RGB", (1500, 1000), os.urandom(1500 * 1000 * 3))
    buf = io.BytesIO()
    noise.save(buf, format="PNG")
    drop(widget, buf.getvalue(), "noise.png")
    (shown,) = widget.images
    assert max(shown["width"], shown["height"]) <= 1024
    assert (shown["original_width"], shown["original_height"]) == (1500, 1000)
    assert shown["nbytes"] < shown["original_nbytes"]


def test_remove_and_the_session_stay_in_sync():
    session = Session("meta/llama-3.2-11b-vision-instruct")
    widget = ImageDrop(session=session)
    drop(widget, png(color="red"), "red.png")
    drop(widget, png(color="green"), "green.png")
    widget._on_front_end_msg(widget, {"type": "remove", "index": 0}, [])
    assert [i["name"] for i in widget.images] == ["green.png"]
    session.clear_images()
    assert widget.images == []


def test_a_text_model_gets_a_note_that_images_wait_for_a_vision_model():
    session = Session("meta/llama-3.1-8b-instruct")
    widget = ImageDrop(session=session)
    assert "does not take images" in widget.note
    session.model = "meta/llama-3.2-11b-vision-instruct"
    assert widget.note == ""


def test_the_model_answers_about_the_dropped_image(nvnb_server):
    session = Session("meta/llama-3.2-11b-vision-instruct", base_url=nvnb_server.base_url)
    widget = ImageDrop(session=session)
    drop(widget, png((64, 48), "red"), "red.png")
    answer = session.ask("What is in this image?")
    assert "64" in answer.text and "48" in answer.text, answer.text
    assert session.images == [] and widget.images == []
    body = nvnb_server.requests[-1].json
    parts = body["messages"][-1]["content"]
    assert any(p.get("type") == "image_url" for p in parts)


def test_repr_and_fallback():
    widget = ImageDrop(session=Session("meta/llama-3.2-11b-vision-instruct"))
    assert repr(widget) == "ImageDrop(images=0)"
    drop(widget, png(), "blue.png")
    assert widget._fallback_markdown() == "**Images:**\n- blue.png (64×48, 1 KiB)"


def test_an_image_shrunk_in_the_browser_keeps_what_it_came_from():
    """The view shrinks files above ``send_limit`` to a JPEG and says what the original was."""
    session = Session("meta/llama-3.2-11b-vision-instruct")
    widget = ImageDrop(session=session)
    assert widget.send_limit < 10 * 1024 * 1024 < widget.refuse_bytes  # the websocket limit
    assert widget.inline_bytes == 135_000
    buf = io.BytesIO()
    Image.new("RGB", (576, 576), "grey").save(buf, format="JPEG")
    data = buf.getvalue()
    meta = {
        "type": "add",
        "name": "huge.jpg",
        "mime": "image/jpeg",
        "size": len(data),
        "original_width": 2000,
        "original_height": 2000,
        "original_nbytes": 12_000_123,
        "shrunk_in_browser": True,
    }
    widget._on_front_end_msg(widget, meta, [memoryview(data)])
    (shown,) = widget.images
    assert (shown["width"], shown["original_width"], shown["original_nbytes"]) == (
        576,
        2000,
        12_000_123,
    )
    assert shown["mime"] == "image/jpeg" and shown["thumb"].startswith("data:image/jpeg")
    # Without the flag, what a page claims about an original is ignored.
    widget.clear()
    widget._on_front_end_msg(widget, {**meta, "shrunk_in_browser": False}, [memoryview(data)])
    assert widget.images[0]["original_width"] == 576
