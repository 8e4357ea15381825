"""How ChatNVIDIA's answers become LangChain stream chunks: a whole (non-streamed) answer as one
closing chunk, and stream errors that keep the text received before them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from nvnb import _response as response
from nvnb.errors import RequestTimeout, StreamError, StreamInterrupted


class keep_partial_text:
    """Context manager: stream errors get the answer text received so far."""

    def __init__(self, assembler: response.StreamAssembler) -> None:
        self.assembler = assembler

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        if not isinstance(error, StreamError | StreamInterrupted | RequestTimeout):
            return
        # The transport's partial text reads the first entry of every chunk's choices, which
        # mixes choices when n > 1: the assembler keeps them apart by index.
        if not error.partial_text or len(self.assembler.texts) > 1:
            error.partial_text = self.assembler.text


def whole_as_chunks(
    result: ChatResult, run_manager: CallbackManagerForLLMRun | None
) -> Iterator[ChatGenerationChunk]:
    """A non-streamed result as one closing stream chunk."""
    message = result.generations[0].message
    assert isinstance(message, AIMessage)
    chunk = ChatGenerationChunk(
        message=AIMessageChunk(
            content=message.content,
            additional_kwargs=message.additional_kwargs,
            tool_call_chunks=[
                {
                    "name": c["name"],
                    "args": _json(c["args"]),
                    "id": c["id"],
                    "index": i,
                    "type": "tool_call_chunk",
                }
                for i, c in enumerate(message.tool_calls)
            ],
            usage_metadata=message.usage_metadata,
            response_metadata=message.response_metadata,
            chunk_position="last",
        )
    )
    if run_manager:
        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
    yield chunk


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
