"""``%nvchat log``, ``%nvchat last`` and ``%nvchat cache``: the call log and the response cache
from a notebook (the ``%nvchat`` magic delegates here)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

LOG_USAGE = "usage: %nvchat log [N] [MODEL]  (the last N calls, default 10; MODEL: part of an id)"
CACHE_USAGE = (
    "usage: %nvchat cache PATH [auto|record|replay]  ·  %nvchat cache off  ·  "
    "%nvchat cache stats  ·  %nvchat cache clear"
)


def show_log(rest: list[str]) -> None:
    from IPython.display import display

    from nvnb.calls.log import log, log_path

    limit, model = 10, None
    for word in rest:
        if word.isdigit():
            limit = int(word)
        elif model is None:
            model = word
        else:
            raise UsageError(LOG_USAGE)
    path = log_path()
    if path is None:
        print("the call log is off (NVNB_LOG=off)")
        return
    rows = log(model, limit=limit)
    text = rows.table()
    display({"text/plain": text}, raw=True)


def cache_command(rest: list[str]) -> Any:
    from nvnb.calls.cache import MODES, active_cache, cache

    if not rest:
        current = active_cache()
        print(f"cache: {current.mode} ({current.path})" if current else "cache: off")
        return None
    first = rest[0]
    if first == "off" and len(rest) == 1:
        cache(mode="off")
        print("cache: off")
        return None
    if first in ("stats", "clear") and len(rest) == 1:
        current = active_cache()
        if current is None:
            raise UsageError("no cache is on; turn one on with %nvchat cache PATH")
        if first == "clear":
            print(f"{current.clear()} recorded answer(s) removed from {current.path}")
        else:
            from nvnb.calls.cli import format_stats

            print(format_stats(current.stats()))
        return None
    if len(rest) > 2 or (len(rest) == 2 and rest[1] not in MODES):
        raise UsageError(CACHE_USAGE)
    mode = rest[1] if len(rest) == 2 else "auto"
    scope = cache(first, mode=mode)  # type: ignore[arg-type]
    print(repr(scope).removeprefix("nvnb."))
    return None
