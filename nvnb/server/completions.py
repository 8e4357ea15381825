"""Chat completion objects: the JSON answer and the stream of chunks, from engine answers.

Both count tokens with :mod:`nvnb.server.tokens`, so ``usage`` is the same either way. The
shapes follow OpenAI's published schema (``CreateChatCompletionResponse`` and
``CreateChatCompletionStreamResponse``): ``message.refusal`` is always present, streamed
chunks carry ``"usage": null`` when usage was asked for, one choice per answer (``n``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from nvnb.server import tokens
from nvnb.server.conversation import Conversation
from nvnb.server.engines import Answer

TOOL_ARGUMENT_PIECES = 3  # streamed tool arguments arrive split over this many chunks


def usage(conv: Conversation, answers: list[Answer]) -> dict[str, int]:
    """Token counts: each turn's text plus one per turn; everything the answers hold."""
    prompt = sum(tokens.count(t.text) + 1 for t in conv.turns)
    completion = 0
    for answer in answers:
        completion += tokens.count(answer.content) + tokens.count(answer.reasoning or "")
        completion += tokens.count(answer.refusal or "")
        for call in answer.tool_calls:
            completion += tokens.count(call["function"]["name"] + call["function"]["arguments"])
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion(answers: list[Answer], model_id: str, counts: dict[str, int]) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` object: one choice per answer."""
    return {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": [
            {
                "index": i,
                "message": _message(answer),
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
            for i, answer in enumerate(answers)
        ],
        "usage": counts,
    }


def _message(answer: Answer) -> dict[str, Any]:
    # OpenAI's schema requires ``content`` and ``refusal`` (null when there is none).
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if answer.tool_calls or answer.refusal else answer.content,
        "refusal": answer.refusal,
    }
    if answer.reasoning is not None:
        message["reasoning_content"] = answer.reasoning
    if answer.tool_calls:
        message["tool_calls"] = answer.tool_calls
    return message


def chunks(
    answers: list[Answer], model_id: str, counts: dict[str, int], include_usage: bool
) -> tuple[list[dict], list[dict]]:
    """(content chunks, closing chunks) of a stream; faults count only the first list.

    Several answers (``n`` > 1) interleave: one chunk of each choice in turn, each chunk
    carrying one choice, as OpenAI streams them. With ``include_usage`` every chunk has
    ``"usage": null`` but the last, whose ``choices`` is empty.
    """
    ident, created = _completion_id(), int(time.time())

    def chunk(index: int, delta: dict, finish: str | None = None) -> dict:
        out = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model_id,
            "choices": [
                {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
            ],
        }
        if include_usage:
            out["usage"] = None
        return out

    streams = [_deltas(answer) for answer in answers]
    body: list[dict] = []
    for position in range(max(len(deltas) for deltas in streams)):
        for index, deltas in enumerate(streams):
            if position < len(deltas):
                body.append(chunk(index, deltas[position]))
    closing = [chunk(i, {}, answer.finish_reason) for i, answer in enumerate(answers)]
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


def _deltas(answer: Answer) -> list[dict]:
    """The deltas of one choice, the first one carrying the role."""
    deltas: list[dict] = [{"reasoning_content": p} for p in tokens.chunks(answer.reasoning or "")]
    for i, call in enumerate(answer.tool_calls):
        head = {
            "index": i,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        deltas.append({"tool_calls": [head]})
        for piece in _split(call["function"]["arguments"], TOOL_ARGUMENT_PIECES):
            deltas.append({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    if answer.refusal:
        deltas.extend({"refusal": piece} for piece in tokens.chunks(answer.refusal))
    elif not answer.tool_calls:
        deltas.extend({"content": piece} for piece in tokens.chunks(answer.content))
    if deltas:
        deltas[0] = {"role": "assistant", **deltas[0]}
    else:
        deltas.append({"role": "assistant", "content": ""})
    return deltas


def _split(text: str, n: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
