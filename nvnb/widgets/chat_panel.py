"""ChatPanel: the model picker, SteerLM sliders, image drop and stream pane in one playground."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import ipywidgets
import traitlets

from nvnb.widgets._base import NVWidget, StaticFallback, asset, css, resolve_session
from nvnb.widgets.image_drop import ImageDrop
from nvnb.widgets.model_picker import ModelPicker
from nvnb.widgets.steer_sliders import SteerSliders
from nvnb.widgets.stream_pane import StreamPane


class _ChatHistory(NVWidget):
    """The conversation so far, as sanitised Markdown."""

    _esm = asset("chat_history.js")
    _css = css("chat_panel.css", "stream_pane.css")

    turns = traitlets.List().tag(sync=True)

    def __repr__(self) -> str:
        return f"_ChatHistory(turns={len(self.turns)})"


class _Composer(NVWidget):
    """The prompt box: Send (Ctrl+Enter), Clear, Export."""

    _esm = asset("chat_composer.js")
    _css = css("chat_panel.css")

    busy = traitlets.Bool(False).tag(sync=True)
    hint = traitlets.Unicode("").tag(sync=True)

    def __repr__(self) -> str:
        return "_Composer()"


class _Settings(ipywidgets.Accordion):
    """System prompt, temperature and max tokens: stock controls bound to the session.

    "model default" (checked) leaves the setting out of requests (the session value is None).
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.system = ipywidgets.Textarea(
            placeholder="optional system prompt",
            description="System",
            layout=ipywidgets.Layout(width="100%"),
        )
        self._link = traitlets.link((session, "system_prompt"), (self.system, "value"))
        self.temperature = ipywidgets.FloatSlider(
            value=0.5, min=0.0, max=2.0, step=0.05, description="Temperature"
        )
        self.max_tokens = ipywidgets.BoundedIntText(
            value=1024, min=1, max=65536, description="Max tokens"
        )
        self._defaults: dict[str, ipywidgets.Checkbox] = {}
        rows = [self.system]
        for name, control in (("temperature", self.temperature), ("max_tokens", self.max_tokens)):
            default = ipywidgets.Checkbox(value=True, description="model default", indent=False)
            self._defaults[name] = default
            control.observe(lambda _c, n=name: self._from_controls(n), names="value")
            default.observe(lambda _c, n=name: self._from_controls(n), names="value")
            rows.append(ipywidgets.HBox([control, default]))
            session.observe(lambda _c, n=name: self._from_session(n), names=name)
            self._from_session(name)
        super().__init__(children=[ipywidgets.VBox(rows)], selected_index=None)
        self.set_title(0, "Settings")

    def _from_controls(self, name: str) -> None:
        control = getattr(self, name)
        use_default = self._defaults[name].value
        control.disabled = use_default
        setattr(self.session, name, None if use_default else control.value)

    def _from_session(self, name: str) -> None:
        value = getattr(self.session, name)
        control = getattr(self, name)
        if value is not None and control.value != value:
            control.value = value
        self._defaults[name].value = value is None
        control.disabled = value is None

    def __repr__(self) -> str:
        return "_Settings()"


class ChatPanel(StaticFallback, ipywidgets.VBox):
    """A chat playground bound to a session (default: ``nvnb.session()``): ``nvnb.ChatPanel()``.

    Requests run in a background thread, so the kernel stays responsive and Stop works; the
    conversation continues the session's history (``chat=True``).
    """

    def __init__(self, session: Any = None, *, live: bool = True, **kwargs: Any) -> None:
        self.session = resolve_session(session)
        self.picker = ModelPicker(session=self.session, live=live)
        self.sliders = SteerSliders(session=self.session)
        self.image_drop = ImageDrop(session=self.session)
        self.pane = StreamPane(session=self.session)
        self.history_view = _ChatHistory()
        self.composer = _Composer()
        self.settings = _Settings(self.session)
        side = ipywidgets.VBox(
            [self.sliders, self.settings], layout=ipywidgets.Layout(flex="1 1 300px")
        )
        self.picker.layout = ipywidgets.Layout(flex="1 1 420px", min_width="320px")
        head = ipywidgets.HBox([self.picker, side])
        head.add_class("nvnb-panel-head")
        super().__init__(
            children=[head, self.history_view, self.pane, self.image_drop, self.composer],
            **kwargs,
        )
        self.add_class("nvnb-panel")
        self._thread: threading.Thread | None = None
        self.composer.on_msg(self._on_composer_msg)
        self.session.observe(self._on_history, names="history")
        self.session.observe(self._on_busy, names=["busy", "model"])
        self.pane.observe(self._on_history, names="status")
        self._on_history()
        self._on_busy()

    # ------------------------------------------------------------------------- actions
    def send(self, prompt: str) -> threading.Thread:
        """Ask in a background thread (returned, so a caller may ``join()`` it)."""
        thread = threading.Thread(target=self._ask, args=(prompt,), name="nvnb-chat", daemon=True)
        self._thread = thread
        thread.start()
        return thread

    def stop(self) -> None:
        self.session.stop()

    def clear(self) -> None:
        """Forget the conversation (the session's history) and the last answer."""
        self.session.clear_history()
        self.pane.clear()

    def export(self) -> str:
        """The conversation as a Markdown file (the Export button downloads it): the exact
        texts, see ``Session.export_markdown``. What the panel displays is made inert."""
        return self.session.export_markdown()

    def _ask(self, prompt: str) -> None:
        # An error is shown by the pane (on_error); the kernel carries on.
        with contextlib.suppress(Exception):
            self.session.ask(prompt, chat=True, sink=self.pane)

    # ------------------------------------------------------------------------- sync
    def _on_composer_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "send" and str(content.get("text", "")).strip() and not self.session.busy:
            self.send(str(content["text"]))
        elif kind == "clear":
            self.clear()
        elif kind == "export":
            self.composer.send(
                {"type": "download", "filename": "conversation.md", "text": self.export()}
            )

    def _on_history(self, _change: Any = None) -> None:
        turns = list(self.session.history)
        # The latest answer is shown by the stream pane, not repeated in the history.
        if self.pane.status != "idle" and turns and turns[-1].role == "assistant":
            turns = turns[:-1]
        self.history_view.turns = [
            {
                "role": t.role,
                "text": t.content or (t.answer.refusal_note if t.answer is not None else ""),
                "model": t.answer.model if t.answer is not None else "",
                "stopped": bool(t.answer is not None and t.answer.stopped),
                "images": len(t.images),
            }
            for t in turns
        ]

    def _on_busy(self, _change: Any = None) -> None:
        with self.composer.hold_sync():
            self.composer.busy = self.session.busy
            self.composer.hint = f"model: {self.session.model}"

    # ------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        return f"ChatPanel(model={self.session.model!r}, turns={len(self.session.history)})"

    def _fallback_markdown(self) -> str:
        """The conversation as inert Markdown (``Session.to_markdown``)."""
        if not self.session.history:
            from nvnb.markdown_safety import inert_markdown

            return inert_markdown(f"**nvnb ChatPanel** — model `{self.session.model}`")
        return self.session.to_markdown()
