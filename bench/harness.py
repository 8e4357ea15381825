"""What every benchmark shares: result tables, interleaved timing, medians and ratios.

Every figure is a median over repeated runs, and every variant of a table is measured in the same
run, interleaved (A B C, B C A, ...), so that a noisy neighbour on the shared cores slows all of
them alike. Lower is better everywhere; a ratio is a row's median over the floor's (bare httpx, or
whatever the table names as its floor) and over the official package's.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

Unit = Literal["s", "B", "n", "x"]
Role = Literal["floor", "official", "nvnb", "peer", ""]


@dataclass
class Row:
    """One variant of a table: its median, how many samples it is the median of, and extras."""

    label: str
    value: float | None = None
    samples: int = 0
    role: Role = ""
    extras: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    skipped: str | None = None

    @classmethod
    def of(cls, label: str, samples: Iterable[float], role: Role = "", **extras: str) -> Row:
        values = list(samples)
        return cls(
            label, statistics.median(values) if values else None, len(values), role, dict(extras)
        )


@dataclass
class Table:
    """A table of one metric (``unit``: seconds, bytes, a count, or a plain ratio)."""

    key: str
    title: str
    metric: str
    unit: Unit
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)

    def role(self, role: Role) -> Row | None:
        return next((r for r in self.rows if r.role == role and r.value), None)

    def ratio(self, row: Row, role: Role) -> float | None:
        base = self.role(role)
        if base is None or row.value is None or base is row:
            return None
        return row.value / base.value  # type: ignore[operator]

    def find(self, label_start: str) -> Row | None:
        return next((r for r in self.rows if r.label.startswith(label_start)), None)

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if r.error]


def fmt(value: float | None, unit: Unit) -> str:
    """A value in a unit a reader takes in at a glance (µs/ms/s, KB/MB, counts)."""
    if value is None:
        return "—"
    if value < 0:
        return "−" + fmt(-value, unit)
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:.1f} µs"
        if value < 1:
            return f"{value * 1e3:.2f} ms"
        return f"{value:.3f} s"
    if unit == "B":
        if value < 10_000:
            return f"{value:,.0f} B"
        if value < 1_000_000:
            return f"{value / 1e3:,.1f} kB"
        return f"{value / 1e6:,.2f} MB"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def signed(seconds: float) -> str:
    """A time difference with its sign: "+1.2 ms", "−30.0 µs"."""
    return ("+" if seconds >= 0 else "") + fmt(seconds, "s")


def speedup(theirs: float, ours: float) -> str:
    """How many times faster (or slower) ours is: "2.1× faster", "1.3× slower"."""
    if ours <= theirs:
        return f"{theirs / ours:.1f}× faster"
    return f"{ours / theirs:.1f}× slower"


def fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def interleaved(
    variants: dict[str, Callable[[], object]],
    *,
    repeats: int,
    inner: int = 1,
    warmup: int = 1,
    cpu: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each variant: ``repeats`` samples, each the mean over ``inner`` calls.

    Variants take turns within every repeat, the starting one rotating, so drift and neighbours'
    load fall on all of them alike. ``warmup`` untimed calls each first (connections, caches).
    ``cpu``, if given, receives this process's CPU seconds per call, sample by sample.
    """
    names = list(variants)
    for name in names:
        for _ in range(warmup):
            variants[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn = variants[name]
            gc.collect()
            c0 = time.process_time()
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - t0) / inner)
            if cpu is not None:
                cpu.setdefault(name, []).append((time.process_time() - c0) / inner)
    return samples


def interleaved_results(
    variants: dict[str, Callable[[], dict[str, float]]],
    *,
    repeats: int,
    warmup: int = 1,
) -> dict[str, list[dict[str, float]]]:
    """Like :func:`interleaved` for variants that measure themselves and return named figures."""
    names = list(variants)
    for name in names:
        for _ in range(warmup):
            variants[name]()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            gc.collect()
            results[name].append(variants[name]())
    return results


def median_of(results: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in results)


def column(results: list[dict[str, float]], key: str) -> list[float]:
    return [r[key] for r in results]
