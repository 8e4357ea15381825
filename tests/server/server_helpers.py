"""Plain-httpx helpers for the server tests (never nvnb's own client)."""

from __future__ import annotations

import json
from typing import Any

import httpx

CHAT_MODEL = "meta/llama-3.1-8b-instruct"


def chat_body(text: str = "Hello", model: str = CHAT_MODEL, **extra: Any) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def sse_events(client: httpx.Client, path: str, body: dict, **kw: Any) -> list[str]:
    """The raw ``data:`` payloads of a streamed answer, checking the event framing."""
    with client.stream("POST", path, json=body, **kw) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == ""
    payloads = []
    for event in events[:-1]:
        assert event.startswith("data: "), event
        payloads.append(event[len("data: ") :])
    return payloads


def stream_chunks(
    client: httpx.Client, body: dict, path: str = "/v1/chat/completions", **kw: Any
) -> list[dict]:
    payloads = sse_events(client, path, {**body, "stream": True}, **kw)
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]]


def streamed_text(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
