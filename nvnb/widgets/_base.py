"""What every nvnb widget shares: the front-end bundle, a stable repr, a static fallback."""

from __future__ import annotations

import pathlib
from typing import Any

import anywidget
import traitlets

STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"
"""``nvnb/static/``: the built front end (``js/src/build.sh`` writes it; it is committed)."""

BUNDLE = STATIC / "nvnb.js"
"""The one ES module of every nvnb widget: each view, the Markdown renderer, sanitiser,
highlighter and stylesheet (injected once per page), built from ``js/src/``."""


def bundle() -> str:
    """The front-end bundle's text (read once per process)."""
    global _bundle_text
    if _bundle_text is None:
        _bundle_text = BUNDLE.read_text(encoding="utf-8")
    return _bundle_text


_bundle_text: str | None = None


class StaticFallback:
    """A stable repr and a readable static fallback beside the widget view.

    Subclasses implement :meth:`_fallback_markdown` (and may override :meth:`__repr__`): the
    fallback goes into ``text/markdown``/``text/plain`` beside the widget view, so a notebook
    opened without a kernel (GitHub, nbval, a viewer) shows it instead of "model not found".
    It shows the state at display time.
    """

    def _fallback_markdown(self) -> str:
        return f"*{type(self).__name__}*"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        if data is None:
            return bundle
        data = dict(data)
        data["text/plain"] = repr(self)
        data["text/markdown"] = self._fallback_markdown()
        return (data, metadata) if isinstance(bundle, tuple) else data


class NVWidget(StaticFallback, anywidget.AnyWidget):
    """An anywidget with nvnb's stable repr and static fallback, drawn by the shared bundle.

    Subclasses name their view: ``_view = traitlets.Unicode("stream-pane").tag(sync=True)``.
    """

    _view = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(_esm=bundle(), **kwargs)


def resolve_session(session: Any) -> Any:
    """``session=None`` means the kernel's default session."""
    if session is not None:
        return session
    from nvnb.session import session as default

    return default()
