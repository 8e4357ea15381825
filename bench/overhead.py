"""1. Client overhead per non-streamed call.

The same short chat completion, sent again and again to a local server that answers at once: what
is left above the bare httpx loop (the floor) is what each client adds per call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from bench import clients
from bench.harness import Row, Table, fmt, interleaved, signed, speedup
from bench.servers import local_server

if TYPE_CHECKING:
    from bench.cli import Context


def run(ctx: Context) -> list[Table]:
    repeats = ctx.n(15, 2)
    inner = ctx.n(20, 3)
    table = Table(
        "1",
        "Client overhead per non-streamed call",
        "per call",
        "s",
        extra_columns=["above floor", "client CPU per call"],
    )
    cpu: dict[str, list[float]] = {}
    body = clients.payload(stream=False)
    with local_server() as server:
        bare = httpx.Client(headers=clients.AUTH)
        url = server.base_url + "/chat/completions"
        client = clients.nvnb_client(server.base_url)
        ours = clients.nvnb_chat(server.base_url, max_tokens=64)
        theirs = clients.official_chat(server.base_url, max_tokens=64)
        variants = {
            "bare httpx.Client.post loop": lambda: bare.post(url, json=body).json(),
            "nvnb Client.chat": lambda: client.chat(body),
            "nvnb ChatNVIDIA.invoke": lambda: ours.invoke(clients.PROMPT),
            "official ChatNVIDIA.invoke": lambda: theirs.invoke(clients.PROMPT),
        }
        try:
            samples = interleaved(variants, repeats=repeats, inner=inner, warmup=2, cpu=cpu)
        finally:
            bare.close()
            client.close()
    roles = {"bare": "floor", "official": "official", "nvnb": "nvnb"}
    for label, values in samples.items():
        row = Row.of(label, values, roles[label.split()[0]])  # type: ignore[arg-type]
        row.extras["client CPU per call"] = fmt(Row.of("", cpu[label]).value, "s")
        table.rows.append(row)
    floor = table.role("floor")
    for row in table.rows:
        if floor and row is not floor and row.value is not None:
            row.extras["above floor"] = signed(row.value - floor.value)  # type: ignore[operator]
    table.notes.append(
        f"{repeats} samples of {inner} calls each per row; a sample is the mean of consecutive "
        "calls through one model or client object; client CPU is this process's CPU time (the "
        "server runs in another process)"
    )
    _headline(ctx, table)
    return [table]


def _headline(ctx: Context, table: Table) -> None:
    official, ours, floor = (
        table.find("official"),
        table.find("nvnb ChatNVIDIA"),
        table.role("floor"),
    )
    client = table.find("nvnb Client")
    if official and ours and official.value and ours.value:
        ctx.headlines.append(
            f"non-streamed call: nvnb ChatNVIDIA.invoke {fmt(ours.value, 's')} vs official "
            f"{fmt(official.value, 's')} per call ({speedup(official.value, ours.value)}); "
            f"client CPU {ours.extras['client CPU per call']} vs "
            f"{official.extras['client CPU per call']}"
        )
    if client and floor and client.value and floor.value:
        ctx.headlines.append(
            f"nvnb Client.chat costs {client.value / floor.value:.2f}× the bare httpx floor "
            f"({signed(client.value - floor.value)} per call)"
        )
