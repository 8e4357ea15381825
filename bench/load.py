"""8. Load: 500 concurrent streamed requests through one ``AsyncClient`` (issue 8).

All 500 start at once (``asyncio.gather``) against the local server, which interleaves their
chunks (no added delay: a per-chunk sleep in 500 streams would make the server's own wake-ups the
bottleneck). Reported: wall time, errors, the
latency and time-to-first-token spread, and the peak number of TCP connections the server saw
(sampled from the server process every 100 ms), which nvnb's pool must keep bounded. Floors, in
the same run: raw ``aiohttp`` (the goal is nvnb ≤ 1.2× it), bare ``httpx.AsyncClient`` with its
default pool (httpcore) and the same gated to 100 requests in flight by a semaphore; the
official ``astream`` runs alongside for comparison.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx

from bench import clients
from bench.harness import Row, Table, fmt
from bench.servers import ServerProcess, local_server

if TYPE_CHECKING:
    from bench.cli import Context


class ConnectionSampler:
    """Peak count of established TCP connections to the server's port, seen from its process."""

    def __init__(self, server: ServerProcess, interval: float = 0.1) -> None:
        import psutil

        self._process = psutil.Process(server.pid)
        self._port = int(server.origin.rsplit(":", 1)[1])
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def count(self) -> int:
        return sum(
            1
            for c in self._process.net_connections(kind="tcp")
            if c.status == "ESTABLISHED" and c.laddr and c.laddr.port == self._port
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.count())
            self._stop.wait(self._interval)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _one(open_stream: Callable[[], Any]) -> dict[str, float]:
    t0 = time.perf_counter()
    first, chunks = 0.0, 0
    stream = open_stream()
    if hasattr(stream, "__aenter__"):
        async with stream as entered:
            async for item in entered:
                if clients.chunk_text(item):
                    chunks += 1
                    first = first or time.perf_counter() - t0
    else:
        async for item in stream:
            if clients.chunk_text(item):
                chunks += 1
                first = first or time.perf_counter() - t0
    return {"latency": time.perf_counter() - t0, "ttft": first, "chunks": chunks}


async def _bare_stream(
    client: httpx.AsyncClient, url: str, body: dict[str, Any]
) -> AsyncIterator[str]:
    async with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            for text in clients.bare_sse_contents(iter((line,))):
                yield text


async def _aiohttp_stream(session: Any, url: str, body: dict[str, Any]) -> AsyncIterator[str]:
    async with session.post(url, json=body) as response:
        response.raise_for_status()
        async for raw in response.content:  # aiohttp iterates the body line by line
            for text in clients.bare_sse_contents(iter((raw.decode("utf-8").rstrip("\r\n"),))):
                yield text


async def _gated(gate: asyncio.Semaphore, stream: AsyncIterator[str]) -> AsyncIterator[str]:
    async with gate:
        async for item in stream:
            yield item


