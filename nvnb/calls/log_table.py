"""Call-log rows as a plain text table (``nvnb log``, ``%nvchat log``, ``nvnb.log()``'s repr)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

_HEADERS = (
    "time",
    "model",
    "endpoint",
    "status",
    "in",
    "out",
    "first",
    "total",
    "retry",
    "request id",
    "answer",
)


def format_rows(rows: Iterable[Mapping[str, Any]], *, width: int = 40) -> str:
    """One line per call: local time, model, endpoint, status, tokens, latency, retries,
    request id and the start of the answer (``width`` characters)."""
    lines = [_cells(row, width) for row in rows]
    if not lines:
        return "(no calls logged)"
    table = [_HEADERS, *lines]
    widths = [max(len(r[i]) for r in table) for i in range(len(_HEADERS))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table
    )


def _cells(row: Mapping[str, Any], width: int) -> tuple[str, ...]:
    status = str(row.get("status") or "-")
    if row.get("cached"):
        status += " cache"
    elif row.get("outcome") not in (None, "ok"):
        status += f" {row['outcome']}"
    retries = str(row.get("retries") or 0)
    if row.get("rate_limited"):
        retries += f" ({row['rate_limited']}×429)"
    text = row.get("error") or row.get("text") or ""
    text = " ".join(str(text).split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    endpoint = str(row.get("endpoint") or "")
    return (
        datetime.fromtimestamp(row["time"]).strftime("%Y-%m-%d %H:%M:%S"),
        str(row.get("model") or "-"),
        endpoint.removeprefix("/v1/").removeprefix("/v2/"),
        status,
        _int(row.get("tokens_in")),
        _int(row.get("tokens_out")),
        _seconds(row.get("first_token_s")),
        _seconds(row.get("total_s")),
        retries,
        str(row.get("request_id") or "-"),
        text,
    )


def _int(value: Any) -> str:
    return "-" if value is None else str(value)


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}s"
