"""What one running server remembers: options, recordings, fault counters, assets, 202 jobs."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from nvnb.server import faults
from nvnb.server.recording import Recorder


@dataclass(frozen=True)
class Options:
    auth_key: str | None = field(default=None, repr=False)
    fault: str | None = None
    chunk_delay_ms: float = 0.0
    latency_ms: float = 0.0
    record: bool = True
    upstream: str | None = None  # nvnb serve --upstream: forward to this server
    upstream_key: str | None = field(default=None, repr=False)


@dataclass
class Asset:
    content_type: str
    description: str
    data: bytes | None = None


@dataclass
class Job:
    """A 202-accepted request: polls still to answer 202, then the stored result."""

    polls_left: float
    body: bytes


class ServerState:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.faults = faults.parse(options.fault)  # raises Problem for a bad spec
        self.recorder = Recorder(options.record)
        self.counters = faults.Counters()
        self.assets: dict[str, Asset] = {}
        self.jobs: dict[str, Job] = {}
        self.stopping = threading.Event()

    def clear(self) -> None:
        """Forget recorded requests and ``times=`` counts (assets and jobs stay)."""
        self.recorder.clear()
        self.counters.clear()
