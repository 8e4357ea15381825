"""The server's view of the model catalog: data only, read from ``nvnb.catalog``."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nvnb.catalog import Model

CHAT_TYPES = frozenset({"chat", "code", "vlm", "nv-vlm", "steerlm", "qa"})
_NAMESPACE = uuid.UUID("5f0f7c1e-3c1a-4b8e-9a57-6e7662616e62")


@lru_cache(maxsize=1)
def all_models() -> dict[str, Model]:
    """Every packaged model by id (the server answers for deprecated ones too)."""
    from nvnb.catalog import load_models

    return dict(load_models())


def get(model_id: str) -> Model | None:
    """The record for an exact id, as the real service matches ids (no aliases)."""
    return all_models().get(model_id)


def by_path(org: str, name: str) -> Model | None:
    """The record behind an endpoint path such as ``/v1/vlm/{org}/{name}``."""
    found = get(f"{org}/{name}")
    if found is not None:
        return found
    wanted = f"/{org}/{name}"
    for model in all_models().values():
        endpoint = model.endpoint or ""
        if endpoint.endswith(wanted) or f"{wanted}/" in endpoint:
            return model
    return None


def function_id(model_id: str) -> str:
    """A stable NVCF function id for a model (same id in every run)."""
    return str(uuid.uuid5(_NAMESPACE, model_id))


@lru_cache(maxsize=1)
def functions() -> dict[str, Model]:
    """NVCF function id → model, for every chat-capable model."""
    return {function_id(m.id): m for m in all_models().values() if m.type in CHAT_TYPES}


def function_name(model: Model) -> str:
    """The NVCF function name: the old ``playground_`` name when there is one, else the id."""
    for alias in model.aliases:
        if alias.startswith("playground_"):
            return alias
    return model.id


def allowed_labels(model: Model) -> tuple[str, ...]:
    """The model's own labels, else every SteerLM label (the service's SteerLM family)."""
    from nvnb.catalog import LABEL_NAMES

    return tuple(model.labels) or LABEL_NAMES
