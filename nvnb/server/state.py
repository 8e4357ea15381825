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


class InFlight:
    """Requests the server has begun to receive and not yet begun to answer: until a
    request's response starts, its recording and ``times=`` counts may still change."""

    def __init__(self) -> None:
        self._idle = threading.Condition()
        self._count = 0

    def enter(self) -> None:
        with self._idle:
            self._count += 1

    def leave(self) -> None:
        with self._idle:
            self._count -= 1
            if self._count <= 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is arriving; False if some still were after ``timeout`` s."""
        with self._idle:
            return self._idle.wait_for(lambda: self._count <= 0, timeout)


class ServerState:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.faults = faults.parse(options.fault)  # raises Problem for a bad spec
        self.recorder = Recorder(options.record)
        self.counters = faults.Counters()
        self.assets: dict[str, Asset] = {}
        self.jobs: dict[str, Job] = {}
        self.stopping = threading.Event()
        self.in_flight = InFlight()

    def clear(self) -> None:
        """Forget recorded requests and ``times=`` counts (assets and jobs stay)."""
        self.recorder.clear()
        self.counters.clear()
