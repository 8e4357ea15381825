"""What a self-hosted server serves: its live ``/v1/models`` list *is* the catalog there.

NVIDIA's hosted catalog has ~150 models; a self-hosted NIM, llama.cpp's llama-server or vLLM
serves one or a few, under ids the catalog may not know. Against a self-hosted base URL,
``%nvchat models``, the ModelPicker and ``ChatNVIDIA.available_models`` show what the server
lists (catalog records where the catalog knows an id, plain chat records otherwise, with the
image capability when the listing declares image input), and a session that was not given a
model starts on one the server serves: its default if listed, else the first listed.
"""

from __future__ import annotations

from typing import Any

from nvnb.catalog import Model, find_model
from nvnb.modalities import listed_modalities


def is_self_hosted(client: Any) -> bool:
    settings = getattr(client, "settings", None)
    return getattr(settings, "mode", None) == "self-hosted"


def record_for(item: dict[str, Any]) -> Model | None:
    """The record for one listed item (None for a catalog model that does not chat)."""
    model_id = str(item.get("id") or "")
    if not model_id:
        return None
    found = find_model(model_id)
    if found is not None:
        return found if found.is_chat else None
    takes = listed_modalities(item) or frozenset()
    return Model(
        id=model_id,
        type="chat",
        base_model=item.get("root") if isinstance(item.get("root"), str) else None,
        capabilities=frozenset({"images"}) if "image" in takes else frozenset(),
    )


def served_models(client: Any) -> list[Model] | None:
    """The chat models a self-hosted server lists, in its order; None when not self-hosted.

    Raises the client's :class:`nvnb.errors.NVNBError` when the server cannot be listed.
    """
    if not is_self_hosted(client):
        return None
    out: list[Model] = []
    for item in client.list_models():
        record = record_for(item)
        if record is not None and record.id not in {m.id for m in out}:
            out.append(record)
    return out


def served_default(client: Any, preferred: str) -> str | None:
    """The model a new session should use on a self-hosted server: ``preferred`` when served,
    else the first served model; None when not self-hosted or nothing is listed."""
    models = served_models(client)
    if not models:
        return None
    ids = [m.id for m in models]
    found = find_model(preferred)
    if preferred in ids or (found is not None and found.id in ids):
        return preferred
    return ids[0]
