"""What the call log and the response cache cost per call (``python -m bench.call_log``).

The same short chat completion, JSON and streamed, to a local server process that answers at
once, with the log off, with it on, and answered from the response cache. The log's cost is the
transport wrapper's bookkeeping plus a queue put (rows are written by a background thread); a
cache hit costs an SQLite lookup and no request. Variants are interleaved, medians reported.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

from bench import clients
from bench.servers import local_server


def _median_per_call(fn: Callable[[], object], inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def main(repeats: int = 15, inner: int = 20) -> int:
    import nvnb
    from nvnb.calls import log as calllog

    folder = tempfile.mkdtemp(prefix="nvnb-bench-log-")
    log_file = os.path.join(folder, "calls.sqlite")
    with local_server() as server:
        client = clients.nvnb_client(server.base_url)
        json_body = clients.payload(stream=False)
        stream_body = clients.payload(stream=True)

        def chat() -> object:
            return client.chat(json_body)

        def stream() -> object:
            with client.stream_chat(stream_body) as s:
                return list(s)

        cache_scope = None

        def setup(variant: str) -> None:
            nonlocal cache_scope
            calllog.set_path(None if variant == "log off" else log_file)
            cache_scope = nvnb.cache(
                os.path.join(folder, "answers.sqlite") if "cache" in variant else None
            )

        variants = ["log off", "log on", "log on + cache hit"]
        for variant in variants:  # warm up: pools open, cache recorded
            setup(variant)
            chat(), stream()
        samples: dict[tuple[str, str], list[float]] = {}
        for _ in range(repeats):
            for variant in variants:
                setup(variant)
                for kind, fn in (("json", chat), ("stream", stream)):
                    samples.setdefault((variant, kind), []).append(_median_per_call(fn, inner))
        calllog.flush_all()
        nvnb.cache(mode="off")
    print(f"{'variant':<22}{'json call':>12}{'vs off':>9}{'stream call':>14}{'vs off':>9}")
    base = {k: statistics.median(samples[("log off", k)]) for k in ("json", "stream")}
    for variant in variants:
        cells = []
        for kind in ("json", "stream"):
            value = statistics.median(samples[(variant, kind)])
            cells.append(f"{value * 1e3:>10.3f}ms{value / base[kind]:>8.2f}×")
        print(f"{variant:<22}{cells[0]:>21}{cells[1]:>23}")
    rows = len(calllog.log(path=log_file))
    print(f"\nrows written to the log during the run: {rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:3])))
