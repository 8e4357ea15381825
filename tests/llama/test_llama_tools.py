"""Tool calling against llama-server with llama.cpp's Gemma 4 template (the one template that
makes it emit ``tool_calls``): bound tools, ``with_structured_output(method="function_calling")``
and a call cut at ``max_tokens`` that must not be sent back.

The base model fills a tool's arguments with the tool's own schema, so these tests check what
nvnb does with real calls, not that the model chose good arguments.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, ToolMessage
from llamatools import MODEL_ID
from pydantic import BaseModel

from nvnb import ChatNVIDIA


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def clock() -> str:
    """The time."""
    return "noon"


def llm(server: Any, **kw: Any) -> ChatNVIDIA:
    options: dict[str, Any] = {"max_tokens": 60, "temperature": 0.0, "max_retries": 0, **kw}
    return ChatNVIDIA(model=MODEL_ID, base_url=server.base_url, **options)


def test_a_required_tool_comes_back_as_a_parsed_tool_call(llama_tools_server: Any) -> None:
    # A tool without parameters: the model echoes a tool's schema as its arguments, and a short
    # schema keeps the call short.
    msg = (
        llm(llama_tools_server)
        .bind_tools([clock], tool_choice="required")
        .invoke("What time is it?")
    )
    assert [c["name"] for c in msg.tool_calls] == ["clock"]
    assert isinstance(msg.tool_calls[0]["args"], dict) and msg.tool_calls[0]["id"]


class Weather(BaseModel):
    """A weather report."""

    # What this base model puts in a call: the tool's own description and parameters.
    description: Any = None
    parameters: Any = None


def test_structured_output_by_function_calling_gets_a_tool_call(llama_tools_server: Any) -> None:
    # With tool_choice naming the function (an object), llama.cpp fell back to "auto" and the
    # model answered in text: no tool call to parse. "required" is honoured.
    structured = llm(llama_tools_server).with_structured_output(
        Weather, method="function_calling", include_raw=True
    )
    out = structured.invoke("Report the weather in Paris.")
    assert out["parsing_error"] is None, out["raw"]
    assert out["raw"].tool_calls[0]["name"] == "Weather"
    assert isinstance(out["parsed"], Weather)


def test_a_tool_call_cut_at_max_tokens_is_not_sent_back(llama_tools_server: Any) -> None:
    model = llm(llama_tools_server, max_tokens=30).bind_tools([get_weather], tool_choice="auto")
    question = HumanMessage("What is the weather in Rome? Use get_weather.")
    cut = (
        llm(llama_tools_server, max_tokens=30)
        .bind_tools([get_weather], tool_choice="required")
        .invoke([question])
    )
    assert cut.invalid_tool_calls and not cut.tool_calls  # unparsable arguments
    call_id = cut.invalid_tool_calls[0]["id"]
    follow_up = [
        question,
        cut,
        ToolMessage("error: the arguments were cut off", tool_call_id=call_id),
        HumanMessage("What is the capital of France?"),
    ]
    # Sent back verbatim, llama.cpp answered 500 "Failed to parse tool call arguments as JSON".
    answer = model.invoke(follow_up, max_tokens=8)
    assert answer.response_metadata["finish_reason"] in ("stop", "length", "tool_calls")
