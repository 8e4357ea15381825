"""2. Streaming: cost per chunk of a 2 000-chunk stream, and time to first token.

The server streams a long answer with no delay between chunks (its ``long=N`` fault option, sized
so the answer is 2 000 token chunks), so the time per chunk is the client's parsing and bookkeeping
plus the server's constant share, which the bare httpx SSE loop (the floor) measures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import httpx

from bench import clients
from bench.harness import Row, Table, column, fmt, interleaved_results, signed, speedup
from bench.servers import local_server

if TYPE_CHECKING:
    from bench.cli import Context

FAULT = "X-NVNB-Fault"


def _timed(open_stream: Callable[[], Iterable[Any]]) -> dict[str, float]:
    """Open and consume a stream: seconds to the first text and in all, this process's CPU
    seconds (the server runs in another), and the number of chunks with text."""
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    first = 0.0
    chunks = 0
    stream = open_stream()
    try:
        for item in stream:
            if clients.chunk_text(item):
                chunks += 1
                if chunks == 1:
                    first = time.perf_counter() - t0
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    total = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    n = max(chunks, 1)
    return {
        "ttft": first,
        "total": total,
        "chunks": float(chunks),
        "per_chunk": total / n,
        "cpu_per_chunk": cpu / n,
    }


def bare_stream(
    client: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Iterable[str]:
    with client.stream("POST", url, json=body, headers=headers) as response:
        response.raise_for_status()
        yield from clients.bare_sse_contents(response.iter_lines())


def calibrate_long(base_url: str, target: int) -> tuple[int, int]:
    """``long=N`` for an answer of about ``target`` content chunks, and the chunks it gives."""
    url = base_url + "/chat/completions"
    body = clients.payload(stream=True, max_tokens=None)
    size, got = target * 6, 0
    with httpx.Client(headers=clients.AUTH, timeout=60) as client:
        for _ in range(6):
            got = sum(1 for _ in bare_stream(client, url, body, {FAULT: f"long={size}"}))
            if got == target or got == 0:
                break
            size = max(1, size + round((target - got) * size / got))
    return size, got


def run(ctx: Context) -> list[Table]:
    target = ctx.n(2000, 200)
    repeats = ctx.n(7, 2)
    with local_server() as probe:
        size, calibrated = calibrate_long(probe.base_url, target)
    per_chunk = Table(
        "2a",
        f"Streaming: cost per chunk of a {calibrated:,}-chunk stream",
        "client CPU per chunk",
        "s",
        extra_columns=["above floor", "wall per chunk", "whole stream", "chunks"],
    )
    ttft = Table("2b", "Streaming: time to first token (same streams)", "first token", "s")
    body = clients.payload(stream=True, max_tokens=None)
    with local_server(fault=f"long={size}") as server:
        url = server.base_url + "/chat/completions"
        bare = httpx.Client(headers=clients.AUTH, timeout=60)
        client = clients.nvnb_client(server.base_url)
        ours = clients.nvnb_chat(server.base_url)
        theirs = clients.official_chat(server.base_url)

        variants = {
            "bare httpx SSE loop": lambda: _timed(lambda: bare_stream(bare, url, body)),
            "nvnb Client.stream_chat": lambda: _timed(lambda: client.stream_chat(body)),
            "nvnb ChatNVIDIA.stream": lambda: _timed(lambda: ours.stream(clients.PROMPT)),
            "official ChatNVIDIA.stream": lambda: _timed(lambda: theirs.stream(clients.PROMPT)),
        }
        try:
            results = interleaved_results(variants, repeats=repeats)
        finally:
            bare.close()
            client.close()
    roles = {"bare": "floor", "official": "official", "nvnb": "nvnb"}
    for label, found in results.items():
        role = roles[label.split()[0]]
        row = Row.of(label, column(found, "cpu_per_chunk"), role)  # type: ignore[arg-type]
        row.extras["wall per chunk"] = fmt(Row.of("", column(found, "per_chunk")).value, "s")
        row.extras["whole stream"] = fmt(Row.of("", column(found, "total")).value, "s")
        row.extras["chunks"] = f"{int(Row.of('', column(found, 'chunks')).value or 0):,}"
        per_chunk.rows.append(row)
        ttft.rows.append(Row.of(label, column(found, "ttft"), role))  # type: ignore[arg-type]
    floor = per_chunk.role("floor")
    for row in per_chunk.rows:
        if floor and row is not floor and row.value is not None:
            row.extras["above floor"] = signed(row.value - floor.value)  # type: ignore[operator]
    per_chunk.notes.append(
        f"answer of {size:,} characters (server fault option long={size}), no delay between "
        "chunks; client CPU = this process's CPU time over the stream (the server runs in another "
        "process), divided by the chunks with text; wall per chunk also holds the server's "
        f"pace, which bounds every row alike; {repeats} streams per row"
    )
    ttft.notes.append("from the call to the first chunk with text, on the same streams as 2a")
    ours, official = per_chunk.find("nvnb ChatNVIDIA"), per_chunk.role("official")
    client, floor = per_chunk.find("nvnb Client"), per_chunk.role("floor")
    if (
        ours
        and official
        and client
        and floor
        and ours.value
        and official.value
        and client.value
        and floor.value
        and ours.value > official.value
    ):
        per_chunk.notes.append(
            f"where nvnb's CPU goes: its transport alone (Client.stream_chat) costs "
            f"{fmt(client.value, 's')} per chunk, {client.value / floor.value:.2f}× the httpx "
            f"floor (per-chunk error mapping and SSE parsing on top of httpx/h11); ChatNVIDIA "
            f"adds {fmt(ours.value - client.value, 's')}; the whole official stack (requests) "
            f"costs {fmt(official.value, 's')}"
        )
    _headline(ctx, per_chunk, ttft)
    return [per_chunk, ttft]


def _headline(ctx: Context, per_chunk: Table, ttft: Table) -> None:
    ours, official = per_chunk.find("nvnb ChatNVIDIA"), per_chunk.find("official")
    if ours and official and ours.value and official.value:
        ctx.headlines.append(
            f"streaming: nvnb ChatNVIDIA.stream {fmt(ours.value, 's')} client CPU per chunk vs "
            f"official "
            f"{fmt(official.value, 's')} ({speedup(official.value, ours.value)})"
        )
    client, floor = per_chunk.find("nvnb Client"), per_chunk.role("floor")
    if client and floor and client.value and floor.value:
        ctx.headlines.append(
            f"nvnb Client.stream_chat costs {client.value / floor.value:.2f}× the bare httpx SSE "
            "loop per chunk"
        )
    ours_t, official_t = ttft.find("nvnb ChatNVIDIA"), ttft.find("official")
    if ours_t and official_t and ours_t.value and official_t.value:
        ctx.headlines.append(
            f"time to first token: nvnb ChatNVIDIA {fmt(ours_t.value, 's')} vs official "
            f"{fmt(official_t.value, 's')}"
        )
