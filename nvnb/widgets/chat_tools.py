"""The ChatPanel's Code and Export popovers: the last request as code, the conversation as cells.

``Code`` shows the request of the session's last answer (before any, the request the current
settings would make) as ``ChatNVIDIA`` Python, a ``%%nvchat`` cell and ``curl``, with the exact
JSON body and the response headers (:mod:`nvnb.request_code`, drawn by ``js/src/views/
code_view.js`` as in the Arena). The key is never in it: the code reads ``NVIDIA_API_KEY``.

``Export`` writes the conversation into the notebook below the panel, as Markdown cells for the
questions and answers and a code cell per turn that asks again, each cell's metadata carrying the
turn's provenance (:mod:`nvnb.notebook_export`); where the page lets no widget add cells, the
same notebook is downloaded as an ``.ipynb`` file. Cells go below the cell showing the panel
(found on the page, or in the notebook's model by the panel's widget id, ``anchor``). It can also
save a Markdown file.

Replies to the page carry the ``nonce`` of the view that asked, so a panel shown twice inserts
its cells once.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import traitlets

from nvnb.widgets._base import NVWidget

__all__ = ["insert_below"]

FORMS = ("python", "nvchat", "curl", "body")


def insert_below(text: str) -> None:
    """Put ``text`` into a new cell below the running one (``set_next_input``)."""
    from IPython import get_ipython

    ip = get_ipython()
    if ip is None:
        raise RuntimeError("inserting a cell needs IPython (a notebook or IPython shell)")
    ip.set_next_input(text, replace=False)


class _CodeView(NVWidget):
    """The Code popover: ``view`` holds the forms of one request (``RequestCode.view()``)."""

    _view = traitlets.Unicode("chat-code").tag(sync=True)
    view = traitlets.Dict().tag(sync=True)

    def __init__(self, session: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self._open = False
        self.on_msg(self._on_front_end_msg)
        session.observe(self._on_answer, names="last_answer")

    def code(self) -> Any:
        """The :class:`nvnb.request_code.RequestCode` shown: the last answer's request, or the
        request the current settings would make."""
        from nvnb.request_code import base_url_for, code_for_call, code_for_session

        answer = self.session.last_answer
        call = getattr(answer, "call", None)
        if call is not None and call.body is not None:
            return code_for_call(call, base_url=base_url_for(self.session, answer.model))
        return code_for_session(self.session, "Your question")

    def refresh(self) -> None:
        answer = self.session.last_answer
        sent = getattr(getattr(answer, "call", None), "body", None) is not None
        try:
            code = self.code()
        except Exception as exc:  # e.g. a model the catalog cannot place: say it in the view
            self.view = {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
            return
        model = answer.model if sent else self.session.model
        self.view = code.view(model=model, sent=sent)

    def insert(self, form: str = "python") -> None:
        """Put one form into a new cell below (call it from a cell): python, nvchat, curl, body."""
        if form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}")
        insert_below(self.code().cell_source(form))

    def _on_answer(self, _change: Any) -> None:
        if self._open:
            self.refresh()

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "open":
            self._open = True
            self.refresh()
        elif kind == "close":
            self._open = False

    def __repr__(self) -> str:
        return "_CodeView()"


class _ExportView(NVWidget):
    """The Export popover: cells below the panel (or an ``.ipynb`` download), or Markdown."""

    _view = traitlets.Unicode("chat-export").tag(sync=True)
    turns = traitlets.Int(0).tag(sync=True)
    anchor = traitlets.Unicode("")  # the model id of the widget whose cell the cells follow

    def __init__(self, session: Any, save_markdown: Callable[[], Path], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self._save_markdown = save_markdown
        self.on_msg(self._on_front_end_msg)
        session.observe(self._on_history, names="history")
        self._on_history()

    def notebook(self) -> Any:
        """The conversation as an ``nbformat`` notebook (``nvnb.notebook_export``)."""
        from nvnb.notebook_export import export_notebook

        return export_notebook(self.session)

    def _on_history(self, _change: Any = None) -> None:
        self.turns = sum(1 for t in self.session.history if t.role == "user")

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        reply: dict[str, Any] = {"nonce": content.get("nonce") if kind else None}
        try:
            if kind in ("cells", "download"):
                import nbformat

                notebook = self.notebook()
                stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
                reply.update(
                    type=kind,
                    cells=[_cell_json(c) for c in notebook.cells],
                    notebook=nbformat.writes(notebook),
                    filename=f"conversation-{stamp}.ipynb",
                    anchor=self.anchor,
                )
            elif kind == "markdown":
                where = self._save_markdown()
                reply.update(type="saved", text=f"Saved the conversation to {where}")
            else:
                return
        except Exception as exc:  # the page says what went wrong; the conversation stays
            reply.update(type="error", text=f"Could not export the conversation: {exc}")
        self.send(reply)

    def __repr__(self) -> str:
        return f"_ExportView(turns={self.turns})"


def _cell_json(cell: Any) -> dict[str, Any]:
    """A cell as the page's notebook model takes it (no id: the notebook gives a fresh one)."""
    out = {"cell_type": cell.cell_type, "source": cell.source, "metadata": dict(cell.metadata)}
    if cell.cell_type == "code":
        out.update(outputs=[], execution_count=None)
    return out
