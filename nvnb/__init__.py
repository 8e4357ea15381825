"""nvnb: NVIDIA's model catalog as a first-class citizen of Jupyter.

Public names are imported lazily, so ``import nvnb`` and ``%load_ext nvnb`` stay instant.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from nvnb._version import __version__

_EXPORTS = {
    "ChatNVIDIA": "nvnb.chat",
    "Client": "nvnb.client",
    "AsyncClient": "nvnb.client",
    "Model": "nvnb.catalog",
    "register_model": "nvnb.catalog",
    "Session": "nvnb.session",
    "ModelPicker": "nvnb.widgets",
    "SteerSliders": "nvnb.widgets",
    "ImageDrop": "nvnb.widgets",
    "StreamPane": "nvnb.widgets",
    "ChatPanel": "nvnb.widgets",
    "Arena": "nvnb.widgets",
    "export_notebook": "nvnb.notebook_export",
    "NVIDIAEmbeddings": "nvnb.embeddings",
    "NVIDIARerank": "nvnb.rerank",
    "log": "nvnb.calls.log",
    "cache": "nvnb.calls.cache",
    "last_call": "nvnb.calls.record",
    "map": "nvnb.dataset.mapping",
    "amap": "nvnb.dataset.mapping",
    "mapper": "nvnb.dataset.mapping",
}

__all__ = [
    "Arena",
    "AsyncClient",
    "ChatNVIDIA",
    "ChatPanel",
    "Client",
    "ImageDrop",
    "Model",
    "ModelPicker",
    "NVIDIAEmbeddings",
    "NVIDIARerank",
    "Session",
    "SteerSliders",
    "StreamPane",
    "__version__",
    "amap",
    "cache",
    "export_notebook",
    "last_call",
    "load_ipython_extension",
    "log",
    "map",
    "mapper",
    "register_model",
    "session",
]

if TYPE_CHECKING:
    from nvnb.calls.cache import cache
    from nvnb.calls.log import log
    from nvnb.calls.record import last_call
    from nvnb.catalog import Model, register_model
    from nvnb.chat import ChatNVIDIA
    from nvnb.client import AsyncClient, Client
    from nvnb.dataset.mapping import amap, map, mapper
    from nvnb.embeddings import NVIDIAEmbeddings
    from nvnb.notebook_export import export_notebook
    from nvnb.rerank import NVIDIARerank
    from nvnb.session import Session
    from nvnb.widgets import Arena, ChatPanel, ImageDrop, ModelPicker, SteerSliders, StreamPane


def __getattr__(name: str) -> Any:
    if name == "session":
        # The module is callable: ``nvnb.session()`` returns the kernel's shared Session.
        return import_module("nvnb.session")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nvnb' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nvnb``: register the ``%nvchat`` / ``%%nvchat`` magics."""
    from nvnb.magics import load_ipython_extension as load

    load(ipython)
