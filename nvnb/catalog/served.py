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

from nvnb.catalog.records import Model, find_model, merge_listing


def is_self_hosted(client: Any) -> bool:
    settings = getattr(client, "settings", None)
    return bool(getattr(settings, "is_self_hosted", False))


def chat_models(client: Any) -> list[Model]:
    """The chat models ``client``'s service offers (:func:`merge_listing` of its listing).

    On a self-hosted server, what it lists, in its order (a failed listing raises); on the
    hosted service, the catalog's chat models plus listed ids the catalog lacks (a failed
    listing leaves the catalog).
    """
    return merge_listing(
        client.list_models, keep=lambda m: m.is_chat, self_hosted=is_self_hosted(client)
    )


def served_models(client: Any) -> list[Model] | None:
    """The chat models a self-hosted server lists, in its order; None when not self-hosted.

    Raises the client's :class:`nvnb.errors.NVNBError` when the server cannot be listed.
    """
    if not is_self_hosted(client):
        return None
    return chat_models(client)


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
