"""ChatNVIDIA against llama.cpp's llama-server: invoke, stream, batch, async, stop, max_tokens,
multi-turn, structured output, and the server killed mid-stream.

The model is a 270M base model behind a completion-style template: short factual questions get
short right answers at temperature 0; ``STOP`` and small ``max_tokens`` keep each call fast.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from llamatools import MODEL_ID, STOP, LlamaServer
from pydantic import BaseModel, Field

from nvnb import ChatNVIDIA
from nvnb import errors as E


def llm(server: Any, **kw: Any) -> ChatNVIDIA:
    options: dict[str, Any] = {"max_tokens": 16, "temperature": 0.0, "stop": STOP, **kw}
    return ChatNVIDIA(model=MODEL_ID, base_url=server.base_url, **options)


def test_invoke_answers_with_the_servers_model_and_usage(llama_server: Any) -> None:
    msg = llm(llama_server).invoke("What is the capital of France?")
    assert "Paris" in msg.content
    assert msg.response_metadata["model_name"] == MODEL_ID
    assert msg.response_metadata["finish_reason"] == "stop"
    usage = msg.usage_metadata
    assert usage is not None and usage["output_tokens"] > 0 and usage["input_tokens"] > 5


def test_stream_arrives_in_pieces_and_adds_up(llama_server: Any) -> None:
    chunks = list(llm(llama_server).stream("What is the capital of Germany?"))
    text = "".join(str(c.content) for c in chunks)
    assert "Berlin" in text
    assert sum(1 for c in chunks if c.content) > 2
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0


def test_batch_answers_each_question(llama_server: Any) -> None:
    answers = llm(llama_server).batch(
        ["What is the capital of France?", "What is the capital of Germany?"]
    )
    assert "Paris" in answers[0].content and "Berlin" in answers[1].content


async def test_async_invoke_and_stream(llama_server: Any) -> None:
    model = llm(llama_server)
    msg = await model.ainvoke("What is the capital of France?")
    assert "Paris" in msg.content
    text = "".join([str(c.content) async for c in model.astream("What is the capital of Germany?")])
    assert "Berlin" in text


def test_a_stop_sequence_cuts_the_answer_before_it(llama_server: Any) -> None:
    full = llm(llama_server).invoke("What is the capital of Germany?").content
    assert "Berlin" in full
    cut = llm(llama_server).invoke("What is the capital of Germany?", stop=["Berlin", *STOP])
    assert "Berlin" not in cut.content and full.startswith(cut.content)
    assert cut.response_metadata["finish_reason"] == "stop"


def test_max_tokens_bounds_the_answer_and_says_length(llama_server: Any) -> None:
    msg = llm(llama_server, max_tokens=3, stop=None).invoke("Tell me about Paris.")
    assert msg.response_metadata["finish_reason"] == "length"
    assert msg.usage_metadata is not None and msg.usage_metadata["output_tokens"] == 3


def test_multi_turn_remembers_the_conversation(llama_server: Any) -> None:
    history = [
        HumanMessage("My name is Ada."),
        AIMessage("Nice to meet you, Ada."),
        HumanMessage("What is my name?"),
    ]
    assert "Ada" in llm(llama_server).invoke(history).content


class Legs(BaseModel):
    """How many legs an animal has."""

    legs: int = Field(ge=0, le=100)


def test_structured_output_with_a_json_schema(llama_server: Any) -> None:
    out = (
        llm(llama_server, max_tokens=24)
        .with_structured_output(Legs)
        .invoke("How many legs does a dog have?")
    )
    assert isinstance(out, Legs) and 0 <= out.legs <= 100


def test_the_server_killed_mid_stream_keeps_the_partial_text(
    llama_binary: tuple[str, str, str | None],
) -> None:
    binary, model, _ = llama_binary
    with LlamaServer(binary, model) as server:
        stream = llm(server, max_tokens=400, stop=None, max_retries=0).stream(
            "Write a long story about a dragon."
        )
        received = ""
        with pytest.raises(E.StreamInterrupted) as caught:
            for chunk in stream:
                received += str(chunk.content)
                if len(received) > 20 and server.pid is not None:
                    server.kill()
    err = caught.value
    assert err.partial_text and err.partial_text.startswith(received[:20])
    assert "partial_text" in str(err)
