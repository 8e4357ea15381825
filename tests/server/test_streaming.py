"""SSE: `data: …` events, token-sized chunks, the usage chunk, `[DONE]`, split tool calls."""

from __future__ import annotations

import json

from server_helpers import chat_body, sse_events, stream_chunks, streamed_text

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather at a place",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def test_a_stream_is_data_events_ending_with_done(http):
    payloads = sse_events(http, "/v1/chat/completions", chat_body(stream=True))
    assert payloads[-1] == "[DONE]"
    for payload in payloads[:-1]:
        assert json.loads(payload)["object"] == "chat.completion.chunk"


def test_chunks_are_token_sized_and_the_first_carries_the_role(http):
    chunks = stream_chunks(http, chat_body("Hello"))
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0]["role"] == "assistant"
    pieces = [d["content"] for d in deltas if d.get("content")]
    assert len(pieces) > 10
    assert all(len(p.strip()) <= 30 for p in pieces)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_usage_arrives_in_a_last_chunk_without_choices_only_when_asked(http):
    asked = stream_chunks(http, chat_body(stream_options={"include_usage": True}))
    assert asked[-1]["choices"] == [] and asked[-1]["usage"]["total_tokens"] > 0
    plain = stream_chunks(http, chat_body())
    assert all(c["choices"] for c in plain) and "usage" not in plain[-1]


def test_streamed_text_equals_the_json_answer(http):
    text = http.post("/v1/chat/completions", json=chat_body("Same?")).json()
    assert (
        streamed_text(stream_chunks(http, chat_body("Same?")))
        == (text["choices"][0]["message"]["content"])
    )


def test_streamed_tool_calls_are_split_across_chunks(http):
    body = chat_body("What is the weather in Paris?", tools=[TOOL])
    chunks = stream_chunks(http, body)
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
    ]
    assert len(calls) >= 3
    assert calls[0]["id"].startswith("call_") and calls[0]["function"]["name"] == "get_weather"
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert json.loads(arguments) == {"location": "Paris"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_chunk_delay_slows_each_chunk(http):
    import time

    began = time.monotonic()
    chunks = stream_chunks(
        http, chat_body("Hi", max_tokens=5), headers={"X-NVNB-Fault": "chunk-delay-ms=40"}
    )
    assert len(chunks) >= 5
    assert time.monotonic() - began >= 0.2


def test_streams_work_on_the_vlm_route_too(http):
    chunks = stream_chunks(
        http, {"messages": [{"role": "user", "content": "Hi"}]}, path="/v1/vlm/nvidia/neva-22b"
    )
    assert streamed_text(chunks)
