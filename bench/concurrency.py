"""3. Concurrency: ``abatch`` and ``batch`` of 64 prompts, the server adding 200 ms per call.

The figure is wall time over the single-call latency of the same client: 1.0 means all 64 calls
overlapped perfectly, 64 means they ran one after another. The floor is 64 bare
``httpx.AsyncClient.post`` calls under ``asyncio.gather``.
"""

from __future__ import annotations

import asyncio
import statistics
from typing import TYPE_CHECKING, Any

import httpx

from bench import clients
from bench.harness import Row, Table, fmt, interleaved
from bench.servers import local_server

if TYPE_CHECKING:
    from bench.cli import Context


def run(ctx: Context) -> list[Table]:
    prompts_n = ctx.n(64, 8)
    latency_ms = ctx.n(200, 50)
    repeats = ctx.n(3, 1)
    prompts = [f"{clients.PROMPT} (prompt {i})" for i in range(prompts_n)]
    table = Table(
        "3",
        f"Concurrency: {prompts_n} prompts, server latency {latency_ms} ms per call",
        "wall / single call",
        "x",
        extra_columns=["wall time", "single call"],
    )
    body = clients.payload(stream=False)
    with local_server(latency_ms=latency_ms) as server:
        url = server.base_url + "/chat/completions"
        ours = clients.nvnb_chat(server.base_url, max_tokens=64)
        theirs = clients.official_chat(server.base_url, max_tokens=64)
        with httpx.Client(headers=clients.AUTH, timeout=60) as bare:
            single = interleaved(
                {
                    "bare": lambda: bare.post(url, json=body).json(),
                    "nvnb": lambda: ours.invoke(clients.PROMPT),
                    "official": lambda: theirs.invoke(clients.PROMPT),
                },
                repeats=ctx.n(5, 1),
            )

        async def bare_gather() -> list[Any]:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
            async with httpx.AsyncClient(headers=clients.AUTH, timeout=60, limits=limits) as c:
                responses = await asyncio.gather(*(c.post(url, json=body) for _ in prompts))
                return [r.json() for r in responses]

        variants = {
            "bare httpx.AsyncClient gather": lambda: asyncio.run(bare_gather()),
            "nvnb ChatNVIDIA.abatch": lambda: asyncio.run(ours.abatch(prompts)),
            "official ChatNVIDIA.abatch": lambda: asyncio.run(theirs.abatch(prompts)),
            "nvnb ChatNVIDIA.batch": lambda: ours.batch(prompts),
            "official ChatNVIDIA.batch": lambda: theirs.batch(prompts),
        }
        walls = interleaved(variants, repeats=repeats, warmup=1)
    for label, values in walls.items():
        who = label.split()[0]
        key = {"bare": "bare", "nvnb": "nvnb", "official": "official"}[who]
        one = statistics.median(single[key])
        role = {"bare": "floor", "nvnb": "nvnb", "official": "official"}[who]
        row = Row.of(label, [w / one for w in values], role)  # type: ignore[arg-type]
        row.extras["wall time"] = fmt(statistics.median(values), "s")
        row.extras["single call"] = fmt(one, "s")
        table.rows.append(row)
    table.notes.append(
        "single call: median of the same client's invoke (bare: one post) against the same "
        f"server; {repeats} batches per row; LangChain's batch() runs in a thread pool whose size "
        "LangChain picks (max_concurrency unset), as a user gets by default"
    )
    _headline(ctx, table)
    return [table]


def _headline(ctx: Context, table: Table) -> None:
    for kind in ("abatch", "batch"):
        ours = table.find(f"nvnb ChatNVIDIA.{kind}")
        theirs = table.find(f"official ChatNVIDIA.{kind}")
        if ours and theirs and ours.value and theirs.value:
            ctx.headlines.append(
                f"{kind}: nvnb {ours.value:.2f}× a single call's latency vs official "
                f"{theirs.value:.2f}× ({ours.extras['wall time']} vs {theirs.extras['wall time']})"
            )
