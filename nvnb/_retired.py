"""What to use instead of a retired model: current catalog models of the same type.

The service answers ``410 Gone`` for models it has retired (``/v1/models`` may still list them).
:func:`current_alternatives` names what :class:`nvnb.errors.ModelRetiredError` suggests. It reads
the packaged catalog only (no network, no LangChain), so the transport can call it cheaply.
"""

from __future__ import annotations

import difflib

from nvnb import catalog

__all__ = ["current_alternatives"]


def current_alternatives(model_id: str | None, n: int = 3) -> list[str]:
    """Up to ``n`` ids of current (not deprecated) models of the same type as ``model_id``,
    the most alike first (same publisher, then the closest name)."""
    record = catalog.find_model(model_id) if model_id else None
    kind = record.type if record is not None else "chat"
    retired = {model_id, record.id if record is not None else None}
    candidates = [
        m.id
        for m in catalog.known_models()
        if m.type == kind and not m.deprecated and m.id not in retired
    ]
    wanted = (record.id if record is not None else model_id or "").lower()
    publisher = wanted.split("/")[0] if "/" in wanted else ""

    def closeness(candidate: str) -> tuple[bool, float, str]:
        same = bool(publisher) and candidate.lower().startswith(publisher + "/")
        ratio = difflib.SequenceMatcher(None, wanted, candidate.lower()).ratio()
        return (not same, -ratio, candidate)

    return sorted(candidates, key=closeness)[:n]
