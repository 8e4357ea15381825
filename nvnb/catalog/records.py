"""The model catalog: what nvnb knows about each model, as data.

Records live in ``models.json`` beside this module (ids, types, endpoints, aliases and
capabilities of NVIDIA's hosted catalog, plus the legacy playground names the first tutorials
used). Resolution never touches the network for a known name; unknown names are checked against
a live listing when the caller has one, and otherwise fail with the closest known names.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

MODEL_TYPES = ("chat", "code", "vlm", "nv-vlm", "steerlm", "qa", "embedding", "ranking")
CAPABILITIES = ("tools", "structured_output", "images")
STEERLM_LABELS = ("creativity", "complexity", "verbosity")
"""The labels of the text SteerLM models."""
LABEL_NAMES = (*STEERLM_LABELS, "quality")
"""Every SteerLM label nvnb knows (vision SteerLM models also take ``quality``); a model's record
may allow fewer."""
PLAYGROUND_PREFIX = "playground_"

_DATA = Path(__file__).with_name("models.json")


@dataclass(frozen=True)
class Model:
    """One model: its id on the wire, what it is, and what it can do."""

    id: str
    type: str = "chat"
    aliases: tuple[str, ...] = ()
    endpoint: str | None = None
    capabilities: frozenset[str] = field(default_factory=frozenset)
    labels: tuple[str, ...] = ()
    streaming: bool = True
    accepts: frozenset[str] | None = None
    thinking: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    base_model: str | None = None
    deprecated: bool = False
    # Public facts where models.dev has a profile of the model (see models.json's "about").
    name: str | None = field(default=None, compare=False)
    context_length: int | None = field(default=None, compare=False)
    max_output_tokens: int | None = field(default=None, compare=False)
    released: str | None = field(default=None, compare=False)
    open_weights: bool | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.type not in MODEL_TYPES:
            raise ValueError(f"model type {self.type!r} is not one of {', '.join(MODEL_TYPES)}")
        unknown = set(self.capabilities) - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"unknown capabilities {sorted(unknown)}; known: {CAPABILITIES}")
        # Accept lists from callers, keep the record hashable.
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.accepts is not None:
            object.__setattr__(self, "accepts", frozenset(self.accepts))

    @property
    def supports_tools(self) -> bool:
        return "tools" in self.capabilities

    @property
    def supports_structured_output(self) -> bool:
        return "structured_output" in self.capabilities

    @property
    def supports_images(self) -> bool:
        return "images" in self.capabilities or self.type in ("vlm", "nv-vlm")

    @property
    def supports_labels(self) -> bool:
        return bool(self.labels)

    @property
    def supports_thinking(self) -> bool:
        return self.thinking is not None

    @property
    def is_qa(self) -> bool:
        return self.type == "qa"

    @property
    def is_chat(self) -> bool:
        """Whether ChatNVIDIA can talk to it (not an embedding or ranking model)."""
        return self.type not in ("embedding", "ranking")

    @property
    def family(self) -> str:
        """The endpoint family: ``nv-vlm`` (flattened image parts), ``custom`` or ``chat``."""
        if self.type == "nv-vlm":
            return "nv-vlm"
        return "custom" if self.endpoint else "chat"

    def check_labels(self, labels: Any) -> dict[str, int]:
        """``labels`` checked for this model (see :func:`check_labels`)."""
        return check_labels(labels, self)

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready description (for tables, widgets and ``--json`` output)."""
        return {
            "id": self.id,
            "type": self.type,
            "aliases": list(self.aliases),
            "endpoint": self.endpoint,
            "capabilities": sorted(self.capabilities),
            "labels": list(self.labels),
            "streaming": self.streaming,
            "thinking": self.supports_thinking,
            "deprecated": self.deprecated,
            "name": self.name,
            "context_length": self.context_length,
            "max_output_tokens": self.max_output_tokens,
            "released": self.released,
            "open_weights": self.open_weights,
        }


