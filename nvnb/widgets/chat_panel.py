"""ChatPanel: a chat playground on a session — the conversation first, the prompt box pinned below.

Layout (top to bottom): a compact toolbar (the model, which opens the model browser with its
card; Settings, which opens the system prompt, temperature, top_p, max tokens, seed and SteerLM
labels; Code, the last request as Python, %%nvchat and curl; New chat; Export, the conversation
as notebook cells, an .ipynb download or a Markdown file), the conversation (it scrolls, and
stays at the bottom while an answer streams or the window is resized), the images waiting for
the next question, and the prompt box. The panel is never taller than the window. Requests run
in a background thread, so the kernel stays responsive and Stop works. Displayed, the panel is
followed by its saved transcript (:mod:`nvnb.widgets.saved_transcript`), what a notebook reopened
without the kernel shows in its place.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
from pathlib import Path
from typing import Any

import ipywidgets

from nvnb.widgets._base import StaticFallback, resolve_session
from nvnb.widgets.chat_parts import _ChatHistory, _Composer, _Settings, _Toolbar
from nvnb.widgets.chat_tools import _CodeView, _ExportView
from nvnb.widgets.image_drop import ImageDrop, thumbnail
from nvnb.widgets.model_picker import ModelPicker, where_requests_go
from nvnb.widgets.saved_transcript import SavedTranscript
from nvnb.widgets.steer_sliders import SteerSliders
from nvnb.widgets.stream_pane import StreamPane

__all__ = ["ChatPanel"]


class ChatPanel(StaticFallback, ipywidgets.VBox):
    """A chat playground bound to a session (default: ``nvnb.session()``): ``nvnb.ChatPanel()``.

    The conversation continues the session's history (``chat=True``). A failed question is put
    back in the prompt box with Retry; the last answer can be regenerated and any question
    edited and asked again (the turns after it are replaced).
    """

    def __init__(self, session: Any = None, *, live: bool = True, **kwargs: Any) -> None:
        self.session = resolve_session(session)
        self.toolbar = _Toolbar()
        self.picker = ModelPicker(session=self.session, live=live)
        self.picker.add_class("nvnb-pop")
        self.picker.add_class("nvnb-pop-model")
        self.settings = _Settings(self.session)
        self.sliders = SteerSliders(session=self.session)
        settings_box = ipywidgets.VBox([self.settings, self.sliders])
        settings_box.add_class("nvnb-pop")
        settings_box.add_class("nvnb-pop-settings")
        self.code = _CodeView(self.session)
        self.exporter = _ExportView(self.session, save_markdown=self.export)
        for pop, name in ((self.code, "nvnb-pop-code"), (self.exporter, "nvnb-pop-export")):
            pop.add_class("nvnb-pop")
            pop.add_class(name)
        self.history_view = _ChatHistory()
        self.pane = StreamPane(session=self.session, regenerable=True)
        convo = ipywidgets.VBox([self.history_view, self.pane])
        convo.add_class("nvnb-convo")
        self.image_drop = ImageDrop(session=self.session, compact=True)
        self.composer = _Composer(
            send_limit=self.image_drop.send_limit,
            refuse_bytes=self.image_drop.refuse_bytes,
            inline_bytes=self.image_drop.inline_bytes,
        )
        super().__init__(
            children=[
                self.toolbar,
                self.picker,
                settings_box,
                self.code,
                self.exporter,
                convo,
                self.image_drop,
                self.composer,
            ],
            **kwargs,
        )
        self.add_class("nvnb-panel")
        self.exporter.anchor = self.model_id or ""  # Export finds the cell showing the panel
        self._thread: threading.Thread | None = None
        self._thumbs: dict[str, str] = {}
        self.transcript = SavedTranscript(self.session)
        self.composer.on_msg(self._on_composer_msg)
        self.toolbar.on_msg(self._on_toolbar_msg)
        self.history_view.on_msg(self._on_history_msg)
        self.pane.on_msg(self._on_history_msg)  # Regenerate
        self.session.observe(self._on_history, names="history")
        self.session.observe(self._on_busy, names=["busy", "model"])
        self.session.observe(
            self._on_settings,
            names=["labels", "system_prompt", "temperature", "top_p", "max_tokens", "seed"],
        )
        self.pane.observe(self._on_history, names="status")
        self._on_history()
        self._on_busy()
        self._on_settings()

    # ------------------------------------------------------------------------- actions
    def send(self, prompt: str) -> threading.Thread:
        """Ask in a background thread (returned, so a caller may ``join()`` it)."""
        return self._start(lambda: self._ask(prompt))

    def _start(self, work: Any) -> threading.Thread:
        """Run ``work`` in a new thread, after the previous request's thread has finished
        (a click can come while the last answer is being filed into the history)."""
        previous = self._thread

        def run() -> None:
            if previous is not None:
                previous.join()
            work()

        thread = threading.Thread(target=run, name="nvnb-chat", daemon=True)
        self._thread = thread
        thread.start()
        return thread

    def stop(self) -> None:
        self.session.stop()

    def clear(self) -> None:
        """Forget the conversation (the session's history) and the last answer."""
        self.session.clear_history()
        self.pane.clear()
        self.composer.failed = ""
        self.toolbar.notice = ""

    def regenerate(self) -> threading.Thread:
        """Ask the last question again (its answer is replaced)."""

        def work() -> None:
            history = list(self.session.history)
            last = max((i for i, t in enumerate(history) if t.role == "user"), default=None)
            if last is not None:
                self._resend(last, history[last].content)

        return self._start(work)

    def resend(self, index: int, text: str) -> threading.Thread:
        """Replace user turn ``index`` (and every turn after it) by ``text``, and ask it."""
        return self._start(lambda: self._resend(index, text))

    def _resend(self, index: int, text: str) -> None:
        history = list(self.session.history)
        if not (0 <= index < len(history)) or history[index].role != "user" or not text.strip():
            return
        images = list(history[index].images)
        self.session.history = history[:index]
        self._ask(text, images)

    def export(self, path: str | Path | None = None) -> Path:
        """Save the conversation as Markdown, with the model, where requests went, the
        parameters and labels; return the file's path (the toolbar says where it is)."""
        if path is None:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = Path.cwd() / f"conversation-{stamp}.md"
        path = Path(path).resolve()
        body = self.session.export_markdown()
        title, _, rest = body.partition("\n")
        path.write_text(f"{title}\n\n{self._settings_markdown()}\n{rest.lstrip(chr(10))}", "utf-8")
        return path

    def insert_code(self, form: str = "python") -> None:
        """Put the last request, as ``form`` (python, nvchat, curl, body), in a cell below."""
        self.code.insert(form)

    def export_notebook(self, path: str | Path | None = None) -> Any:
        """The conversation as notebook cells (an ``nbformat`` node; written to ``path`` if
        given), as the toolbar's Export inserts them."""
        from nvnb.notebook_export import export_notebook

        return export_notebook(self.session, path)

    def _settings_markdown(self) -> str:
        s = self.session
        rows = [("model", s.model), ("requests to", where_requests_go(s) or "—")]
        for name in ("temperature", "top_p", "max_tokens", "seed"):
            value = getattr(s, name)
            rows.append((name, "model default" if value is None else str(value)))
        labels = ", ".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        rows.append(("labels", labels or "none"))
        lines = ["| setting | value |", "|---|---|"]
        lines += [f"| {k} | `{v}` |" for k, v in rows]
        return "\n".join(lines) + "\n"

    def _ask(self, prompt: str, images: list[str] | None = None) -> None:
        self.composer.failed = ""
        self.toolbar.notice = ""
        try:
            self.session.ask(prompt, images=images or (), chat=True, sink=self.pane)
        except Exception:
            # The pane shows the error (on_error); the question goes back in the prompt box,
            # with Retry. The kernel carries on.
            self.composer.failed = prompt

    # ------------------------------------------------------------------------- sync
    def _on_composer_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "send" and str(content.get("text", "")).strip() and not self.session.busy:
            self.send(str(content["text"]))
        elif kind == "stop":
            self.stop()
        elif kind == "add":
            self.image_drop._on_front_end_msg(self.image_drop, content, buffers)

    def _on_toolbar_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "clear":
            self.clear()
        elif kind == "export":
            try:
                where = self.export()
            except OSError as exc:
                self.toolbar.notice = f"⚠ Could not save the conversation: {exc}"
            else:
                self.toolbar.notice = f"Saved the conversation to {where}"

    def _on_history_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "regenerate":
            self.regenerate()
        elif kind == "edit":
            with contextlib.suppress(TypeError, ValueError):
                self.resend(int(content.get("index", -1)), str(content.get("text", "")))

    def _thumb(self, uri: str) -> str:
        if uri not in self._thumbs:
            self._thumbs[uri] = thumbnail(uri, side=96)
        return self._thumbs[uri]

    def _on_history(self, _change: Any = None) -> None:
        turns = list(self.session.history)
        # The latest answer is shown by the stream pane, not repeated in the history (after an
        # error the pane shows the error, and the last answer stays in the history).
        shown = self.pane.status in ("streaming", "done", "stopped")
        if shown and turns and turns[-1].role == "assistant":
            turns = turns[:-1]
        self.history_view.turns = [
            {
                "role": t.role,
                "text": t.content or (t.answer.refusal_note if t.answer is not None else ""),
                "model": t.answer.model if t.answer is not None else "",
                "stopped": bool(t.answer is not None and t.answer.stopped),
                "images": len(t.images),
                "thumbs": [th for th in (self._thumb(u) for u in t.images) if th],
            }
            for t in turns
        ]
        self.transcript.update()

    def _on_busy(self, _change: Any = None) -> None:
        busy = self.session.busy
        with self.composer.hold_sync():
            self.composer.busy = busy
            self.composer.hint = ""
        self.history_view.busy = busy
        with self.toolbar.hold_sync():
            self.toolbar.busy = busy
            self.toolbar.model = self.session.model
            self.toolbar.where = self.picker.base_url

    def _on_settings(self, _change: Any = None) -> None:
        self.toolbar.summary = self.settings.summary()

    # ------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        return f"ChatPanel(model={self.session.model!r}, turns={len(self.session.history)})"

    def _ipython_display_(self) -> None:
        """The panel, then its saved transcript (:mod:`nvnb.widgets.saved_transcript`): what a
        notebook reopened without the kernel shows, hidden while the panel is live."""
        from IPython.display import display

        data = self._repr_mimebundle_()
        data, metadata = data if isinstance(data, tuple) else (data, {})
        display(data, metadata=metadata, raw=True)
        self.transcript.show()

    def _fallback_markdown(self) -> str:
        """One line naming the panel: the conversation is in the transcript displayed after it."""
        from nvnb._markdown_safety import inert_markdown

        return inert_markdown(f"**nvnb ChatPanel** — model `{self.session.model}`")
