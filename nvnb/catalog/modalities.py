"""What a served model takes as input, as the server's own ``/v1/models`` listing says.

Self-hosted OpenAI-compatible servers describe their models' inputs in the listing (llama.cpp:
``"architecture": {"input_modalities": ["text"]}``; OpenRouter-style listings put
``input_modalities`` at the top level). Where a listing says so, an image sent to a text-only
model is refused before the request leaves, with words that say why; where it says nothing,
nvnb sends the request and lets the server decide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from nvnb.errors import InvalidInputError


def listed_modalities(item: Mapping[str, Any]) -> frozenset[str] | None:
    """The input modalities one ``/v1/models`` item declares, or None when it declares none."""
    architecture = item.get("architecture")
    found = architecture.get("input_modalities") if isinstance(architecture, Mapping) else None
    if found is None:
        found = item.get("input_modalities")
    if isinstance(found, str):
        found = [found]
    if not isinstance(found, Iterable) or isinstance(found, Mapping):
        return None
    names = frozenset(str(m).lower() for m in found)
    return names or None


def modalities_of(model_id: str, listing: Iterable[Mapping[str, Any]]) -> frozenset[str] | None:
    """The modalities ``listing`` declares for ``model_id`` (None: not listed, or not said)."""
    for item in listing:
        if item.get("id") == model_id:
            return listed_modalities(item)
    return None


def carries_images(messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether wire messages carry an image (an ``image_url`` part or an inline ``<img>``)."""
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) and "<img" in content:
            return True
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, Mapping):
                    continue
                if part.get("type") == "image_url":
                    return True
                if part.get("type") == "text" and "<img" in str(part.get("text", "")):
                    return True
    return False


def refuse_images(
    payload: Mapping[str, Any],
    model_id: str,
    listing: Callable[[], Iterable[Mapping[str, Any]]],
    where: str,
) -> None:
    """Raise :class:`InvalidInputError` if ``payload`` sends an image to a model that the
    listing (``listing()``, from the server at ``where``; asked only when there is an image)
    declares text-only."""
    if not carries_images(payload.get("messages") or ()):
        return
    declared = modalities_of(model_id, listing())
    if declared is None or "image" in declared:
        return
    raise InvalidInputError(
        f"model {model_id!r} takes only {', '.join(sorted(declared))} input (the server at "
        f"{where} says so in /v1/models), so the image was not sent; leave it out, or pick a "
        "model that takes images",
        model=model_id,
        hint="retrying cannot help: the model cannot see images",
    )