def check_labels(labels: Any, model: Model | None = None) -> dict[str, int]:
    """SteerLM labels checked before anything is sent: known names (those ``model`` takes, or
    :data:`LABEL_NAMES` when no record says), integers 0–9, none for QA models. ``None`` is no
    labels. Returns a plain dict; raises :class:`nvnb.errors.InvalidInputError`."""
    from nvnb.errors import InvalidInputError

    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise InvalidInputError(
            f"labels must be a dict such as {{'creativity': 5}}, not {type(labels).__name__}"
        )
    if labels and model is not None and model.is_qa:
        raise InvalidInputError(
            f"model {model.id!r} answers questions from context and takes no labels "
            "(labels steer SteerLM models); leave them out for it"
        )
    if model is not None and model.labels:
        allowed, who = model.labels, f"model {model.id!r} takes"
    else:
        allowed, who = LABEL_NAMES, "SteerLM models take"
    out: dict[str, int] = {}
    for name, value in labels.items():
        if name not in allowed:
            raise InvalidInputError(f"unknown label {name!r}: {who} {', '.join(allowed)}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f"label {name!r} must be an integer from 0 to 9, not {value!r}")
        if not 0 <= value <= 9:
            raise InvalidInputError(f"label {name!r} must be from 0 to 9, not {value}")
        out[name] = value
    return out


def parse_labels(text: str | None) -> dict[str, int]:
    """``"creativity=9,verbosity=0"`` (commas or spaces) → ``{"creativity": 9, "verbosity": 0}``.

    Only the form is checked here (``name=integer`` pairs); :func:`check_labels` checks names and
    ranges. Raises :class:`nvnb.errors.InvalidInputError`.
    """
    from nvnb.errors import InvalidInputError

    labels: dict[str, int] = {}
    for item in (text or "").replace(",", " ").split():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidInputError(
                f"labels are name=value pairs such as creativity=9,verbosity=0, not {item!r}"
            )
        try:
            labels[name] = int(value)
        except ValueError:
            raise InvalidInputError(
                f"label {name!r} must be an integer from 0 to 9, not {value!r}"
            ) from None
    return labels


def _record(raw: dict[str, Any]) -> Model:
    return Model(
        id=raw["id"],
        type=raw.get("type", "chat"),
        aliases=tuple(raw.get("aliases", ())),
        endpoint=raw.get("endpoint"),
        capabilities=frozenset(raw.get("capabilities", ())),
        labels=tuple(raw.get("labels", ())),
        streaming=raw.get("streaming", True),
        accepts=frozenset(raw["accepts"]) if raw.get("accepts") is not None else None,
        thinking=raw.get("thinking"),
        base_model=raw.get("base_model"),
        deprecated=raw.get("deprecated", False),
        name=raw.get("name"),
        context_length=raw.get("context_length"),
        max_output_tokens=raw.get("max_output_tokens"),
        released=raw.get("released"),
        open_weights=raw.get("open_weights"),
    )


@lru_cache(maxsize=1)
def load_models() -> dict[str, Model]:
    """The packaged model records, by id."""
    with _DATA.open(encoding="utf-8") as f:
        data = json.load(f)
    return {m.id: m for m in map(_record, data["models"])}


_registered: dict[str, Model] = {}
_lock = threading.Lock()


def register_model(model: Model) -> None:
    """Add (or replace) a record, e.g. for your own NIM deployment with a custom endpoint."""
    with _lock:
        _registered[model.id] = model
    _index.cache_clear()


def known_models() -> list[Model]:
    """Every record: the packaged catalog, then the ones registered in this process."""
    merged = dict(load_models())
    merged.update(_registered)
    return list(merged.values())


@lru_cache(maxsize=1)
def _index() -> dict[str, tuple[Model, bool]]:
    """Name → (record, is_alias), ids first so an id always wins over an alias."""
    index: dict[str, tuple[Model, bool]] = {}
    models = known_models()
    for model in models:
        for alias in model.aliases:
            index.setdefault(alias, (model, True))
    for model in models:
        index[model.id] = (model, False)
    return index


def _lookup(name: str) -> tuple[Model, bool] | None:
    index = _index()
    candidates = [name]
    if name.startswith(PLAYGROUND_PREFIX):
        candidates.append(name[len(PLAYGROUND_PREFIX) :])
    else:
        candidates.append(PLAYGROUND_PREFIX + name)
    for candidate in candidates:
        if candidate in index:
            return index[candidate]
    return None


def find_model(name: str) -> Model | None:
    """The record for an id or alias (``playground_`` prefix optional), or ``None``. No network."""
    found = _lookup(name)
    return found[0] if found else None


def suggest(name: str, n: int = 3) -> list[str]:
    """Up to ``n`` known model ids whose id, short name or alias is close to ``name``."""
    keys: dict[str, str] = {}
    for key, (model, _) in _index().items():
        keys.setdefault(key.lower(), model.id)
        keys.setdefault(model.id.split("/")[-1].lower(), model.id)
    query = name.lower().removeprefix(PLAYGROUND_PREFIX)
    # A fragment typed on its own ("mixtral") names its models first, then near spellings.
    close = [k for k in sorted(keys) if len(query) >= 4 and query in k]
    close += difflib.get_close_matches(query, list(keys), n=n * 3, cutoff=0.5)
    out: list[str] = []
    for key in close:
        model_id = keys[key]
        if model_id not in out:
            out.append(model_id)
    return out[:n]


def resolve_model(
    name: str, *, live: Iterable[str] | Callable[[], Iterable[str]] | None = None
) -> Model:
    """The record to use for ``name``: the catalog merged with a live ``/v1/models`` listing.

    An id resolves to itself; an alias resolves to today's id, with a one-time notice naming it;
    an id the live listing offers but the catalog lacks becomes a plain chat record; anything
    else raises :class:`nvnb.errors.UnknownModelError` with the closest known names. ``live``
    is the listed ids, or a function returning them, called only for a name the catalog lacks
    (what it raises goes through).
    """
    name = name.strip()
    found = _lookup(name)
    if found is not None:
        model, is_alias = found
        if is_alias or name != model.id:
            from nvnb._notices import notify_once

            notify_once(
                f"alias:{name}",
                f"model {name!r} is a legacy name; using {model.id!r}.",
            )
        return model
    if callable(live):
        live = live()
    live = list(live) if live is not None else []
    if name in live:
        return Model(id=name, type="chat")
    from nvnb.errors import UnknownModelError

    suggestions = suggest(name)
    for model_id in live:
        if len(suggestions) < 3 and difflib.SequenceMatcher(None, name, model_id).ratio() > 0.6:
            suggestions.append(model_id)
    raise UnknownModelError(name, suggestions=suggestions)


def listed_record(item: Mapping[str, Any], model_type: str = "chat") -> Model:
    """A record for a ``/v1/models`` item the catalog lacks: ``root`` as its base model, and
    the image capability when the listing declares image input."""
    from nvnb.catalog.modalities import listed_modalities

    root = item.get("root")
    takes = listed_modalities(item) or frozenset()
    return Model(
        id=str(item["id"]),
        type=model_type,
        base_model=root if isinstance(root, str) else None,
        capabilities=frozenset({"images"}) if "image" in takes else frozenset(),
    )


def listed_ids(ids: Iterable[str]) -> frozenset[str]:
    """The record ids a ``/v1/models`` listing names: a listed alias or ``playground_`` name
    stands for its record's id, an id the catalog lacks for itself (as :func:`merge_listing`
    makes it a record)."""
    out = set()
    for name in ids:
        found = find_model(name)
        out.add(found.id if found is not None else name)
    return frozenset(out)


def merge_listing(
    list_models: Callable[[], Iterable[Mapping[str, Any]]],
    *,
    keep: Callable[[Model], bool],
    self_hosted: bool,
    unknown_type: str = "chat",
    add_unknown: bool = True,
) -> list[Model]:
    """The records ``keep`` accepts, merged with the live ``/v1/models`` listing that
    ``list_models()`` returns.

    On a self-hosted NIM only what it lists counts (ids the catalog lacks become records of
    ``unknown_type``, ``root`` as their base model), and a failed listing raises. On the hosted
    service every known record counts, plus (``add_unknown``) listed ids the catalog lacks as
    ``unknown_type`` records; a failed listing leaves the catalog alone.
    """
    from nvnb.errors import NVNBError

    try:
        listed = [item for item in list_models() if item.get("id")]
    except NVNBError:
        if self_hosted:
            raise
        listed = []
    if self_hosted:
        out: dict[str, Model] = {}  # in the server's order; a listing may repeat an id
        for item in listed:
            found = find_model(item["id"]) or listed_record(item, unknown_type)
            if keep(found):
                out.setdefault(found.id, found)
        return list(out.values())
    records = {m.id: m for m in known_models() if keep(m)}
    if add_unknown:
        for item in listed:
            if find_model(item["id"]) is None:
                records.setdefault(item["id"], Model(id=item["id"], type=unknown_type))
    return list(records.values())
