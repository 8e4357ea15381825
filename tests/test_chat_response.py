"""nvnb._response: chat completions and SSE chunks → LangChain messages."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk

from nvnb._response import StreamAssembler, parse_response, split_thinking
from nvnb.errors import StreamError


def _completion(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "choices": [{"message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        **extra,
    }


def _assemble(chunks: list[dict[str, Any]]) -> tuple[AIMessageChunk, list[AIMessageChunk]]:
    asm = StreamAssembler(model_id="m", request_id="req-1")
    out = [c for c in (asm.feed(d) for d in chunks) if c is not None] + [asm.finish()]
    full = out[0]
    for c in out[1:]:
        full = full + c
    return full, out


def _delta(**delta: Any) -> dict[str, Any]:
    return {"choices": [{"delta": delta, "finish_reason": None}]}


def test_a_completion_becomes_an_ai_message_with_metadata_and_usage() -> None:
    msg = parse_response(
        _completion({"role": "assistant", "content": "Hi"}), model_id="m", request_id="req-1"
    )
    assert msg.content == "Hi"
    assert msg.response_metadata == {
        "model_name": "m",
        "finish_reason": "stop",
        "request_id": "req-1",
    }
    assert msg.usage_metadata == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}


def test_reasoning_fields_and_think_tags_go_to_additional_kwargs() -> None:
    tagged = parse_response(
        _completion({"content": "<think>hmm</think>\n\nAnswer"}), model_id="m", request_id=None
    )
    assert tagged.content == "Answer"
    assert tagged.additional_kwargs["reasoning_content"] == "hmm"
    field = parse_response(
        _completion({"content": "A", "reasoning": "r"}), model_id="m", request_id=None
    )
    assert field.additional_kwargs == {"reasoning_content": "r", "reasoning": "r"}
    assert split_thinking("opened by template</think>answer") == ("opened by template", "answer")
    assert split_thinking("no tags") == ("", "no tags")


def test_tool_calls_are_parsed_and_bad_arguments_become_invalid_tool_calls() -> None:
    msg = parse_response(
        _completion(
            {
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "add", "arguments": '{"a": 1}'},
                    },
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "add", "arguments": "{oops"},
                    },
                ],
            }
        ),
        model_id="m",
        request_id=None,
    )
    assert msg.content == ""
    assert msg.tool_calls == [{"name": "add", "args": {"a": 1}, "id": "c1", "type": "tool_call"}]
    assert msg.invalid_tool_calls[0]["id"] == "c2"


def test_streamed_text_usage_and_metadata_add_up_once() -> None:
    full, chunks = _assemble(
        [
            {"model": "m", **_delta(role="assistant", content="Hel")},
            {"model": "m", **_delta(content="lo"), "usage": {"prompt_tokens": 1}},
            {"choices": [{"delta": {}, "finish_reason": "stop"}]},
            {
                "choices": [],
                "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4},
            },
        ]
    )
    assert full.content == "Hello"
    assert full.usage_metadata == {"input_tokens": 2, "output_tokens": 2, "total_tokens": 4}
    assert full.response_metadata == {
        "model_name": "m",
        "request_id": "req-1",
        "finish_reason": "stop",
    }
    assert chunks[-1].chunk_position == "last"


def test_streamed_think_tags_are_split_out_even_across_chunk_borders() -> None:
    pieces = ["<th", "ink>weigh", "ing</th", "ink>\n\nThe ans", "wer"]
    full, _ = _assemble([_delta(content=p) for p in pieces])
    assert full.content == "The answer"
    assert full.additional_kwargs["reasoning_content"] == "weighing"


def test_content_that_only_looks_like_a_tag_is_kept() -> None:
    full, _ = _assemble([_delta(content="<"), _delta(content="b>bold</b>")])
    assert full.content == "<b>bold</b>"


def test_streamed_reasoning_fields_accumulate() -> None:
    full, _ = _assemble(
        [_delta(reasoning_content="a"), _delta(reasoning_content="b"), _delta(content="c")]
    )
    assert full.additional_kwargs["reasoning_content"] == "ab" and full.content == "c"


def test_tool_call_chunks_are_assembled_when_split_without_index() -> None:
    full, _ = _assemble(
        [
            _delta(
                tool_calls=[
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "add", "arguments": '{"a": '},
                    }
                ]
            ),
            _delta(tool_calls=[{"function": {"arguments": "1}"}}]),
            _delta(tool_calls=[{"id": "c2", "function": {"name": "mul", "arguments": "{}"}}]),
        ]
    )
    assert [(c["name"], c["args"], c["id"]) for c in full.tool_calls] == [
        ("add", {"a": 1}, "c1"),
        ("mul", {}, "c2"),
    ]


def test_tool_call_chunks_with_repeated_ids_and_names_do_not_double() -> None:
    full, _ = _assemble(
        [
            _delta(
                tool_calls=[
                    {"index": 0, "id": "c1", "function": {"name": "add", "arguments": '{"a"'}}
                ]
            ),
            _delta(
                tool_calls=[
                    {"index": 0, "id": "c1", "function": {"name": "add", "arguments": ": 2}"}}
                ]
            ),
        ]
    )
    assert full.tool_calls == [{"name": "add", "args": {"a": 2}, "id": "c1", "type": "tool_call"}]


def test_an_error_inside_the_stream_raises_with_the_partial_text() -> None:
    asm = StreamAssembler(model_id="m", request_id="req-9")
    asm.feed(_delta(content="partial"))
    with pytest.raises(StreamError) as info:
        asm.feed({"error": {"object": "error", "message": "boom", "type": "internal_error"}})
    assert info.value.partial_text == "partial" and info.value.request_id == "req-9"


def test_the_partial_text_follows_every_chunk() -> None:
    asm = StreamAssembler(model_id="m", request_id=None)
    assert asm.text == ""
    asm.feed(_delta(content="<think>hm</think>An"))
    assert asm.text == "An"
    asm.feed(_delta(content="swer"))
    assert asm.text == "Answer"
    asm.feed(_delta(content=" and more"))
    asm.finish()
    assert asm.text == "Answer and more"
    asm.text = "reset"  # still settable
    assert asm.text == "reset"


def test_assembling_a_long_stream_takes_linear_time() -> None:
    """1 500 chunks of 2 500 characters (3.75 MB): linear is ~0.01 s; ``self.text += …`` on an
    attribute copies the whole text each time (~3 GB copied), seconds of CPU."""
    import time

    assembler = StreamAssembler(model_id="m", request_id=None)
    piece = "x" * 2_500
    chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
    started = time.process_time()
    for _ in range(1_500):
        assembler.feed(chunk)
    assert time.process_time() - started < 0.5
    assert len(assembler.text) == 3_750_000


def _general_only(chunks: list[dict[str, Any]]) -> list[AIMessageChunk]:
    asm = StreamAssembler(model_id="m", request_id="req-1")
    asm._plain_piece = lambda data: None  # type: ignore[method-assign]  # the general path alone
    return [c for c in (asm.feed(d) for d in chunks) if c is not None] + [asm.finish()]


def test_the_plain_chunk_shortcut_makes_the_chunks_the_general_path_makes() -> None:
    plain = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "a"}}]}
    streams = [
        [
            _delta(content="<think>"),
            _delta(content="why"),
            _delta(content="</think>"),
            _delta(content="answer"),
            _delta(content=" more"),
        ],
        [
            plain,
            plain,
            {"choices": [{"index": 0, "delta": {"content": "b"}, "finish_reason": "stop"}]},
        ],
        [plain, {"choices": [{"index": 1, "delta": {"content": "other"}}]}, plain],
        [plain, {"choices": [{"index": None, "delta": {"content": "c"}}]}, plain],
        [plain, _delta(content=""), _delta(role="assistant"), _delta(content="d", reasoning="r")],
        [plain, {**plain, "usage": {"prompt_tokens": 1, "completion_tokens": 2}}, plain],
        [
            plain,
            _delta(
                tool_calls=[{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{}"}}]
            ),
        ],
        [plain, {"choices": [plain["choices"][0], {"index": 1, "delta": {"content": "x"}}]}, plain],
        [plain, {"choices": [{"index": 0, "delta": {"content": "e", "refusal": "no"}}]}],
    ]
    for chunks in streams:
        asm = StreamAssembler(model_id="m", request_id="req-1")
        fast = [c for c in (asm.feed(d) for d in chunks) if c is not None] + [asm.finish()]
        assert fast == _general_only(chunks), chunks
        assert [c.model_dump() for c in fast] == [c.model_dump() for c in _general_only(chunks)]
