"""ImageDrop: drag-and-drop, paste or choose images; attached to the session's next question."""

from __future__ import annotations

import base64
import io
from typing import Any

import traitlets

from nvnb.images import MAX_FILE_BYTES, ImageAttachment
from nvnb.widgets._base import NVWidget, resolve_session

THUMB_SIDE = 128

SEND_LIMIT = 4 * 1024 * 1024
"""Files above this are shrunk in the browser before they travel: a widget message above ~10 MiB
never reaches the kernel (Jupyter Server's websocket limit), and nothing would say so."""

REFUSE_BYTES = 64 * 1024 * 1024
"""Files above this are refused in the browser, with a message (not decoded at all)."""


def _inline_bytes() -> int:
    from nvnb.images import INLINE_LIMIT

    return INLINE_LIMIT * 3 // 4  # base64 characters → bytes


class ImageDrop(NVWidget):
    """Images for the next question, with thumbnails, sizes and remove buttons.

    Files arrive from the browser as binary buffers (custom messages), are checked with Pillow
    (non-images, damaged and too-large files get a message in the widget) and shrunk for the
    request at once; only that request version is kept (in ``session.images``), plus a small
    thumbnail for the view.
    """

    _view = traitlets.Unicode("image-drop").tag(sync=True)
    images = traitlets.List().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    max_bytes = traitlets.Int(MAX_FILE_BYTES).tag(sync=True)
    send_limit = traitlets.Int(SEND_LIMIT).tag(sync=True)
    refuse_bytes = traitlets.Int(REFUSE_BYTES).tag(sync=True)
    inline_bytes = traitlets.Int(0).tag(sync=True)
    compact = traitlets.Bool(
        False, help="thumbnails only (a ChatPanel adds images on its prompt)"
    ).tag(sync=True)

    def __init__(self, session: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.inline_bytes:
            self.inline_bytes = _inline_bytes()
        self.session = resolve_session(session)
        self._thumbs: dict[ImageAttachment, str] = {}
        self.on_msg(self._on_front_end_msg)
        self.session.observe(self._on_images, names="images")
        self.session.observe(self._on_model, names="model")
        self._on_images()
        self._on_model()

    def add(
        self, data: bytes, name: str = "image", original: dict[str, Any] | None = None
    ) -> ImageAttachment | None:
        """Attach image bytes (what a drop does); a problem is shown in the widget, not raised.

        ``original`` describes the file when the browser already shrank it (``original_width``,
        ``original_height``, ``original_nbytes``), so the thumbnail says what it came from.
        """
        if len(data) > self.max_bytes:
            self.error = (
                f"{name} is too large ({len(data) / 1e6:.1f} MB; the limit is "
                f"{self.max_bytes / 1e6:.0f} MB)"
            )
            return None
        self.busy = True
        try:
            attachment = ImageAttachment.from_bytes(data, name)
        except ValueError as exc:
            self.error = str(exc)
            return None
        finally:
            self.busy = False
        if original:
            import dataclasses

            attachment = dataclasses.replace(
                attachment,
                original_width=int(original.get("original_width") or attachment.original_width),
                original_height=int(original.get("original_height") or attachment.original_height),
                original_nbytes=int(original.get("original_nbytes") or attachment.original_nbytes),
            )
        self.error = ""
        self.session.attach_image(attachment)
        return attachment

    def remove(self, index: int) -> None:
        if 0 <= index < len(self.session.images):
            self.session.remove_image(index)

    def clear(self) -> None:
        self.session.clear_images()
        self.error = ""

    def _on_front_end_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "add":
            name = str(content.get("name") or "image")
            if not buffers:
                self.error = f"{name}: no data arrived"
                return
            # Buffers arrive as memoryviews; bytes() makes the one copy Pillow reads.
            self.add(bytes(buffers[0]), name, content if content.get("shrunk_in_browser") else None)
        elif kind == "remove":
            self.remove(int(content.get("index", -1)))

    def _on_images(self, _change: Any = None) -> None:
        current = list(self.session.images)
        self._thumbs = {att: self._thumbs.get(att) or thumbnail(att.data_uri) for att in current}
        self.images = [_describe(att, self._thumbs[att]) for att in current]

    def _on_model(self, _change: Any = None) -> None:
        if self.session.takes_images or self.session.model_info is None:
            self.note = ""
        else:
            self.note = (
                f"{self.session.model} does not take images: attached images wait for a "
                "vision model."
            )

    def __repr__(self) -> str:
        return f"ImageDrop(images={len(self.images)})"

    def _fallback_markdown(self) -> str:
        if not self.images:
            return "*No images attached*"
        lines = [
            f"- {i['name']} ({i['width']}×{i['height']}, {max(1, round(i['nbytes'] / 1024))} KiB)"
            for i in self.images
        ]
        return "**Images:**\n" + "\n".join(lines)


def _describe(att: ImageAttachment, thumb: str) -> dict[str, Any]:
    return {
        "name": att.name,
        "mime": att.mime,
        "width": att.width,
        "height": att.height,
        "nbytes": att.nbytes,
        "original_width": att.original_width,
        "original_height": att.original_height,
        "original_nbytes": att.original_nbytes,
        "thumb": thumb,
    }


def thumbnail(data_uri: str, side: int = THUMB_SIDE) -> str:
    """A small JPEG data URI of an image's data URI, for views (the request version is kept);
    ``""`` for a URL or an image that cannot be read."""
    if not data_uri.startswith("data:image/"):
        return ""
    try:
        return _thumbnail(data_uri, side)
    except Exception:
        return ""


def _thumbnail(data_uri: str, side: int) -> str:
    from PIL import Image

    payload = data_uri.partition(",")[2]
    with Image.open(io.BytesIO(base64.b64decode(payload))) as img:
        img.thumbnail((side, side))
        if img.mode not in ("RGB", "L"):
            background = Image.new("RGB", img.size, "white")
            rgba = img.convert("RGBA")
            background.paste(rgba, mask=rgba.split()[-1])
            img = background
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
