"""``python -m bench [--quick] [--only SECTION ...] [--results PATH]``.

Runs the sections in order, prints each table as it is measured, then a summary of the headline
ratios. A full run of every section writes ``bench/RESULTS.md``; ``--quick`` (few repeats, small
sizes: CI's smoke run) writes a results file only when ``--results`` names one.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bench import env, report
from bench.harness import Row, Table
from bench.servers import ROOT, quiet_process_env

SECTIONS: dict[str, tuple[str, str]] = {
    # name: (number, module)
    "overhead": ("1", "bench.overhead"),
    "streaming": ("2", "bench.streaming"),
    "concurrency": ("3", "bench.concurrency"),
    "startup": ("4", "bench.startup"),
    "images": ("5", "bench.images"),
    "widgets": ("6", "bench.widgets"),
    "memory": ("7", "bench.memory"),
    "load": ("8", "bench.load"),
    "chunk-cost": ("9", "bench.chunk_cost"),
    "dataset": ("10", "bench.dataset"),
}

RESULTS = ROOT / "bench" / "RESULTS.md"


@dataclass
class Context:
    """What a section needs to know about the run it is part of."""

    quick: bool
    headlines: list[str] = field(default_factory=list)

    def n(self, full: int, quick: int) -> int:
        """A count for this mode: repeats, sizes, requests."""
        return quick if self.quick else full


def _selected(only: list[str]) -> list[str]:
    if not only:
        return list(SECTIONS)
    wanted: list[str] = []
    by_number = {num: name for name, (num, _) in SECTIONS.items()}
    for item in ",".join(only).split(","):
        item = item.strip().lower()
        name = by_number.get(item, item)
        if name not in SECTIONS:
            raise SystemExit(f"unknown section {item!r}; choose from: {', '.join(SECTIONS)}")
        if name not in wanted:
            wanted.append(name)
    return wanted


def run_section(name: str, ctx: Context) -> list[Table]:
    """One section's tables; a section that raises becomes a one-row table saying why."""
    number, module = SECTIONS[name]
    try:
        return importlib.import_module(module).run(ctx)
    except Exception as exc:  # a broken section must not hide the others' figures
        detail = traceback.format_exc(limit=-3)
        print(detail, file=sys.stderr)
        row = Row("section", error=f"{type(exc).__name__}: {exc}"[:300])
        return [Table(number, name, "result", "n", [row])]


def results_markdown(
    tables: list[Table],
    ctx: Context,
    info: dict[str, str],
    versions: dict[str, str],
    started: str,
    seconds: float,
    load_before: str,
    load_after: str,
) -> str:
    lines = [
        "# nvnb benchmark results",
        "",
        "Written by `python -m bench` (see the README's Benchmarks section). Every figure is a "
        "median over repeated runs; all rows of a table were measured in the same run, "
        "interleaved, against nvnb's local server on loopback (in its own process). Lower is "
        "better; `× floor` is a row's median over the floor's (bare httpx, or the table's named "
        "floor), `× official` over `langchain-nvidia-ai-endpoints`'.",
        "",
        f"- run: {started} UTC, {seconds:.0f} s{' (quick mode)' if ctx.quick else ''}",
        f"- load average (1/5/15 min) before: {load_before}; after: {load_after} "
        "(the machine's cores are shared with other work: read ratios, not absolute times)",
    ]
    lines += [f"- {k}: {v}" for k, v in info.items() if k != "executable"]
    lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if ctx.headlines:
        lines += ["", "## Headlines", ""] + [f"- {h}" for h in ctx.headlines]
    lines += ["", "## Tables"]
    for table in tables:
        lines += ["", report.markdown(table)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run nvnb's benchmarks against the local server on loopback; print medians "
        "with ratios to bare httpx and to the official package.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="few repeats and small sizes: checks the benchmarks still run",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SECTION",
        help=f"run only these sections (names or numbers): {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="write the Markdown results here (default: bench/RESULTS.md after a "
        "full run of every section)",
    )
    args = parser.parse_args(argv)

    quiet_process_env()
    names = _selected(args.only)
    ctx = Context(quick=args.quick)
    load_before = env.load_average()
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    t0 = time.perf_counter()
    print(
        f"nvnb benchmarks{' (quick)' if ctx.quick else ''}: {', '.join(names)}; "
        f"load average {load_before}",
        flush=True,
    )

    tables: list[Table] = []
    for name in names:
        t_section = time.perf_counter()
        section_tables = run_section(name, ctx)
        for table in section_tables:
            print("\n" + report.text(table), flush=True)
        print(f"  ({name}: {time.perf_counter() - t_section:.1f} s)", flush=True)
        tables += section_tables

    seconds = time.perf_counter() - t0
    load_after = env.load_average()
    if ctx.headlines:
        print("\nHeadlines:\n" + "\n".join(f"  - {h}" for h in ctx.headlines))
    failed = [(t, r) for t in tables for r in t.failed]
    print(
        f"\n{len(tables)} tables in {seconds:.0f} s, {len(failed)} failed rows; "
        f"load average {load_after}"
    )

    target = args.results
    if target is None and not ctx.quick and not args.only:
        target = RESULTS
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            results_markdown(
                tables,
                ctx,
                env.machine(),
                env.versions(),
                started,
                seconds,
                load_before,
                load_after,
            )
        )
        print(f"wrote {target}")
    for table, row in failed:
        print(f"FAILED {table.key} {row.label}: {row.error}", file=sys.stderr)
    return 1 if failed else 0
