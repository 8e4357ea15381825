"""9. Client CPU per streamed chunk when the server writes one SSE event at a time (issue 12).

The hosted service sends each token as it is made, so a client reads one small event per
network read; that is where per-read costs (httpcore's, aiohttp's, urllib3's) show, and what this
section measures, unlike 2a's fast stream where one read carries many events. The server adds
1 ms between chunks (so each event goes out in its own write); the figure is this process's CPU
time over the stream divided by the chunks with text (the server runs in another process, and
the delay costs no CPU). Floors: the plain SSE loop over ``requests``, ``aiohttp`` and ``httpx``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import httpx

from bench import clients
from bench.harness import Row, Table, column, fmt, interleaved_results
from bench.servers import local_server
from bench.streaming import bare_stream, calibrate_long

if TYPE_CHECKING:
    from bench.cli import Context


def _cpu_per_chunk(consume: Callable[[], Iterable[Any]]) -> dict[str, float]:
    cpu0 = time.process_time()
    chunks = sum(1 for item in consume() if clients.chunk_text(item))
    cpu = time.process_time() - cpu0
    return {"cpu_per_chunk": cpu / max(chunks, 1), "chunks": float(chunks)}


def _requests_stream(session: Any, url: str, body: dict[str, Any]) -> Iterable[str]:
    with session.post(url, json=body, stream=True) as response:
        response.raise_for_status()
        yield from clients.bare_sse_contents(response.iter_lines(decode_unicode=True))


def _aiohttp_texts(url: str, body: dict[str, Any]) -> list[str]:
    import aiohttp

    async def go() -> list[str]:
        texts: list[str] = []
        async with (
            aiohttp.ClientSession(headers=clients.AUTH) as session,
            session.post(url, json=body) as response,
        ):
            async for raw in response.content:
                line = raw.decode("utf-8").rstrip("\r\n")
                texts.extend(clients.bare_sse_contents(iter((line,))))
        return texts

    return asyncio.run(go())


def run(ctx: Context) -> list[Table]:
    import requests

    target = ctx.n(600, 100)
    repeats = ctx.n(5, 2)
    with local_server() as probe:
        size, calibrated = calibrate_long(probe.base_url, target)
    table = Table(
        "9",
        f"Streaming, one SSE event per network write: client CPU per chunk ({calibrated:,} chunks)",
        "client CPU per chunk",
        "s",
        extra_columns=["chunks"],
    )
    body = clients.payload(stream=True, max_tokens=None)
    with local_server(fault=f"long={size}", chunk_delay_ms=1) as server:
        url = server.base_url + "/chat/completions"
        session = requests.Session()
        session.headers.update(clients.AUTH)
        bare = httpx.Client(headers=clients.AUTH, timeout=60)
        client = clients.nvnb_client(server.base_url)
        ours = clients.nvnb_chat(server.base_url)
        theirs = clients.official_chat(server.base_url)
        variants = {
            "requests SSE loop": lambda: _cpu_per_chunk(
                lambda: _requests_stream(session, url, body)
            ),
            "aiohttp SSE loop": lambda: _cpu_per_chunk(lambda: _aiohttp_texts(url, body)),
            "httpx SSE loop": lambda: _cpu_per_chunk(lambda: bare_stream(bare, url, body)),
            "nvnb Client.stream_chat": lambda: _cpu_per_chunk(lambda: client.stream_chat(body)),
            "nvnb ChatNVIDIA.stream": lambda: _cpu_per_chunk(lambda: ours.stream(clients.PROMPT)),
            "official ChatNVIDIA.stream": lambda: _cpu_per_chunk(
                lambda: theirs.stream(clients.PROMPT)
            ),
        }
        try:
            results = interleaved_results(variants, repeats=repeats)
        finally:
            session.close()
            bare.close()
            client.close()
    for label, found in results.items():
        role = {"nvnb": "nvnb", "official": "official"}.get(label.split()[0], "peer")
        if label.startswith("httpx"):
            role = "floor"
        row = Row.of(label, column(found, "cpu_per_chunk"), role)  # type: ignore[arg-type]
        row.extras["chunks"] = f"{int(Row.of('', column(found, 'chunks')).value or 0):,}"
        table.rows.append(row)
    table.notes.append(
        f"answer of {size:,} characters (server fault option long={size}), 1 ms between chunks; "
        f"{repeats} streams per row; the floor column is the httpx loop; requests and aiohttp "
        "are the other floors (goal: ChatNVIDIA.stream ≤ 0.9× official)"
    )
    ours_row, official = table.find("nvnb ChatNVIDIA"), table.role("official")
    if ours_row and official and ours_row.value and official.value:
        ctx.headlines.append(
            f"one event per write: nvnb ChatNVIDIA.stream {fmt(ours_row.value, 's')} CPU per "
            f"chunk, {ours_row.value / official.value:.2f}× official ({fmt(official.value, 's')})"
        )
    return [table]
