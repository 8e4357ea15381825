"""nvnb's notebook widgets, all bound to a :class:`nvnb.Session` (default: ``nvnb.session()``).

``ChatPanel`` composes the others into one playground; each also works alone. Imported lazily so
that ``import nvnb.widgets`` costs nothing until a widget is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Arena": "nvnb.widgets.arena",
    "ModelPicker": "nvnb.widgets.model_picker",
    "SteerSliders": "nvnb.widgets.steer_sliders",
    "ImageDrop": "nvnb.widgets.image_drop",
    "StreamPane": "nvnb.widgets.stream_pane",
    "ChatPanel": "nvnb.widgets.chat_panel",
}

__all__ = ["Arena", "ChatPanel", "ImageDrop", "ModelPicker", "SteerSliders", "StreamPane"]

if TYPE_CHECKING:
    from nvnb.widgets.arena import Arena
    from nvnb.widgets.chat_panel import ChatPanel
    from nvnb.widgets.image_drop import ImageDrop
    from nvnb.widgets.model_picker import ModelPicker
    from nvnb.widgets.steer_sliders import SteerSliders
    from nvnb.widgets.stream_pane import StreamPane


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nvnb.widgets' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
