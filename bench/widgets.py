"""6. Widgets: front-end messages and Python CPU time per streamed 2 000-token answer.

``Session.ask(prompt, sink=pane)`` streams a 2 000-chunk answer from the local server (1 ms between
chunks, about the rate at which Jupyter Server starts dropping per-token messages) into a
``StreamPane``. Messages are counted by replacing ``comm.create_comm`` in this process with a comm
that records what it would publish to the front end (no kernel needed). Compared with a sink that
discards the text (the CPU floor) and with the naive widget — an ``ipywidgets.HTML`` whose value
grows by each token, one message per token with the whole text so far.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from bench import clients
from bench.harness import Row, Table, fmt, signed
from bench.servers import CHAT_MODEL, FAKE_KEY, local_server
from bench.streaming import calibrate_long

if TYPE_CHECKING:
    from bench.cli import Context


class FrontEnd:
    """What the widgets would have sent to the browser: messages and bytes, by type."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.kinds: dict[str, int] = {}

    def reset(self) -> None:
        self.messages = self.bytes = 0
        self.kinds = {}

    def record(self, msg_type: str, data: Any, buffers: Any) -> None:
        self.messages += 1
        self.bytes += len(json.dumps(data, default=str)) + sum(len(b) for b in buffers or ())
        method = data.get("method", "") if isinstance(data, dict) else ""
        kind = f"{msg_type}:{method}" if method else msg_type
        self.kinds[kind] = self.kinds.get(kind, 0) + 1


def install_recording_comm(front_end: FrontEnd) -> None:
    """Make every widget created from now on publish into ``front_end``."""
    import comm
    from comm.base_comm import BaseComm

    class RecordingComm(BaseComm):
        def publish_msg(
            self,
            msg_type: str,
            data: Any = None,
            metadata: Any = None,
            buffers: Any = None,
            **keys: Any,
        ) -> None:
            front_end.record(msg_type, data, buffers)

    comm.create_comm = lambda *args, **kwargs: RecordingComm(*args, **kwargs)


class NullSink:
    """Takes the stream and drops it: the cost of the session and client alone."""

    def on_delta(self, text: str) -> None:
        pass

    def on_end(self, answer: Any) -> None:
        pass

    def on_error(self, exc: BaseException) -> None:
        pass


class NaiveHTMLSink(NullSink):
    """The widget a notebook author writes first: ``html.value += token``."""

    def __init__(self) -> None:
        import ipywidgets

        self.widget = ipywidgets.HTML()

    def on_delta(self, text: str) -> None:
        self.widget.value += text


def run(ctx: Context) -> list[Table]:
    target = ctx.n(2000, 200)
    repeats = ctx.n(3, 1)
    front_end = FrontEnd()
    install_recording_comm(front_end)
    from nvnb.session import Session
    from nvnb.widgets import StreamPane

    with local_server() as probe:
        size, chunks = calibrate_long(probe.base_url, target)
    table = Table(
        "6",
        f"Widgets: one streamed {chunks:,}-token answer",
        "front-end messages",
        "n",
        extra_columns=["bytes to front end", "Python CPU", "CPU above no widget", "wall"],
    )
    with local_server(fault=f"long={size}", chunk_delay_ms=1) as server:
        session = Session(CHAT_MODEL, base_url=server.base_url, api_key=FAKE_KEY)
        sinks: dict[str, Any] = {
            "no widget (sink drops the text)": NullSink,
            "naive ipywidgets.HTML, value += token": NaiveHTMLSink,
            "nvnb StreamPane": StreamPane,
        }
        found: dict[str, list[dict[str, float]]] = {name: [] for name in sinks}
        session.ask(clients.PROMPT, sink=NullSink())  # warm: connection, imports, event loop
        for r in range(repeats):
            names = list(sinks)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                sink = sinks[name]()
                time.sleep(0.05)  # let a previous pane's timer thread finish
                front_end.reset()
                c0, t0 = time.process_time(), time.perf_counter()
                answer = session.ask(clients.PROMPT, sink=sink)
                cpu, wall = time.process_time() - c0, time.perf_counter() - t0
                if len(answer.text) < size * 0.9:
                    raise RuntimeError(
                        f"{name}: answer of {len(answer.text)} characters, expected {size}"
                    )
                found[name].append(
                    {
                        "messages": front_end.messages,
                        "bytes": front_end.bytes,
                        "cpu": cpu,
                        "wall": wall,
                    }
                )
    floor_cpu = Row.of("", [f["cpu"] for f in found["no widget (sink drops the text)"]]).value
    for name, results in found.items():
        row = Row.of(
            name, [f["messages"] for f in results], "nvnb" if name.startswith("nvnb") else "peer"
        )
        cpu = Row.of("", [f["cpu"] for f in results]).value or 0.0
        row.extras["bytes to front end"] = fmt(Row.of("", [f["bytes"] for f in results]).value, "B")
        row.extras["Python CPU"] = fmt(cpu, "s")
        row.extras["CPU above no widget"] = (
            "" if name.startswith("no widget") else signed(cpu - (floor_cpu or 0.0))
        )
        row.extras["wall"] = fmt(Row.of("", [f["wall"] for f in results]).value, "s")
        table.rows.append(row)
    table.notes.append(
        f"{repeats} answers per row, interleaved, through nvnb.Session.ask(sink=...) from a local "
        f"server streaming {chunks:,} chunks with 1 ms between them; messages are comm messages "
        "the widget publishes between the start and the end of the answer (widget creation "
        "excluded); Python CPU is this process's (session, client, widget), the server runs in "
        "another; StreamPane coalesces to at most 30 updates a second and sends deltas"
    )
    pane, naive = table.find("nvnb StreamPane"), table.find("naive")
    if pane and naive and pane.value and naive.value:
        ctx.headlines.append(
            f"widgets: a {chunks:,}-token answer in StreamPane takes {pane.value:.0f} front-end "
            f"messages ({pane.extras['bytes to front end']}) vs {naive.value:.0f} "
            f"({naive.extras['bytes to front end']}) for a per-token ipywidgets.HTML; Python CPU "
            f"above no widget: {pane.extras['CPU above no widget']} vs "
            f"{naive.extras['CPU above no widget']}"
        )
    return [table]
