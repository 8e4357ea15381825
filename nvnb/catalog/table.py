"""The catalog as a table, for ``nvnb models`` and ``%nvchat models``."""

from __future__ import annotations

from collections.abc import Iterable

from nvnb.catalog.records import MODEL_TYPES, Model, known_models

_TYPE_WORDS = {"vision": ("vlm", "nv-vlm"), "steer": ("steerlm",), **{t: (t,) for t in MODEL_TYPES}}


def matching_models(
    text: str = "", *, include_all: bool = False, models: Iterable[Model] | None = None
) -> list[Model]:
    """Models whose id, alias or type matches ``text`` (case-insensitive), sorted by id.

    Embedding and ranking models are left out unless ``include_all`` or the filter names their type.
    ``models``: search these (a self-hosted server's list) instead of the catalog.
    """
    query = text.strip().lower()
    types = _TYPE_WORDS.get(query)
    out = []
    for model in known_models() if models is None else models:
        if types is not None:
            if model.type in types:
                out.append(model)
            continue
        if not include_all and not model.is_chat:
            continue
        names = (model.id, *model.aliases)
        if not query or any(query in name.lower() for name in names):
            out.append(model)
    return sorted(out, key=lambda m: m.id)


def _capabilities(model: Model) -> str:
    marks = []
    if model.supports_tools:
        marks.append("tools")
    if model.supports_structured_output:
        marks.append("json")
    if model.supports_images:
        marks.append("images")
    if model.supports_labels:
        marks.append("labels")
    if model.supports_thinking:
        marks.append("thinking")
    return ",".join(marks)


def table_rows(models: Iterable[Model]) -> list[tuple[str, str, str, str]]:
    """(id, type, capabilities, aliases) for each model."""
    rows = []
    for model in models:
        aliases = ", ".join(model.aliases[:3]) + (" …" if len(model.aliases) > 3 else "")
        kind = model.type + (" (deprecated)" if model.deprecated else "")
        rows.append((model.id, kind, _capabilities(model), aliases))
    return rows


def format_table(models: Iterable[Model]) -> str:
    """A plain-text table with aligned columns, one model per line."""
    rows = [("model", "type", "capabilities", "aliases"), *table_rows(models)]
    if len(rows) == 1:
        return "no model matches"
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 7)
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(models: Iterable[Model]) -> str:
    """The same table in Markdown, for notebooks."""
    rows = table_rows(models)
    if not rows:
        return "no model matches"
    lines = ["| model | type | capabilities | aliases |", "| --- | --- | --- | --- |"]
    lines += [f"| `{mid}` | {kind} | {caps} | {aliases} |" for mid, kind, caps, aliases in rows]
    return "\n".join(lines)
