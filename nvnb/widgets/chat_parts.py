"""The parts of a ChatPanel that only a panel uses: toolbar, settings, history, prompt box.

Each is a small view of the shared front-end bundle; the panel (``chat_panel.py``) wires them to
its session.
"""

from __future__ import annotations

from typing import Any

import traitlets

from nvnb.widgets._base import NVWidget

SETTINGS = ("system_prompt", "temperature", "top_p", "max_tokens", "seed")
"""The session settings the settings popover edits (``None``: the model's default)."""


class _Toolbar(NVWidget):
    """The model button, Settings, New chat, Export and a notice line."""

    _view = traitlets.Unicode("chat-toolbar").tag(sync=True)
    model = traitlets.Unicode("").tag(sync=True)
    summary = traitlets.Unicode("").tag(sync=True)
    where = traitlets.Unicode("").tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)

    def __repr__(self) -> str:
        return "_Toolbar()"


class _Settings(NVWidget):
    """System prompt, temperature, top_p, max tokens and seed, two-way with the session."""

    _view = traitlets.Unicode("chat-settings").tag(sync=True)
    values = traitlets.Dict().tag(sync=True)

    def __init__(self, session: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self._pushing = False
        self.values = self._from_session()
        session.observe(self._on_session, names=list(SETTINGS))
        self.observe(self._on_values, names="values")

    def _from_session(self) -> dict[str, Any]:
        return {name: getattr(self.session, name) for name in SETTINGS}

    def _on_session(self, _change: Any = None) -> None:
        if not self._pushing:
            self.values = self._from_session()

    def _on_values(self, change: Any) -> None:
        new = change["new"] or {}
        self._pushing = True
        try:
            for name in SETTINGS:
                if name not in new:
                    continue
                value = new[name]
                if name == "system_prompt":
                    value = str(value or "")
                elif value is not None:
                    value = int(value) if name in ("max_tokens", "seed") else float(value)
                if getattr(self.session, name) != value:
                    setattr(self.session, name, value)
        finally:
            self._pushing = False
        current = self._from_session()
        if current != new:
            self.values = current

    def summary(self) -> str:
        """The settings in use, short (empty when every one is the model's default)."""
        s = self.session
        parts = []
        if s.system_prompt:
            parts.append("system prompt")
        if s.temperature is not None:
            parts.append(f"temp {s.temperature:g}")
        if s.top_p is not None:
            parts.append(f"top p {s.top_p:g}")
        if s.max_tokens is not None:
            parts.append(f"max {s.max_tokens}")
        if s.seed is not None:
            parts.append(f"seed {s.seed}")
        if s.labels:
            parts.append(f"{len(s.labels)} label{'s' if len(s.labels) > 1 else ''}")
        return " · ".join(parts)

    def __repr__(self) -> str:
        return "_Settings()"


class _ChatHistory(NVWidget):
    """The conversation so far, as sanitised Markdown, with Edit and Regenerate."""

    _view = traitlets.Unicode("chat-history").tag(sync=True)
    turns = traitlets.List().tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)

    def __repr__(self) -> str:
        return f"_ChatHistory(turns={len(self.turns)})"


class _Composer(NVWidget):
    """The prompt box: Send (Ctrl+Enter), Stop, images by paste / drop / choose, Retry."""

    _view = traitlets.Unicode("chat-composer").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    hint = traitlets.Unicode("").tag(sync=True)
    failed = traitlets.Unicode("").tag(sync=True)
    send_limit = traitlets.Int(0).tag(sync=True)
    refuse_bytes = traitlets.Int(0).tag(sync=True)
    inline_bytes = traitlets.Int(0).tag(sync=True)

    def __repr__(self) -> str:
        return "_Composer()"
