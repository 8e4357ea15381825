"""``%%nvchat --map ROWS``: the cell's prompt over every row of a DataFrame or list of dicts.

The rows are sent through :func:`nvnb.map` (its pace, retries, progress bar and per-row
outcomes); the cell prints a one-line summary, never the table, and ``-o`` stores the
:class:`nvnb.dataset.MapResult`.
"""

from __future__ import annotations

from typing import Any

from nvnb._prompt_template import Lookup, interpolate, resolve_argument
from nvnb.magics.cell_failure import CellFailure, brief_errors


def map_cell(
    namespace: dict[str, Any], args: Any, template: str, out: str | None, lookup: Lookup
) -> Any:
    """``--map ROWS``: the prompt over every row (``nvnb.map``); a summary, not a table."""
    if args.chat or len(args.model or []) > 1 or args.image or args.context or args.labels:
        raise CellFailure(
            "--map runs one prompt per row: it does not combine with --chat, several -m, "
            "--image, --context or --labels",
            hint="name image columns in Python: nvnb.map(rows, prompt, images='column')",
        )
    name = args.map.strip("{} ")
    if name not in namespace:
        raise CellFailure(f"--map {args.map}: no variable {name!r} in this kernel")
    params: dict[str, Any] = {}
    for option in ("temperature", "max_tokens", "top_p", "seed"):
        if getattr(args, option) is not None:
            params[option] = getattr(args, option)
    if args.stop:
        params["stop"] = [resolve_argument(s, lookup) for s in args.stop]
    model = interpolate(args.model[0], lookup).strip() if args.model else None
    system = interpolate(args.system, lookup) if args.system is not None else None
    from nvnb.dataset import map as map_rows

    with brief_errors():
        result = map_rows(namespace[name], template, model=model, system=system, **params)
    if out is None:
        return result  # its repr is the short summary
    namespace[out] = result
    print(f"{out} = {result!r}; {out}.to_dataframe() joins the answers to the rows")
    return None
