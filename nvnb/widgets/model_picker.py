"""ModelPicker: a searchable list of the catalog; selecting a model sets the session's model."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from typing import Any

import traitlets

from nvnb.widgets._base import NVWidget, resolve_session


def describe(model: Any) -> str:
    """One line of public facts about a model (its name, open weights, longest answer), or ``""``.

    models.dev's release dates are left out: some are placeholders (``2025-01-01`` for
    Llama 3.1 8B, released in 2024)."""
    parts = []
    if getattr(model, "name", None):
        parts.append(model.name)
    if getattr(model, "open_weights", None):
        parts.append("open weights")
    if getattr(model, "max_output_tokens", None):
        parts.append(f"answers up to {model.max_output_tokens:,} tokens")
    return " · ".join(parts)


def _record(model: Any, live: bool = False) -> dict[str, Any]:
    return {
        "id": model.id,
        "type": model.type,
        "aliases": list(model.aliases),
        "endpoint": model.endpoint,
        "capabilities": sorted(model.capabilities),
        "labels": list(model.labels),
        "deprecated": bool(model.deprecated),
        "live": live,
        # Public catalog facts, where the catalog has them.
        "description": describe(model),
        "context_length": getattr(model, "context_length", None),
        "license": getattr(model, "license", None) or "",
        "url": getattr(model, "url", None) or "",
    }


def picker_records(models: Iterable[Any], live: Collection[str] = ()) -> list[dict[str, Any]]:
    """``models`` as the picker shows them, by id (deprecated last); ids in ``live`` marked."""
    records = (_record(m, live=m.id in live) for m in models)
    return sorted(records, key=lambda r: (r["deprecated"], r["id"]))


def catalog_records() -> list[dict[str, Any]]:
    """The known catalog's chat models as the picker shows them (no network)."""
    from nvnb.catalog import known_models

    return picker_records(m for m in known_models() if m.is_chat)


class ModelPicker(NVWidget):
    """Pick the session's model from the catalog; filters by type and capability.

    The known catalog shows at once; with ``live=True`` the service's list is loaded in a
    background thread (the kernel never waits for it) and merged in as the catalog merges it
    (:func:`nvnb.catalog.served.chat_models`: unknown listed ids become chat models; on a
    self-hosted server its list is the catalog); listed models are marked live, and a failure
    shows in the widget.
    """

    _view = traitlets.Unicode("model-picker").tag(sync=True)

    value = traitlets.Unicode("").tag(sync=True)
    models = traitlets.List().tag(sync=True)
    status = traitlets.Unicode("offline").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    type_filter = traitlets.Unicode("").tag(sync=True)
    capability_filter = traitlets.Unicode("").tag(sync=True)
    show_deprecated = traitlets.Bool(False).tag(sync=True)
    base_url = traitlets.Unicode("", help="where requests go (shown on the card)").tag(sync=True)

    def __init__(self, session: Any = None, *, live: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = resolve_session(session)
        self.models = catalog_records()
        self.value = self.session.model
        self._link = traitlets.link((self.session, "model"), (self, "value"))
        self._thread: threading.Thread | None = None
        self.base_url = where_requests_go(self.session)
        if live:
            self.refresh()

    def refresh(self) -> threading.Thread:
        """Load the live model list in a background thread (returned, for tests to join)."""
        self.status = "loading"
        self.error = ""
        self._thread = threading.Thread(target=self._load_live, name="nvnb-models", daemon=True)
        self._thread.start()
        return self._thread

    def _load_live(self) -> None:
        from nvnb.answers import error_line
        from nvnb.catalog import listed_ids

        try:
            listed = self.session.available_models()  # raises what the listing raised
            if listed is None:
                self.status = "offline"
                return
            offered = self.session.chat_models() or []  # the listing is cached by then
        except Exception as exc:
            self.error = f"Could not load the live model list: {error_line(exc)}"
            self.status = "error"
            return
        self.models = picker_records(offered, live=listed_ids(listed))
        self.session.settle_default_model()  # on a self-hosted server, a model it serves
        self.status = "ready"

    def __repr__(self) -> str:
        return f"ModelPicker(value={self.value!r})"

    def _fallback_markdown(self) -> str:
        return f"**Model:** `{self.value}`"


def where_requests_go(session: Any) -> str:
    """The base URL the session's requests go to ("" if it cannot be told without a request)."""
    return session.base_url