async def _load(make: Callable[[], Any], n: int, close: Callable[[Any], Any]) -> dict[str, Any]:
    """n concurrent streams through one client made by ``make``."""
    client = make()
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        results = await asyncio.gather(
            *(_one(lambda i=i: client(i)) for i in range(n)), return_exceptions=True
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        await close(client)
    ok = [r for r in results if isinstance(r, dict)]
    errors = [r for r in results if not isinstance(r, dict)]
    return {"wall": wall, "cpu": cpu / n, "ok": ok, "errors": errors}


def run(ctx: Context) -> list[Table]:
    n = ctx.n(500, 50)
    # each run is already n requests; three interleaved runs per row on a shared machine
    repeats = ctx.n(3, 1)
    max_tokens, delay_ms = ctx.n(16, 8), 0
    body = clients.payload(stream=True, max_tokens=max_tokens)
    table = Table(
        "8",
        f"Load: {n} concurrent streamed requests through one client",
        "wall",
        "s",
        extra_columns=[
            "client CPU per stream",
            "CPU × aiohttp",
            "errors",
            "latency p50 / p95 / max",
            "first token p50 / p95",
            "peak connections",
            "open after close",
            "chunks",
        ],
    )
    with local_server(chunk_delay_ms=delay_ms) as server:
        url = server.base_url + "/chat/completions"

        def raw_aiohttp() -> Any:
            import aiohttp

            s = aiohttp.ClientSession(headers=clients.AUTH)
            return _Wrapped(s, lambda i: _aiohttp_stream(s, url, body), s.close)

        def bare() -> Any:
            c = httpx.AsyncClient(headers=clients.AUTH, timeout=120)
            return _Wrapped(c, lambda i: _bare_stream(c, url, body), c.aclose)

        def bare_over_aiohttp() -> Any:
            from httpx_aiohttp import AiohttpTransport

            c = httpx.AsyncClient(headers=clients.AUTH, timeout=120, transport=AiohttpTransport())
            return _Wrapped(c, lambda i: _bare_stream(c, url, body), c.aclose)

        def bare_gated() -> Any:
            c = httpx.AsyncClient(headers=clients.AUTH, timeout=120)
            gate = asyncio.Semaphore(100)  # httpx's default pool size
            return _Wrapped(c, lambda i: _gated(gate, _bare_stream(c, url, body)), c.aclose)

        def nvnb_async() -> Any:
            c = clients.nvnb_async_client(server.base_url)
            return _Wrapped(c, lambda i: c.stream_chat(body), c.aclose)

        def nvnb_chat() -> Any:
            llm = clients.nvnb_chat(server.base_url, max_tokens=max_tokens)
            return _Wrapped(llm, lambda i: llm.astream(f"{clients.PROMPT} ({i})"), None)

        def official() -> Any:
            llm = clients.official_chat(server.base_url, max_tokens=max_tokens)
            return _Wrapped(llm, lambda i: llm.astream(f"{clients.PROMPT} ({i})"), None)

        variants: dict[str, tuple[Callable[[], Any], str]] = {
            "raw aiohttp ClientSession": (raw_aiohttp, "floor"),
            "bare httpx.AsyncClient (default pool)": (bare, "peer"),
            "bare httpx.AsyncClient gated to 100 in flight": (bare_gated, "peer"),
            "bare httpx.AsyncClient over httpx-aiohttp": (bare_over_aiohttp, "peer"),
            "nvnb AsyncClient.stream_chat": (nvnb_async, "nvnb"),
            "nvnb ChatNVIDIA.astream": (nvnb_chat, "nvnb"),
            "official ChatNVIDIA.astream": (official, "official"),
        }
        found: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for r in range(repeats):
            names = list(variants)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                make = variants[name][0]
                before = ConnectionSampler(server).count()
                with ConnectionSampler(server) as sampler:
                    result = asyncio.run(_load(make, n, _Wrapped.close))
                result["peak"] = sampler.peak - before
                time.sleep(0.5)  # let closed connections drain
                result["left"] = sampler.count() - before
                found[name].append(result)
    floor_cpu = statistics.median(x["cpu"] for x in found["raw aiohttp ClientSession"])
    for name, (_, role) in variants.items():
        runs = found[name]
        row = Row.of(name, [x["wall"] for x in runs], role)  # type: ignore[arg-type]
        cpu = statistics.median(x["cpu"] for x in runs)
        row.extras["client CPU per stream"] = fmt(cpu, "s")
        row.extras["CPU × aiohttp"] = f"{cpu / floor_cpu:.2f}×" if floor_cpu else ""
        latencies = [o["latency"] for x in runs for o in x["ok"]]
        ttfts = [o["ttft"] for x in runs for o in x["ok"]]
        errors = [e for x in runs for e in x["errors"]]
        row.extras["errors"] = str(len(errors))
        if latencies:
            row.extras["latency p50 / p95 / max"] = " / ".join(
                fmt(v, "s")
                for v in (statistics.median(latencies), _pct(latencies, 0.95), max(latencies))
            )
            row.extras["first token p50 / p95"] = " / ".join(
                fmt(v, "s") for v in (statistics.median(ttfts), _pct(ttfts, 0.95))
            )
        row.extras["peak connections"] = str(max(x["peak"] for x in runs))
        row.extras["open after close"] = str(max(x["left"] for x in runs))
        row.extras["chunks"] = f"{sum(o['chunks'] for o in runs[-1]['ok']):,}"
        if errors and role == "nvnb":
            first = errors[0]
            row.error = f"{len(errors)} of {n * len(runs)} failed: {type(first).__name__}: {first}"
        table.rows.append(row)
    table.notes.append(
        f"{repeats} run(s) per row, interleaved; client CPU per stream = this process's CPU "
        "time over the run / streams (the server runs in its own process): on a loaded "
        "machine the robust figure, as wall time also holds the server's share of the cores; "
        f"each answer is {max_tokens} chunks, {delay_ms} ms "
        "apart; latency = start of all streams to the end of each; peak connections = established "
        "TCP connections to the server's port, sampled from the server process every 100 ms, "
        "less those already open before the row; open after close = connections the row left "
        "open 0.5 s after its client closed (a ChatNVIDIA has no close: its shared pool keeps "
        "its idle keep-alive connections, bounded, for the next call)"
    )
    ours, floor = table.find("nvnb AsyncClient"), table.role("floor")
    if ours and floor and ours.value and floor.value:
        table.notes.append(
            f"nvnb AsyncClient is {ours.value / floor.value:.2f}× raw aiohttp's wall time and "
            f"{ours.extras['CPU × aiohttp']} its client CPU (goal ≤ 1.2× wall): its async pools "
            "are httpx over aiohttp's connector (the httpx-aiohttp transport), because "
            "httpcore's pool rescans every queued request on each state change once more are "
            "waiting than it has connections (the bare httpx rows show it, and what a semaphore "
            "gating requests to the pool size recovers); of the CPU above aiohttp, measured "
            "by instruction counts (callgrind), about 40% is the call log (its background "
            "writer re-parses each answer for the row's text, then the SQLite insert), the "
            "rest httpx's request and response objects and the SSE decoding with partial text "
            "kept"
        )
    if ours and ours.value:
        ctx.headlines.append(
            f"load: {n} concurrent streams through one nvnb AsyncClient in {fmt(ours.value, 's')} "
            f"({table.ratio(ours, 'floor') or 0:.2f}× raw aiohttp), "
            f"{ours.extras['errors']} errors, at most {ours.extras['peak connections']} "
            f"connections (latency p50 / p95 / max {ours.extras.get('latency p50 / p95 / max')})"
        )
    return [table]


class _Wrapped:
    """A client and how to open stream ``i`` with it, and how to close it (None: nothing)."""

    def __init__(
        self, owner: Any, open_stream: Callable[[int], Any], aclose: Callable[[], Any] | None
    ) -> None:
        self.owner, self._open, self._aclose = owner, open_stream, aclose

    def __call__(self, i: int) -> Any:
        return self._open(i)

    @staticmethod
    async def close(wrapped: _Wrapped) -> None:
        if wrapped._aclose is not None:
            await wrapped._aclose()
