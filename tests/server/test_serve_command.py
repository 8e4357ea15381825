"""``serve()`` (``nvnb serve``) in a subprocess: prints its URL, streams like ``curl -N``, stops."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from server_helpers import chat_body

SERVE = "import sys; from nvnb.server import serve; sys.exit(serve(sys.argv[1:]))"


@contextmanager
def serving(*args: str, env: dict | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"http://\S+/v1", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        yield match.group(0), process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(10)
        process.stdout.close()
        process.stderr.close()


def test_serve_prints_its_base_url_and_streams_chunk_by_chunk():
    with serving("--chunk-delay-ms", "40") as (base_url, process):
        arrivals = []
        began = time.monotonic()
        with httpx.stream(
            "POST",
            f"{base_url}/chat/completions",
            timeout=10,
            json=chat_body("Hi", stream=True, max_tokens=6),
            headers={"Accept": "text/event-stream"},
        ) as response:
            for line in response.iter_lines():
                if line:
                    arrivals.append((time.monotonic() - began, line))
        assert arrivals[-1][1] == "data: [DONE]"
        content = [t for t, line in arrivals if '"content"' in line]
        assert len(content) == 6
        assert content[-1] - content[0] >= 0.15  # chunks arrived over time, not at once
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0


def test_serve_takes_its_auth_key_from_the_environment():
    key = "nvapi-cli-sentinel-0000"
    with serving(env={"NVNB_SERVER_KEY": key}) as (base_url, _):
        assert httpx.get(f"{base_url}/models").status_code == 401
        ok = httpx.get(f"{base_url}/models", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200


def test_serve_applies_a_server_wide_fault():
    with serving("--fault", "status=503;times=1") as (base_url, _):
        assert httpx.get(f"{base_url}/models").status_code == 503
        assert httpx.get(f"{base_url}/models").status_code == 200


def test_serve_refuses_a_bad_fault_spec_with_a_message():
    result = subprocess.run(
        [sys.executable, "-c", SERVE, "--port", "0", "--fault", "boom"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "unknown fault 'boom'" in result.stderr


def test_serve_fault_long_sets_the_answer_length_streamed_and_not():
    # through the console entry point (`nvnb serve ...`), as a user types it
    process = subprocess.Popen(
        [sys.executable, "-m", "nvnb", "serve", "--port", "0", "--fault", "long=1234"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        match = re.search(r"http://\S+/v1", process.stdout.readline())
        assert match
        url = f"{match.group(0)}/chat/completions"
        # max_tokens would cut the answer short; long=N overrides it
        body = chat_body("Hi", max_tokens=3)
        answer = httpx.post(url, json=body, timeout=10).json()
        assert len(answer["choices"][0]["message"]["content"]) == 1234
        text = []
        # a request carrying a fault header of its own keeps the server's long=N too
        headers = {"Accept": "text/event-stream", "X-NVNB-Fault": "chunk-delay-ms=0"}
        with httpx.stream(
            "POST", url, json={**body, "stream": True}, headers=headers, timeout=10
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    delta = json.loads(line[6:])["choices"][0]["delta"]
                    text.append(delta.get("content") or "")
        assert len("".join(text)) == 1234
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        process.stdout.close()
        process.stderr.close()
