"""Tool calls and structured output: chosen by general rules, filled from the turn's values."""

from __future__ import annotations

import json

import pytest
from server_helpers import chat_body

from nvnb.server import tools


def function(
    name: str, properties: dict, required: list[str] | None = None, description: str = ""
) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required or list(properties),
            },
        },
    }


MAGIC = function("magic_function", {"input": {"type": "integer"}}, description="Applies magic")
WEATHER = function("get_weather", {"location": {"type": "string"}}, description="Weather")
NO_ARGS = function("magic_function_no_args", {}, description="Magic without arguments")


def message(http, body: dict) -> dict:
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    data = response.json()["choices"][0]
    return {**data["message"], "finish_reason": data["finish_reason"]}


def calls(msg: dict) -> list[tuple[str, dict]]:
    return [
        (c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in msg.get("tool_calls") or []
    ]


def test_a_turn_that_writes_a_call_gets_that_call_with_its_arguments(http):
    msg = message(
        http, chat_body("What is magic_function(3)? Use the tool.", tools=[MAGIC, WEATHER])
    )
    assert calls(msg) == [("magic_function", {"input": 3})]
    assert msg["finish_reason"] == "tool_calls"
    assert msg["content"] is None


def test_a_tool_named_in_words_is_called_with_a_place_from_the_turn(http):
    msg = message(http, chat_body("What is the weather in San Francisco, CA?", tools=[WEATHER]))
    assert calls(msg) == [("get_weather", {"location": "San Francisco"})]


def test_without_a_named_tool_and_tool_choice_auto_the_answer_is_text(http):
    msg = message(http, chat_body("Hello!", tools=[MAGIC], tool_choice="auto"))
    assert not msg.get("tool_calls") and "local nvnb server" in msg["content"]


def test_tool_choice_required_forces_the_best_matching_tool(http):
    msg = message(
        http,
        chat_body("Hello, tell me about weather", tools=[MAGIC, WEATHER], tool_choice="required"),
    )
    assert calls(msg)[0][0] == "get_weather"
    msg = message(http, chat_body("Hello!", tools=[MAGIC, WEATHER], tool_choice="required"))
    assert calls(msg)[0][0] == "magic_function"  # nothing matches: the first tool


def test_tool_choice_naming_a_function_calls_exactly_it(http):
    choice = {"type": "function", "function": {"name": "get_weather"}}
    msg = message(http, chat_body("magic_function(2)", tools=[MAGIC, WEATHER], tool_choice=choice))
    assert [name for name, _ in calls(msg)] == ["get_weather"]


def test_tool_choice_none_never_calls(http):
    msg = message(http, chat_body("magic_function(2)", tools=[MAGIC], tool_choice="none"))
    assert not msg.get("tool_calls")


def test_a_tool_without_arguments_is_called_with_an_empty_object(http):
    msg = message(http, chat_body("What is magic_function_no_args()?", tools=[MAGIC, NO_ARGS]))
    assert calls(msg) == [("magic_function_no_args", {})]


def test_quoted_unicode_values_fill_string_arguments_unescaped(http):
    tool = function(
        "unicode_customer", {"customer_name": {"type": "string"}, "description": {"type": "string"}}
    )
    response = http.post(
        "/v1/chat/completions",
        json=chat_body(
            "Create a customer named '你好啊集团' (Hello Group)",
            tools=[tool],
            tool_choice="required",
        ),
    )
    assert "你好啊集团" in response.text  # not \\u escapes
    args = calls(response.json()["choices"][0]["message"])[0][1]
    assert args["customer_name"] == "你好啊集团"


def test_after_a_tool_message_the_answer_quotes_the_result(http):
    body = chat_body("What is magic_function(3)?", tools=[MAGIC])
    body["messages"] += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "magic_function", "arguments": '{"input": 3}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "name": "magic_function", "content": "5"},
    ]
    msg = message(http, body)
    assert not msg.get("tool_calls")
    assert "“5”" in msg["content"] and "magic_function" in msg["content"]


def test_tool_call_ids_are_stable_for_the_same_request(http):
    body = chat_body("magic_function(4)", tools=[MAGIC])
    assert message(http, body)["tool_calls"][0]["id"] == message(http, body)["tool_calls"][0]["id"]


JOKE = {
    "type": "object",
    "properties": {"setup": {"type": "string"}, "punchline": {"type": "string"}},
    "required": ["setup", "punchline"],
}


def test_json_schema_response_format_gives_a_value_valid_for_the_schema(http):
    fmt = {"type": "json_schema", "json_schema": {"name": "Joke", "schema": JOKE}}
    value = json.loads(
        message(http, chat_body("Tell me a joke about cats.", response_format=fmt))["content"]
    )
    assert set(value) == {"setup", "punchline"}
    assert all(isinstance(v, str) and v for v in value.values())


def test_guided_json_top_level_or_in_nvext_is_honoured(http):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    assert json.loads(message(http, chat_body("n is 7", guided_json=schema))["content"]) == {"n": 7}
    assert json.loads(
        message(http, chat_body("n=8", nvext={"guided_json": schema}))["content"]
    ) == {"n": 8}


def test_guided_choice_answers_one_of_the_choices(http):
    msg = message(http, chat_body("I feel happy today", guided_choice=["sad", "happy"]))
    assert msg["content"] == "happy"


def test_json_object_mode_uses_the_keys_the_turn_asks_for(http):
    turn = "Return JSON with 'setup' and 'punchline' keys."
    value = json.loads(
        message(http, chat_body(turn, response_format={"type": "json_object"}))["content"]
    )
    assert set(value) == {"setup", "punchline"}
    value = json.loads(
        message(http, chat_body("Hi", response_format={"type": "json_object"}))["content"]
    )
    assert list(value) == ["answer"]


# -- the filling rules themselves --------------------------------------------------------------


def fill(schema: dict, text: str = ""):
    return tools.fill(schema, tools.extract(text))


def test_key_value_pairs_fill_the_properties_they_name():
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    }
    assert fill(schema, 'forecast city="Oslo" days=3') == {"city": "Oslo", "days": 3}


def test_numbers_fill_numeric_properties_in_order_and_respect_bounds():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "integer", "maximum": 10}},
    }
    assert fill(schema, "add 2.5 and 40") == {"a": 2.5, "b": 10}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "boolean"}, False),
        ({"type": "null"}, None),
        ({"type": "integer", "minimum": 3}, 3),
        ({"enum": ["red", "green"]}, "red"),
        ({"const": 42}, 42),
        ({"type": "string", "format": "date"}, "2024-01-01"),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 2}, [0, 0]),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, 0),
    ],
)
def test_every_type_gets_a_valid_default(schema, expected):
    assert fill(schema) == expected


def test_enums_prefer_the_value_the_turn_mentions():
    assert fill({"type": "string", "enum": ["red", "green"]}, "make it green") == "green"


def test_refs_and_nested_objects_are_resolved():
    schema = {
        "type": "object",
        "properties": {"owner": {"$ref": "#/$defs/Person"}},
        "$defs": {
            "Person": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            }
        },
    }
    assert fill(schema, "Ada is 36") == {"owner": {"name": "Ada", "age": 36}}


def test_strings_without_values_say_what_they_stand_for():
    value = fill({"type": "object", "properties": {"summary": {"type": "string"}}}, "hi there")
    assert value == {"summary": "summary for “hi there”"}
