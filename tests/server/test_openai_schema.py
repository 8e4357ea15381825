"""``nvnb serve`` answers as OpenAI's published schema says, checked three ways.

1. Raw JSON validated with ``jsonschema`` against ``CreateChatCompletionResponse`` and
   ``CreateChatCompletionStreamResponse``, extracted from OpenAI's OpenAPI description into
   ``data/openai_chat_completion_schema.json`` (source, commit and MIT licence in its
   ``$comment``). Required fields and nullability as the spec says; fields the spec does not
   name must be NIM's documented extensions (``reasoning_content``), nothing else.
2. The real ``openai`` client, including its stream accumulator (``chat.completions.stream``),
   which checks the chunks' consistency as it builds the final completion.
3. ``langchain-openai``'s ``ChatOpenAI``, pointed at the local server.

Chosen because they are the reference implementations of the wire format NIM follows; our own
client is not used here, so a shared misunderstanding cannot hide.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import langchain_openai
import openai
import pytest
from server_helpers import CHAT_MODEL, chat_body, stream_chunks

SCHEMA = json.loads(
    (Path(__file__).parent / "data" / "openai_chat_completion_schema.json").read_text()
)
# Fields NIM adds to OpenAI's shapes (see WIRE.md): allowed where the spec says nothing.
NIM_EXTENSIONS = {"reasoning_content"}
THINKING_MODEL = "nvidia/llama-3.1-nemotron-nano-8b-v1"
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CASES = {
    "plain": chat_body("Hello there"),
    "tools": chat_body("What is the weather in 'Paris'?", tools=[TOOL], tool_choice="required"),
    "reasoning": {
        "model": THINKING_MODEL,
        "messages": [
            {"role": "system", "content": "detailed thinking on"},
            {"role": "user", "content": "Why is the sky blue?"},
        ],
    },
    "n=3": chat_body("Name a colour", n=3),
    "max_tokens": chat_body("Hello there", max_tokens=3),
    "json_schema": chat_body(
        "Alice is 30",
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "person",
                "schema": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                },
            },
        },
    ),
}


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = {**SCHEMA, "$ref": f"#/$defs/{name}"}
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


RESPONSE = _validator("CreateChatCompletionResponse")
CHUNK = _validator("CreateChatCompletionStreamResponse")


def _strictly_valid(validator: jsonschema.Draft202012Validator, instance: Any) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    unknown = _unknown_fields(validator.schema, instance, SCHEMA["$defs"])
    assert unknown <= NIM_EXTENSIONS, f"fields the schema does not name: {unknown - NIM_EXTENSIONS}"


def _unknown_fields(schema: dict, instance: Any, defs: dict) -> set[str]:
    """Names of object members that no applicable ``properties`` in the schema declares."""
    if "$ref" in schema:
        schema = {
            **defs[schema["$ref"].split("/")[-1]],
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    found: set[str] = set()
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            if not list(
                jsonschema.Draft202012Validator({**sub, "$defs": defs}).iter_errors(instance)
            ):
                found |= _unknown_fields(sub, instance, defs)
                if key != "allOf":
                    break
    if isinstance(instance, dict) and "properties" in schema:
        props = schema["properties"]
        found |= {k for k in instance if k not in props}
        for k, v in instance.items():
            if k in props:
                found |= _unknown_fields(props[k], v, defs)
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            found |= _unknown_fields(schema["items"], item, defs)
    return found


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_non_streamed_answer_validates_against_openais_schema(http: Any, case: str) -> None:
    response = http.post("/v1/chat/completions", json=CASES[case])
    assert response.status_code == 200, response.text
    data = response.json()
    _strictly_valid(RESPONSE, data)
    for choice in data["choices"]:
        assert "refusal" in choice["message"] and choice["message"]["refusal"] is None


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_streamed_chunk_validates_and_usage_is_null_until_the_last(
    http: Any, case: str
) -> None:
    chunks = stream_chunks(http, {**CASES[case], "stream_options": {"include_usage": True}})
    for chunk in chunks:
        _strictly_valid(CHUNK, chunk)
    *body, last = chunks
    assert all("usage" in c and c["usage"] is None for c in body)
    assert last["choices"] == [] and last["usage"]["total_tokens"] > 0
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1


def test_without_include_usage_no_chunk_carries_usage(http: Any) -> None:
    chunks = stream_chunks(http, chat_body("Hello"))
    assert all("usage" not in c for c in chunks) and all(c["choices"] for c in chunks)
    for chunk in chunks:
        _strictly_valid(CHUNK, chunk)


def test_a_refusal_validates_with_null_content(http: Any) -> None:
    fault = {"X-NVNB-Fault": "refusal"}
    data = http.post("/v1/chat/completions", json=chat_body("no"), headers=fault).json()
    _strictly_valid(RESPONSE, data)
    message = data["choices"][0]["message"]
    assert message["content"] is None and message["refusal"].startswith("I'm sorry")
    chunks = stream_chunks(http, chat_body("no"), headers=fault)
    for chunk in chunks:
        _strictly_valid(CHUNK, chunk)
    streamed = "".join(c["choices"][0]["delta"].get("refusal") or "" for c in chunks)
    assert streamed == message["refusal"]
    assert not any(c["choices"][0]["delta"].get("content") for c in chunks)


def test_n_streamed_choices_interleave_one_choice_per_chunk(http: Any) -> None:
    chunks = stream_chunks(http, chat_body("Name a colour", n=3))
    order = [c["choices"][0]["index"] for c in chunks]
    assert all(len(c["choices"]) == 1 for c in chunks)
    assert order[:6] == [0, 1, 2, 0, 1, 2]
    texts = {
        i: "".join(
            c["choices"][0]["delta"].get("content") or ""
            for c in chunks
            if c["choices"][0]["index"] == i
        )
        for i in range(3)
    }
    whole = http.post("/v1/chat/completions", json=chat_body("Name a colour", n=3)).json()
    assert texts == {c["index"]: c["message"]["content"] for c in whole["choices"]}
    assert len(set(texts.values())) == 3


def test_n_out_of_range_is_rejected_like_a_validation_error(http: Any) -> None:
    for bad in (0, 17, "2", True):
        response = http.post("/v1/chat/completions", json=chat_body("x", n=bad))
        assert response.status_code == 422 and "body -> n" in response.json()["detail"]


# ---------------------------------------------------------------- the openai client


@pytest.fixture
def openai_client(nvnb_server: Any) -> Any:
    with openai.OpenAI(base_url=nvnb_server.base_url, api_key="unused", max_retries=0) as client:
        yield client


def test_the_openai_client_reads_answers_choices_and_refusals(openai_client: Any) -> None:
    done = openai_client.chat.completions.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": "Hello"}], n=2
    )
    assert [c.index for c in done.choices] == [0, 1]
    assert done.choices[0].message.refusal is None and done.choices[0].message.content
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    refused = openai_client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "no"}],
        extra_headers={"X-NVNB-Fault": "refusal"},
    )
    assert refused.choices[0].message.content is None
    assert refused.choices[0].message.refusal.startswith("I'm sorry")


def test_the_openai_stream_accumulator_rebuilds_every_choice(openai_client: Any) -> None:
    messages = [{"role": "user", "content": "Weather in 'Oslo'?"}]
    with openai_client.chat.completions.stream(
        model=CHAT_MODEL, messages=messages, n=2, stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()
    whole = openai_client.chat.completions.create(model=CHAT_MODEL, messages=messages, n=2)
    assert [c.message.content for c in final.choices] == [c.message.content for c in whole.choices]
    assert final.usage is not None and final.usage.total_tokens == whole.usage.total_tokens
    with openai_client.chat.completions.stream(
        model=CHAT_MODEL, messages=messages, tools=[TOOL], tool_choice="required"
    ) as stream:
        call = stream.get_final_completion().choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)


def test_the_openai_client_sees_the_410_of_a_retired_model(openai_client: Any) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        openai_client.chat.completions.create(
            model=CHAT_MODEL,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-NVNB-Fault": "status=410"},
        )
    assert info.value.status_code == 410
    assert "has reached its end of life" in info.value.response.json()["detail"]


# ---------------------------------------------------------------- langchain-openai


def _chat_openai(server: Any, **kw: Any) -> Any:
    return langchain_openai.ChatOpenAI(
        model=CHAT_MODEL, base_url=server.base_url, api_key="unused", max_retries=0, **kw
    )


def test_chat_openai_invokes_streams_and_returns_n_generations(nvnb_server: Any) -> None:
    from langchain_core.messages import HumanMessage

    llm = _chat_openai(nvnb_server)
    answer = llm.invoke("Hello")
    streamed = "".join(str(c.content) for c in llm.stream("Hello"))
    assert answer.content and streamed == answer.content
    assert answer.usage_metadata["total_tokens"] > 0
    several = _chat_openai(nvnb_server, n=3).generate([[HumanMessage("Hello")]])
    assert len({g.text for g in several.generations[0]}) == 3


def test_chat_openai_keeps_a_refusal_and_reads_tool_calls(nvnb_server: Any) -> None:
    refused = _chat_openai(nvnb_server, default_headers={"X-NVNB-Fault": "refusal"}).invoke("no")
    assert refused.additional_kwargs["refusal"].startswith("I'm sorry")
    tooled = _chat_openai(nvnb_server).bind_tools([TOOL], tool_choice="required")
    call = tooled.invoke("Weather in 'Paris'?").tool_calls[0]
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"}


def test_the_schema_file_names_its_source_and_licence() -> None:
    comment = SCHEMA["$comment"]
    assert "github.com/openai/openai-openapi" in comment and "MIT" in comment
    assert {"CreateChatCompletionResponse", "CreateChatCompletionStreamResponse"} <= set(
        SCHEMA["$defs"]
    )
    # The schema really is strict where it matters: a message without refusal is invalid.
    bad = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": "hi"},
            }
        ],
    }
    assert not RESPONSE.is_valid(bad)
    bad["choices"][0]["message"]["refusal"] = None
    assert RESPONSE.is_valid(bad)
