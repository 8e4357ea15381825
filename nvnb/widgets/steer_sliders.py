"""SteerSliders: the SteerLM labels (creativity, complexity, verbosity, quality) of a session."""

from __future__ import annotations

from typing import Any

import traitlets

from nvnb.widgets._base import NVWidget, resolve_session


class SteerSliders(NVWidget):
    """One 0–9 slider per label; enabled only for the labels the current model takes.

    ``values`` is the session's ``labels`` (two-way): a label not set is left to the model's
    default, Reset clears them all.
    """

    _view = traitlets.Unicode("steer-sliders").tag(sync=True)

    values = traitlets.Dict().tag(sync=True)
    enabled = traitlets.List().tag(sync=True)
    model_name = traitlets.Unicode("").tag(sync=True)

    def __init__(self, session: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = resolve_session(session)
        self.values = dict(self.session.labels)
        self._link = traitlets.link((self.session, "labels"), (self, "values"))
        self.session.observe(self._on_model, names="model")
        self._on_model()

    def _on_model(self, _change: Any = None) -> None:
        with self.hold_sync():
            self.model_name = self.session.model
            self.enabled = list(self.session.takes_labels)

    def reset(self) -> None:
        """Leave every label to the model's default."""
        self.values = {}

    def __repr__(self) -> str:
        return f"SteerSliders(values={dict(sorted(self.values.items()))!r})"

    def _fallback_markdown(self) -> str:
        if not self.values:
            return "**SteerLM labels:** model defaults"
        shown = ", ".join(f"{k}={v}" for k, v in sorted(self.values.items()))
        return f"**SteerLM labels:** {shown}"
