"""Tables as text for the terminal and as Markdown for bench/RESULTS.md."""

from __future__ import annotations

from bench.harness import Row, Table, fmt, fmt_ratio


def _cells(table: Table, row: Row) -> list[str]:
    if row.skipped:
        value = f"skipped: {row.skipped}"
    elif row.error:
        value = f"FAILED: {row.error}"
    else:
        value = fmt(row.value, table.unit)
    cells = [row.label, value]
    if table.role("floor"):
        cells.append(fmt_ratio(table.ratio(row, "floor")))
    if table.role("official"):
        cells.append(fmt_ratio(table.ratio(row, "official")))
    cells += [row.extras.get(c, "") for c in table.extra_columns]
    cells.append(str(row.samples) if row.samples else "")
    return cells


def _header(table: Table) -> list[str]:
    head = ["", f"{table.metric} (median)"]
    if table.role("floor"):
        head.append("× floor")
    if table.role("official"):
        head.append("× official")
    return [*head, *table.extra_columns, "n"]


def text(table: Table) -> str:
    """A fixed-width table for the terminal."""
    rows = [_header(table)] + [_cells(table, r) for r in table.rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"{table.key}. {table.title}"]
    for n, r in enumerate(rows):
        cells = (
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        lines.append(("  " + "  ".join(cells)).rstrip())
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    lines += [f"  note: {note}" for note in table.notes]
    return "\n".join(lines)


def markdown(table: Table) -> str:
    """A Markdown table, its notes as a list under it."""
    head = _header(table)
    lines = [
        f"### {table.key}. {table.title}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join([" --- "] + [" ---: "] * (len(head) - 1)) + "|",
    ]
    for row in table.rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(table, row)) + " |")
    if table.notes:
        lines.append("")
        lines += [f"- {note}" for note in table.notes]
    return "\n".join(lines)
