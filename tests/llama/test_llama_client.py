"""nvnb's Client and AsyncClient against llama-server: JSON, streams and the model listing."""

from __future__ import annotations

from typing import Any

from llamatools import MODEL_ID, STOP

from nvnb.client import AsyncClient, Client


def body(text: str, **kw: Any) -> dict[str, Any]:
    return {
        "model": MODEL_ID,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 16,
        "temperature": 0.0,
        "stop": STOP,
        **kw,
    }


def test_the_listing_names_the_served_model_and_its_modalities(llama_server: Any) -> None:
    with Client(base_url=llama_server.base_url) as client:
        (item,) = client.list_models()
    assert item["id"] == MODEL_ID
    assert item["architecture"]["input_modalities"] == ["text"]


def test_chat_and_stream_chat(llama_server: Any) -> None:
    with Client(base_url=llama_server.base_url) as client:
        data = client.chat(body("What is the capital of France?"))
        assert "Paris" in data["choices"][0]["message"]["content"]
        with client.stream_chat(body("What is the capital of Germany?", stream=True)) as stream:
            pieces = [
                c["choices"][0]["delta"].get("content") or "" for c in stream if c.get("choices")
            ]
    assert "Berlin" in "".join(pieces) and len([p for p in pieces if p]) > 2


async def test_async_chat_and_stream(llama_server: Any) -> None:
    client = AsyncClient(base_url=llama_server.base_url)
    try:
        data = await client.chat(body("What is the capital of France?"))
        assert "Paris" in data["choices"][0]["message"]["content"]
        pieces = [
            c["choices"][0]["delta"].get("content") or ""
            async for c in client.stream_chat(body("What is the capital of Germany?", stream=True))
            if c.get("choices")
        ]
        assert "Berlin" in "".join(pieces)
    finally:
        await client.aclose()
