"""What a self-hosted server serves: its live ``/v1/models`` list *is* the catalog there.

NVIDIA's hosted catalog has ~150 models; a self-hosted NIM, llama.cpp's llama-server or vLLM
serves one or a few, under ids the catalog may not know. Against a self-hosted base URL,
``%nvchat models``, the ModelPicker and ``ChatNVIDIA.available_models`` show what the server
lists (catalog records where the catalog knows an id, plain chat records otherwise, with the
image capability when the listing declares image input), and a session that was not given a
model starts on one the server serves: its default if listed, else the first listed.

A name the catalog lacks is judged here too (:func:`resolve_on_service`): on a self-hosted
server it is the server's own id, on the hosted service it must be listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from nvnb.catalog.records import Model, find_model, merge_listing, resolve_model


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


def judged_by_listing(name: str, *, self_hosted: bool) -> bool:
    """Whether ``name`` needs the live listing to be judged: a name the catalog lacks, on the
    hosted service (a self-hosted server's own ids are not ours to judge)."""
    return not self_hosted and find_model(name) is None


def resolve_on_service(
    name: str, *, self_hosted: bool, list_models: Callable[[], Iterable[Mapping[str, Any]]]
) -> Model | None:
    """The record for ``name`` where a client sends it: a catalog name resolves (an alias to
    today's id, said once); on a self-hosted server a name the catalog lacks is the server's
    own (``None``); on the hosted service it must be listed (else
    :class:`nvnb.errors.UnknownModelError` naming the closest), unless the listing fails
    (``None``: the request will tell)."""
    from nvnb.errors import NVNBError

    if not judged_by_listing(name, self_hosted=self_hosted):
        return resolve_model(name) if find_model(name) is not None else None
    try:
        live = [str(item["id"]) for item in list_models() if item.get("id")]
    except NVNBError:
        return None
    return resolve_model(name, live=live)
