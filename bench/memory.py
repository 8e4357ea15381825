"""7. Memory: peak RSS of a process that streams a 5 MB answer and keeps its text.

Each sample is a new process: it imports its client, makes one small warm-up request (so lazy
imports are done), notes its peak RSS so far, streams the 5 MB answer (the server's ``long=N``
fault option) joining the text, and reports its peak RSS again (``VmHWM`` in ``/proc``). The
figure is the growth of the peak during the stream; the text itself is 5 MB of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

from bench.harness import Row, Table, fmt
from bench.servers import ROOT, bench_env, local_server

if TYPE_CHECKING:
    from bench.cli import Context

_CHILD = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[4])
from bench import clients

variant, warm_url, long_url = sys.argv[1], sys.argv[2], sys.argv[3]

def peak() -> int:
    # VmHWM, not getrusage's ru_maxrss: that one keeps the parent's high-water mark across exec.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def run(base_url):
    body = clients.payload(stream=True, max_tokens=None)
    if variant == "bare":
        import httpx
        with httpx.Client(headers=clients.AUTH, timeout=120) as c:
            with c.stream("POST", base_url + "/chat/completions", json=body) as r:
                return "".join(clients.bare_sse_contents(r.iter_lines()))
    if variant == "client":
        with clients.nvnb_client(base_url) as c, c.stream_chat(body) as s:
            return "".join(clients.chunk_text(chunk) for chunk in s)
    if variant == "nvnb":
        llm = clients.nvnb_chat(base_url)
    else:
        llm = clients.official_chat(base_url)
    return "".join(chunk.content for chunk in llm.stream(clients.PROMPT))

run(warm_url)
before = peak()
text = run(long_url)
print(json.dumps({"before": before, "after": peak(), "chars": len(text)}))
"""

VARIANTS = {
    "bare httpx SSE loop": ("bare", "floor"),
    "nvnb Client.stream_chat": ("client", "nvnb"),
    "nvnb ChatNVIDIA.stream": ("nvnb", "nvnb"),
    "official ChatNVIDIA.stream": ("official", "official"),
}


def _sample(variant: str, warm_url: str, long_url: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, variant, warm_url, long_url, str(ROOT)],
        capture_output=True,
        text=True,
        env=bench_env(),
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(
            out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(ctx: Context) -> list[Table]:
    size = ctx.n(5_000_000, 500_000)
    repeats = ctx.n(2, 1)
    table = Table(
        "7",
        f"Memory: streaming a {fmt(size, 'B')} answer",
        "peak RSS growth",
        "B",
        extra_columns=["peak RSS", "before the stream", "answer kept"],
    )
    found: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    errors: dict[str, str] = {}
    with local_server() as warm, local_server(fault=f"long={size}") as long:
        for r in range(repeats):
            names = list(VARIANTS)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                if name in errors:
                    continue
                try:
                    found[name].append(_sample(VARIANTS[name][0], warm.base_url, long.base_url))
                except (RuntimeError, subprocess.SubprocessError, ValueError) as exc:
                    errors[name] = str(exc)[:300]
    for name, (_, role) in VARIANTS.items():
        if name in errors:
            table.rows.append(Row(name, role=role, error=errors[name]))  # type: ignore[arg-type]
            continue
        results = found[name]
        row = Row.of(name, [f["after"] - f["before"] for f in results], role)  # type: ignore[arg-type]
        row.extras["peak RSS"] = fmt(Row.of("", [f["after"] for f in results]).value, "B")
        row.extras["before the stream"] = fmt(Row.of("", [f["before"] for f in results]).value, "B")
        chars = min(f["chars"] for f in results)
        row.extras["answer kept"] = f"{chars:,.0f} chars"
        if chars < size:
            row.error = f"answer cut short: {chars:,.0f} of {size:,} characters"
        table.rows.append(row)
    table.notes.append(
        f"{repeats} processes per row; growth = peak RSS after the stream − peak RSS after a small "
        "warm-up request (imports done); the joined answer alone is "
        f"{fmt(size, 'B')} (ASCII str)"
    )
    ours, theirs = table.find("nvnb ChatNVIDIA"), table.role("official")
    floor = table.role("floor")
    if ours and theirs and ours.value is not None and theirs.value is not None and floor:
        ctx.headlines.append(
            f"memory, streaming a {fmt(size, 'B')} answer: peak RSS grows by "
            f"{fmt(ours.value, 'B')} with nvnb ChatNVIDIA.stream vs {fmt(theirs.value, 'B')} "
            f"with the official package (bare httpx: {fmt(floor.value, 'B')})"
        )
    return [table]
