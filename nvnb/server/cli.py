"""``nvnb serve``: the local server in the foreground."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from nvnb.server.faults import FAULT_NAMES


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nvnb serve",
        description="Run nvnb's local NIM-compatible server: deterministic answers from rules, "
        "no model, no network. Point NVIDIA_BASE_URL (or base_url=) at the printed URL.",
        epilog="Per request, the header X-NVNB-Fault takes the same specs, e.g. 'refusal' (the "
        "model refuses: message.refusal / delta.refusal), 'status=410;eol=2025-01-15T00:00:00Z' "
        "(a retired model, as the hosted catalog answers), 'status=429;retry-after=2'. "
        "Answers follow OpenAI's chat completion schema; 'n' gives that many distinct choices, "
        "streamed interleaved.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free)")
    p.add_argument(
        "--auth-key",
        default=None,
        help="require 'Authorization: Bearer KEY' (default: env NVNB_SERVER_KEY; unset = no auth)",
    )
    p.add_argument(
        "--fault",
        default=None,
        help=f"fault spec applied to every request ({', '.join(FAULT_NAMES)}; "
        "see nvnb.server.faults)",
    )
    p.add_argument(
        "--upstream",
        metavar="URL",
        default=None,
        help="forward every request to this OpenAI-compatible server (e.g. a self-hosted NIM "
        "or llama-server at http://host:port/v1) and apply faults to its real answers",
    )
    p.add_argument(
        "--upstream-key-env",
        metavar="NAME",
        default=None,
        help="environment variable with the upstream's API key (default: NVIDIA_API_KEY, "
        "for NVIDIA's hosted service only); the key is never printed or recorded",
    )
    p.add_argument("--chunk-delay-ms", type=float, default=0, help="delay per streamed chunk")
    p.add_argument("--latency-ms", type=float, default=0, help="delay before each answer")
    return p


def serve(argv: list[str] | None = None) -> int:
    """Run until interrupted (Ctrl+C or SIGTERM); print the base URL once serving."""
    from nvnb.server.problems import Problem
    from nvnb.server.runner import LocalServer

    args = parser().parse_args(argv)
    key = args.auth_key or os.environ.get("NVNB_SERVER_KEY") or None
    upstream_key = None
    if args.upstream:
        from nvnb.server.upstream import upstream_key as find_upstream_key

        upstream_key = find_upstream_key(args.upstream, args.upstream_key_env)
    try:
        server = LocalServer(
            args.host,
            args.port,
            auth_key=key,
            fault=args.fault,
            chunk_delay_ms=args.chunk_delay_ms,
            latency_ms=args.latency_ms,
            upstream=args.upstream,
            upstream_key=upstream_key,
        )
        server.start()
    except Problem as exc:
        print(f"nvnb serve: {exc.detail}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"nvnb serve: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    if args.upstream:
        sent = "with its key from the environment" if upstream_key else "without a key"
        print(
            f"nvnb serve: forwarding {server.base_url} to {args.upstream} ({sent}); "
            "faults apply on the way back",
            file=sys.stderr,
            flush=True,
        )
    print(f"nvnb local server listening on {server.base_url}", flush=True)
    print(f"auth {'on' if key else 'off'}; Ctrl+C to stop", file=sys.stderr, flush=True)
    try:
        while not done.wait(0.5) and server.running:
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
