"""``nvnb log`` (the call log as a table or JSON) and ``nvnb cache stats|clear``."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any


def add_log_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "log",
        help="show the call log (every request nvnb made)",
        description="Show the call log: the last requests nvnb made, oldest first. "
        "The log is NVNB_LOG (a file, or off), else calls.sqlite in the user's data folder.",
    )
    parser.add_argument("-m", "--model", help="only models whose id contains this")
    parser.add_argument("--since", help="an age (30m, 2h, 1d) or a date/time (2026-12-01T09:00)")
    parser.add_argument("--until", help="as --since")
    parser.add_argument("--endpoint", help="only paths containing this (embeddings, ranking)")
    parser.add_argument("-n", "--limit", type=int, default=20, help="last N calls (0: all)")
    parser.add_argument("--json", action="store_true", help="print JSON records")
    parser.add_argument("--path", action="store_true", help="print where the log is, and stop")
    parser.add_argument("--width", type=int, default=40, help="characters of each answer shown")
    return parser


def add_cache_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "cache",
        help="response cache: stats or clear",
        description="Inspect or empty a response cache file (NVNB_CACHE, or --file).",
    )
    parser.add_argument("action", choices=["stats", "clear"])
    parser.add_argument("file", nargs="?", help="the cache file (default: NVNB_CACHE)")
    parser.add_argument("-m", "--model", help="clear: only this model's answers")
    parser.add_argument("--json", action="store_true", help="stats: print JSON")
    return parser


def run_log(args: argparse.Namespace) -> int:
    from nvnb.calls.log import log, log_path

    path = log_path()
    if path is None:
        print("nvnb: the call log is off (NVNB_LOG=off)")
        return 0
    if args.path:
        print(path)
        return 0
    try:
        rows = log(
            args.model,
            since=args.since,
            until=args.until,
            endpoint=args.endpoint,
            limit=args.limit or None,
        )
    except ValueError as err:
        raise SystemExit(f"nvnb: {err}") from None
    if args.json:
        print(json.dumps(list(rows), indent=1, ensure_ascii=False))
    else:
        print(rows.table(width=args.width))
    return 0


def run_cache(args: argparse.Namespace) -> int:
    from nvnb.calls.cache import ResponseCache

    file = args.file or os.environ.get("NVNB_CACHE")
    if not file or file.lower() == "off":
        raise SystemExit(
            "nvnb: name the cache file (nvnb cache stats answers.sqlite) or set NVNB_CACHE"
        )
    if not os.path.exists(file):
        raise SystemExit(f"nvnb: no cache file at {file}")
    cache = ResponseCache(file)
    if args.action == "clear":
        count = cache.clear(args.model)
        print(f"nvnb: {count} recorded answer(s) removed from {file}")
        return 0
    stats = cache.stats()
    stats.pop("mode")
    if args.json:
        print(json.dumps(stats, indent=1))
        return 0
    print(format_stats(stats))
    return 0


def format_stats(stats: dict[str, Any]) -> str:
    """Cache stats as a few plain lines."""
    lines = [
        f"cache:    {stats['path']}",
        f"answers:  {stats['answers']} recorded, {stats['replays']} replayed",
        f"size:     {stats['bytes'] / 1024:.1f} KiB",
    ]
    for model, count in stats["models"].items():
        lines.append(f"  {count:>5}  {model}")
    return "\n".join(lines)
