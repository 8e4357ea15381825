"""The contenders, built the same way in every section.

- the floor: bare httpx, one pooled client, parsing JSON or SSE lines by hand;
- nvnb: ``nvnb.Client`` (the transport) and ``nvnb.ChatNVIDIA`` (the LangChain model);
- the official package: ``langchain_nvidia_ai_endpoints.ChatNVIDIA`` pointed at the same server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from bench.servers import CHAT_MODEL, FAKE_KEY

PROMPT = "Say hello to the benchmark."
AUTH = {"Authorization": f"Bearer {FAKE_KEY}"}


def payload(
    *, stream: bool, model: str = CHAT_MODEL, prompt: str = PROMPT, max_tokens: int | None = 64
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "stream": stream,
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


def bare_sse_contents(lines: Iterator[str]) -> Iterator[str]:
    """The floor's SSE loop: ``data:`` lines to content deltas, nothing else."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        choices = json.loads(data).get("choices") or ()
        for choice in choices:
            content = (choice.get("delta") or {}).get("content")
            if content:
                yield content


def nvnb_client(base_url: str) -> Any:
    from nvnb.client import Client

    return Client(api_key=FAKE_KEY, base_url=base_url)


def nvnb_async_client(base_url: str, **kwargs: Any) -> Any:
    from nvnb.client import AsyncClient

    return AsyncClient(api_key=FAKE_KEY, base_url=base_url, **kwargs)


def nvnb_chat(base_url: str, **kwargs: Any) -> Any:
    from nvnb.chat import ChatNVIDIA

    kwargs.setdefault("model", CHAT_MODEL)
    return ChatNVIDIA(base_url=base_url, api_key=FAKE_KEY, **kwargs)


def official_chat(base_url: str, **kwargs: Any) -> Any:
    from langchain_nvidia_ai_endpoints import ChatNVIDIA

    kwargs.setdefault("model", CHAT_MODEL)
    return ChatNVIDIA(base_url=base_url, api_key=FAKE_KEY, usage_telemetry_enabled=False, **kwargs)


def chunk_text(chunk: Any) -> str:
    """Text of a streamed item, whichever contender produced it."""
    if isinstance(chunk, str):
        return chunk
    content = getattr(chunk, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(chunk, dict):
        choices = chunk.get("choices") or ()
        return "".join((c.get("delta") or {}).get("content") or "" for c in choices)
    return ""
