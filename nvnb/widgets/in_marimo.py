"""nvnb's widgets in marimo notebooks, through ``mo.ui.anywidget``.

marimo renders anywidget widgets (not ipywidgets containers), so the ChatPanel's parts, each an
anywidget, are wrapped one by one and stacked with ``mo.vstack``; the panel's Python side (the
session, the background request, the history) is the same object as in Jupyter. The Arena and
the StreamPane are one anywidget each. The session is the kernel's default one unless given, so
every cell sees the same model, labels and history.

IPython magics (``%%nvchat``, ``%nvchat``) cannot work in marimo: its cells are plain Python.
Use ``nvnb.session().ask(...)`` or ``ChatNVIDIA`` there instead.
"""

from __future__ import annotations

from typing import Any

from nvnb.widgets.arena import Arena
from nvnb.widgets.chat_panel import ChatPanel
from nvnb.widgets.stream_pane import StreamPane


def _marimo() -> Any:
    try:
        import marimo as mo
    except ImportError:  # pragma: no cover - only inside marimo, which has it
        raise ImportError("nvnb.widgets.in_marimo needs marimo: pip install marimo") from None
    return mo


def chat_panel(session: Any = None, *, live: bool = True) -> Any:
    """A :class:`~nvnb.widgets.ChatPanel` as a marimo element: model picker, SteerLM sliders,
    history, stream pane, image drop and prompt box (``.panel`` is the ChatPanel itself). The
    settings accordion (ipywidgets) is left out: set ``session.system_prompt``, ``temperature``
    and ``max_tokens`` in a cell."""
    mo = _marimo()
    panel = ChatPanel(session, live=live)
    parts = [panel.picker, panel.sliders, panel.history_view, panel.pane, panel.image_drop]
    parts.append(panel.composer)
    view = mo.vstack([mo.ui.anywidget(part) for part in parts], gap=0.5)
    view.panel = panel  # type: ignore[attr-defined]
    return view


def stream_pane(session: Any = None) -> Any:
    """A :class:`~nvnb.widgets.StreamPane` as a marimo element (``.widget`` is the pane; pass
    it as ``sink=`` to ``session.ask``)."""
    mo = _marimo()
    pane = StreamPane(session=session)
    view = mo.ui.anywidget(pane)
    view.pane = pane  # type: ignore[attr-defined]
    return view


def arena(models: Any = None, session: Any = None, **settings: Any) -> Any:
    """An :class:`~nvnb.widgets.Arena` as a marimo element: one prompt box, 2–4 models answering
    side by side (``.arena`` is the Arena: ``.arena.ask(...)``, ``.arena.results``). Takes what
    ``nvnb.Arena`` takes. The Code view's "Insert as cell" copies the code in marimo (widgets
    cannot add marimo cells); paste it into a new cell."""
    mo = _marimo()
    widget = Arena(models=models, session=session, **settings)
    view = mo.ui.anywidget(widget)
    view.arena = widget  # type: ignore[attr-defined]
    return view
