"""nvnb's local NIM-compatible server: real loopback HTTP, deterministic answers, faults on demand.

- :class:`LocalServer` — start/stop it in-process (``with LocalServer() as server: ...``).
- :func:`embedded_url` — the one-per-process server used when no API key is set.
- :func:`serve` — the ``nvnb serve`` command.

Routes: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/vlm/{org}/{model}``,
``POST /v1/gr/{org}/{model}/chat/completions``, ``POST /v1/embeddings``, ``POST /v1/ranking``
(and the ``/v1/retrieval/...`` forms), NVCF ``pexec``/``status``/``functions``/``assets``, plus
``/_nvnb/requests`` (recordings), ``/_nvnb/samples/<name>`` (sample images) and ``/health``.
Faults: header ``X-NVNB-Fault`` (see :mod:`nvnb.server.faults`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["LocalServer", "RecordedRequest", "embedded_url", "serve"]

_EXPORTS = {
    "LocalServer": "nvnb.server.runner",
    "RecordedRequest": "nvnb.server.recording",
    "embedded_url": "nvnb.server.embedded",
    "serve": "nvnb.server.cli",
}

if TYPE_CHECKING:
    from nvnb.server.cli import serve
    from nvnb.server.embedded import embedded_url
    from nvnb.server.recording import RecordedRequest
    from nvnb.server.runner import LocalServer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nvnb.server' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
