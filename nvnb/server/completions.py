"""Chat completion objects: the JSON answer and the stream of chunks, from one :class:`Answer`.

Both count tokens with :mod:`nvnb.server.tokens`, so ``usage`` is the same either way.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from nvnb.server import tokens
from nvnb.server.conversation import Conversation
from nvnb.server.engines import Answer

TOOL_ARGUMENT_PIECES = 3  # streamed tool arguments arrive split over this many chunks


def usage(conv: Conversation, answer: Answer) -> dict[str, int]:
    """Token counts: each turn's text plus one per turn; everything the answer holds."""
    prompt = sum(tokens.count(t.text) + 1 for t in conv.turns)
    completion = tokens.count(answer.content) + tokens.count(answer.reasoning or "")
    for call in answer.tool_calls:
        completion += tokens.count(call["function"]["name"] + call["function"]["arguments"])
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion(answer: Answer, model_id: str, counts: dict[str, int]) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` object."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if answer.tool_calls else answer.content,
    }
    if answer.reasoning is not None:
        message["reasoning_content"] = answer.reasoning
    if answer.tool_calls:
        message["tool_calls"] = answer.tool_calls
    return {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": counts,
    }


def chunks(
    answer: Answer, model_id: str, counts: dict[str, int], include_usage: bool
) -> tuple[list[dict], list[dict]]:
    """(content chunks, closing chunks) of a stream; faults count only the first list."""
    ident, created = _completion_id(), int(time.time())

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model_id,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    body: list[dict] = []
    for piece in tokens.chunks(answer.reasoning or ""):
        body.append(chunk({"reasoning_content": piece}))
    for i, call in enumerate(answer.tool_calls):
        head = {
            "index": i,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        body.append(chunk({"tool_calls": [head]}))
        for piece in _split(call["function"]["arguments"], TOOL_ARGUMENT_PIECES):
            body.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    if not answer.tool_calls:
        body.extend(chunk({"content": piece}) for piece in tokens.chunks(answer.content))
    if body:
        body[0]["choices"][0]["delta"] = {"role": "assistant", **body[0]["choices"][0]["delta"]}
    else:
        body.append(chunk({"role": "assistant", "content": ""}))
    closing = [chunk({}, answer.finish_reason)]
    if include_usage:
        closing.append(
            {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model_id,
                "choices": [],
                "usage": counts,
            }
        )
    return body, closing


def _split(text: str, n: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
