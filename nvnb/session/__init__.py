"""The shared notebook session: ``nvnb.session()`` returns the kernel's default :class:`Session`.

The module is callable (``nvnb.session()``) whichever of the module or the function the
attribute ``nvnb.session`` holds. The contract the magics and widgets build on is described in
:mod:`nvnb.session.state`.
"""

from __future__ import annotations

import sys
import threading
import types

from nvnb.session.state import (
    DEFAULT_MODEL,
    LABEL_NAMES,
    MAX_IMAGE_BYTES,
    Answer,
    ImageAttachment,
    Session,
    Sink,
    Stats,
    Turn,
)

__all__ = [
    "DEFAULT_MODEL",
    "LABEL_NAMES",
    "MAX_IMAGE_BYTES",
    "Answer",
    "ImageAttachment",
    "Session",
    "Sink",
    "Stats",
    "Turn",
    "session",
]

_default: Session | None = None
_default_lock = threading.Lock()


def session() -> Session:
    """The kernel's default session (made on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Session()
        return _default


class _CallableModule(types.ModuleType):
    """Importing ``nvnb.session`` binds the *module* to ``nvnb.session``, hiding the function of
    the same name; calling the module returns the default session, so ``nvnb.session()`` works
    whichever of the two the attribute holds."""

    def __call__(self) -> Session:
        return session()


sys.modules[__name__].__class__ = _CallableModule
