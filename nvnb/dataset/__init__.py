"""Dataset runs: one prompt over many rows, at the rate limit, resumable.

``nvnb.map(rows, template, ...)`` sends one chat request per row through one ``AsyncClient``,
bounded by a concurrency and a requests-per-minute pace, and returns a :class:`MapResult`: one
:class:`Outcome` per row in input order, never aborting on one row's failure. ``cache=PATH`` keeps
finished rows in a run file, so running the same map again sends only the rows not yet done.

Modules: ``mapping`` (the public functions), ``run`` (scheduling), ``limiter`` (pace and shared
429 backoff), ``row_requests`` (rows → request bodies), ``answer_schema`` (structured output),
``outcomes`` (the result), ``outcome_store`` (its resident window and what spills), ``spill``
(the temporary SQLite file beyond the window), ``runfile`` (the SQLite run file), ``rows``
(input rows), ``progress`` (the bar).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = ["MapResult", "Mapper", "Outcome", "RunFile", "amap", "map", "mapper"]

_EXPORTS = {
    "map": "nvnb.dataset.mapping",
    "amap": "nvnb.dataset.mapping",
    "mapper": "nvnb.dataset.mapping",
    "Mapper": "nvnb.dataset.mapping",
    "MapResult": "nvnb.dataset.outcomes",
    "Outcome": "nvnb.dataset.outcomes",
    "RunFile": "nvnb.dataset.runfile",
}

if TYPE_CHECKING:
    from nvnb.dataset.mapping import Mapper, amap, map, mapper
    from nvnb.dataset.outcomes import MapResult, Outcome
    from nvnb.dataset.runfile import RunFile


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nvnb.dataset' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
