"""A widget shown only while work runs (``%%nvchat``'s streaming pane, ``nvnb.map``'s Stop):
displayed as its view alone, and stepping aside when the work ends, so what stays in the saved
notebook is the result displayed after it, never a placeholder or a "model not found"."""

from __future__ import annotations

from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def show_transient(view: Any) -> Any:
    """Display a widget with its view alone (no text fallback taken before the work started);
    returns the display handle :func:`retire` updates."""
    from IPython.display import display

    data = view._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    handle = display({WIDGET_VIEW: data[WIDGET_VIEW]}, raw=True, display_id=True)
    view._nvnb_display = handle
    return handle


def retire(view: Any) -> None:
    """Replace the widget's output by an empty widget view (hidden by JupyterLab, Notebook 7 and
    a reopened notebook alike) and close the widget."""
    handle = getattr(view, "_nvnb_display", None)
    if handle is not None:
        empty = {"version_major": 2, "version_minor": 0, "model_id": ""}
        handle.update({WIDGET_VIEW: empty}, raw=True)
    view.close()
