"""Wire parity with the official ``langchain_nvidia_ai_endpoints.ChatNVIDIA`` (1.5.0).

Both models are pointed at the same local server; each case sends the same input through both and
compares the recorded request bodies and headers. Where nvnb sends something else on purpose, the
case says so in ``INTENDED`` below, with the reason; every other field must match exactly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import io
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from PIL import Image
from pydantic import BaseModel, Field

from nvnb import ChatNVIDIA

official = pytest.importorskip("langchain_nvidia_ai_endpoints")

KEY = "nvapi-parity-0123456789"
MODEL = "meta/llama-3.3-70b-instruct"

INTENDED = {
    "user-agent": "nvnb names itself (nvnb/<version>), not the official package",
    "x-billing-source": "billing attribution belongs to the official package; nvnb does not "
    "claim to be it",
    "labels": "the official 1.5.0 client sends labels as a top-level body field, which the "
    "service never read; nvnb sends the trailing {'role': 'assistant', 'labels': {...}} message "
    "that SteerLM models take (the tutorial's format)",
    "tool_calls without additional_kwargs": "the official client drops AIMessage.tool_calls "
    "unless additional_kwargs carries the raw calls, so a hand-written tool history loses its "
    "calls; nvnb sends them",
    "structured output fallbacks": "when the first answer does not parse, the official client "
    "sends up to two more requests (guided_json, nvext); nvnb sends one and raises a clear error",
}

# Headers both clients must agree on (the transports add others: encodings, connection, length).
COMPARED_HEADERS = ("accept", "content-type", "x-custom", "nvcf-input-asset-references")


class Joke(BaseModel):
    """A joke."""

    setup: str = Field(description="the question")
    punchline: str = Field(description="the answer")


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVIDIA_USAGE_TELEMETRY_ENABLED", "false")
    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    monkeypatch.delenv("NVIDIA_BASE_URL", raising=False)
    warnings.simplefilter("ignore")


def _pair(server: Any, **params: Any) -> tuple[Any, ChatNVIDIA]:
    params = {"model": MODEL, "api_key": KEY, "base_url": server.base_url, **params}
    return official.ChatNVIDIA(**params), ChatNVIDIA(**params)


def _sent(server: Any, run: Callable[[], Any]) -> list[Any]:
    server.clear()
    with contextlib.suppress(Exception):  # a parse failure after the request still counts
        run()
    return [r for r in server.requests if r.method == "POST"]


def _compare(server: Any, theirs: Callable[[], Any], ours: Callable[[], Any]) -> tuple[dict, dict]:
    a, b = _sent(server, theirs), _sent(server, ours)
    assert a and b, "both clients must send a request"
    assert a[0].path == b[0].path
    assert a[0].has_auth and b[0].has_auth
    for name in COMPARED_HEADERS:
        assert a[0].headers.get(name) == b[0].headers.get(name), name
    return a[0].json, b[0].json


def _png_uri() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _same(server: Any, call: Callable[[Any], Any], **params: Any) -> None:
    theirs, ours = _pair(server, **params)
    a, b = _compare(server, lambda: call(theirs), lambda: call(ours))
    assert a == b


def test_invoke_bodies_match(nvnb_server: Any) -> None:
    _same(nvnb_server, lambda m: m.invoke("Hello"))


def test_stream_bodies_match(nvnb_server: Any) -> None:
    _same(nvnb_server, lambda m: list(m.stream("Hello")))


def test_async_bodies_match(nvnb_server: Any) -> None:
    _same(nvnb_server, lambda m: asyncio.run(m.ainvoke("Hello")))


def test_sampling_parameters_and_model_kwargs_match(nvnb_server: Any) -> None:
    _same(
        nvnb_server,
        lambda m: m.invoke("Hi", stop=["\n"]),
        temperature=0.3,
        top_p=0.9,
        seed=7,
        max_completion_tokens=50,
        stop=["END"],
        frequency_penalty=0.5,
    )


def test_default_headers_are_sent_by_both(nvnb_server: Any) -> None:
    _same(nvnb_server, lambda m: m.invoke("Hi"), default_headers={"X-Custom": "yes"})


def test_conversations_with_system_and_assistant_turns_match(nvnb_server: Any) -> None:
    turns = [
        SystemMessage("Be brief."),
        HumanMessage("Hi"),
        AIMessage("Hello!"),
        HumanMessage("Again"),
    ]
    _same(nvnb_server, lambda m: m.invoke(turns))


@pytest.mark.parametrize("choice", [None, "auto", "any", True, "add", "none"])
def test_tool_binding_matches(nvnb_server: Any, choice: Any) -> None:
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    _same(nvnb_server, lambda m: m.bind_tools([add], tool_choice=choice).invoke("add 1 and 2"))


def test_tool_histories_from_the_service_match(nvnb_server: Any) -> None:
    raw = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
        }
    ]
    turns = [
        HumanMessage("add 1 and 2"),
        AIMessage(
            "",
            additional_kwargs={"tool_calls": raw},
            tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "call_1"}],
        ),
        ToolMessage("3", tool_call_id="call_1"),
    ]
    _same(nvnb_server, lambda m: m.invoke(turns))


def test_image_parts_match_for_chat_and_nv_vlm_models(nvnb_server: Any) -> None:
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": _png_uri(), "detail": "low"}},
    ]
    _same(nvnb_server, lambda m: m.invoke([HumanMessage(content)]))
    _same(nvnb_server, lambda m: m.invoke([HumanMessage(content)]), model="google/paligemma")
    _same(nvnb_server, lambda m: list(m.stream([HumanMessage(content)])), model="google/paligemma")


def test_standard_image_blocks_match(nvnb_server: Any) -> None:
    b64 = _png_uri().split(",", 1)[1]
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image", "base64": b64, "mime_type": "image/png"},
    ]
    _same(nvnb_server, lambda m: m.invoke([HumanMessage(content)]))


def test_inline_img_tags_match(nvnb_server: Any) -> None:
    _same(nvnb_server, lambda m: m.invoke(f'What is this?\n<img src="{_png_uri()}" />'))


@pytest.mark.parametrize("schema", [Joke, Joke.model_json_schema(), Colour])
def test_structured_output_first_request_matches(nvnb_server: Any, schema: Any) -> None:
    theirs, ours = _pair(nvnb_server)
    a = _sent(nvnb_server, lambda: theirs.with_structured_output(schema).invoke("a joke"))
    b = _sent(nvnb_server, lambda: ours.with_structured_output(schema).invoke("a joke"))
    assert len(b) == 1  # INTENDED["structured output fallbacks"]
    assert a[0].json == b[0].json


def test_thinking_mode_matches(nvnb_server: Any) -> None:
    _same(
        nvnb_server,
        lambda m: m.with_thinking_mode(True).invoke("Hi"),
        model="deepseek-ai/deepseek-v3.1",
    )
    _same(
        nvnb_server,
        lambda m: m.with_thinking_mode(False).invoke("Hi"),
        model="nvidia/llama-3.3-nemotron-super-49b-v1",
    )


def test_labels_differ_as_intended(nvnb_server: Any) -> None:
    labels = {"creativity": 1, "complexity": 2, "verbosity": 3}
    theirs, ours = _pair(nvnb_server, model="nvidia/nemotron-steerlm-8b")
    a, b = _compare(
        nvnb_server,
        lambda: theirs.invoke("PB&J?", labels=labels),
        lambda: ours.invoke("PB&J?", labels=labels),
    )
    assert a.pop("labels") == labels  # INTENDED["labels"]
    assert b["messages"].pop() == {"role": "assistant", "labels": labels}
    assert a == b


def test_hand_written_tool_calls_differ_as_intended(nvnb_server: Any) -> None:
    turns = [
        HumanMessage("add"),
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1}, "id": "call_1"}]),
        ToolMessage("1", tool_call_id="call_1"),
    ]
    theirs, ours = _pair(nvnb_server)
    a, b = _compare(nvnb_server, lambda: theirs.invoke(turns), lambda: ours.invoke(turns))
    assert "tool_calls" not in a["messages"][1]  # INTENDED["tool_calls without ..."]
    assert b["messages"][1].pop("tool_calls")[0]["function"]["name"] == "add"
    assert b["messages"][1]["content"] is None  # content of a tool-call turn, as both send it
    b["messages"][1]["content"] = ""
    assert a == b


def test_only_the_listed_headers_differ(nvnb_server: Any) -> None:
    theirs, ours = _pair(nvnb_server)
    a, b = (
        _sent(nvnb_server, lambda: theirs.invoke("Hi")),
        _sent(nvnb_server, lambda: ours.invoke("Hi")),
    )
    transport = {"host", "accept-encoding", "connection", "content-length"}
    differing = {
        k
        for k in set(a[0].headers) | set(b[0].headers)
        if k not in transport and a[0].headers.get(k) != b[0].headers.get(k)
    }
    assert differing <= set(INTENDED), differing
