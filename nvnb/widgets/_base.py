"""What every nvnb widget shares: finding its front-end files, a stable repr, a static fallback."""

from __future__ import annotations

import pathlib
from typing import Any

import anywidget

_PACKAGE = pathlib.Path(__file__).resolve().parent.parent  # nvnb/


def asset(name: str) -> pathlib.Path:
    """The path of a front-end file: ``nvnb/static/<name>`` in an installed wheel, else the
    repository's ``js/<name>`` (editable installs)."""
    installed = _PACKAGE / "static" / name
    if installed.exists():
        return installed
    return _PACKAGE.parent / "js" / name


def css(*names: str) -> str:
    """The shared stylesheet followed by the widget's own."""
    return "\n".join(asset(n).read_text(encoding="utf-8") for n in ("nvnb.css", *names))


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
    """An anywidget with nvnb's stable repr and static fallback."""


def resolve_session(session: Any) -> Any:
    """``session=None`` means the kernel's default session."""
    if session is not None:
        return session
    from nvnb.session import session as default

    return default()
