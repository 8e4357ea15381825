"""ModelPicker: a searchable list of the catalog; selecting a model sets the session's model."""

from __future__ import annotations

import threading
from typing import Any

import traitlets

from nvnb.widgets._base import NVWidget, resolve_session

# Embedding and ranking models do not chat; the picker lists the rest.
CHAT_TYPES = ("chat", "code", "vlm", "nv-vlm", "steerlm", "qa")


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


def catalog_records() -> list[dict[str, Any]]:
    """The known catalog as the picker shows it (no network)."""
    from nvnb.catalog import known_models

    models = [m for m in known_models() if m.type in CHAT_TYPES]
    return sorted((_record(m) for m in models), key=lambda r: (r["deprecated"], r["id"]))


class ModelPicker(NVWidget):
    """Pick the session's model from the catalog; filters by type and capability.

    The known catalog shows at once; with ``live=True`` the service's list is loaded in a
    background thread (the kernel never waits for it) and merged in: listed models are marked
    live, unknown listed ids are added as chat models, and a failure shows in the widget.
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
        try:
            listed = self.session.available_models()
            if listed is None:
                self.status = "offline"
                return
            served = self.session.served_models()  # self-hosted: its list is the catalog
        except Exception as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.error = f"Could not load the live model list: {text}"
            self.status = "error"
            return
        if served is not None:
            self.models = [_record(m, live=True) for m in served]
            self.session.settle_default_model()
        else:
            self.models = merge_live(self.models, listed)
        self.status = "ready"

    def __repr__(self) -> str:
        return f"ModelPicker(value={self.value!r})"

    def _fallback_markdown(self) -> str:
        return f"**Model:** `{self.value}`"


def where_requests_go(session: Any) -> str:
    """The base URL the session's requests go to ("" if it cannot be told without a request)."""
    try:
        client = session.llm_for().client
        return str(client.settings.base_url)
    except Exception:
        return ""


def merge_live(records: list[dict[str, Any]], live_ids: list[str]) -> list[dict[str, Any]]:
    """Mark listed models live; add listed ids the catalog does not know, as chat models."""
    from nvnb.catalog import find_model

    live = set(live_ids)
    out = [{**r, "live": r["id"] in live} for r in records]
    known = {r["id"] for r in records}
    for model_id in sorted(live - known):
        info = find_model(model_id)
        if info is not None:
            if info.id in known or info.type not in CHAT_TYPES:
                continue
            out.append(_record(info, live=True))
        else:
            out.append(
                {
                    "id": model_id,
                    "type": "chat",
                    "aliases": [],
                    "endpoint": None,
                    "capabilities": [],
                    "labels": [],
                    "deprecated": False,
                    "live": True,
                    "description": "",
                    "context_length": None,
                    "license": "",
                    "url": "",
                }
            )
        known.add(out[-1]["id"])
    return out
