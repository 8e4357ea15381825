"""The shared notebook session: ``nvnb.session()`` returns the kernel's default :class:`Session`.

* :mod:`nvnb.answers` (beside this package, light enough for the magic): :class:`Answer`,
  :class:`Stats`, :class:`Turn` and the :class:`Sink` an answer streams into;
* :mod:`~nvnb.session.state`: :class:`Session`, the observable state (model, labels, images,
  settings, history) and ``ask``; its docstring is the contract the magics and widgets build on;
* :mod:`~nvnb.session.history`: the conversation as messages and as Markdown;
* :mod:`~nvnb.session._requests`: one request in flight, on the session's event-loop thread.

The module is callable (``nvnb.session()``) whichever of the module or the function the
attribute ``nvnb.session`` holds.
"""

from __future__ import annotations

import sys
import threading
import types

from nvnb.answers import Answer, Sink, Stats, Turn, partial_text
from nvnb.session.state import DEFAULT_MODEL, Session

__all__ = [
    "DEFAULT_MODEL",
    "Answer",
    "Session",
    "Sink",
    "Stats",
    "Turn",
    "partial_text",
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
