"""Structured output for ChatNVIDIA: schemas → request options, answers → parsed values.

One request per call. The schema goes out as an OpenAI ``response_format`` (``json_schema``, the
default), as a forced tool call (``function_calling``), or as ``json_object`` (``json_mode``). The
answer is parsed once it is complete, also when streaming (a partial object would not validate),
and a bad answer raises ``OutputParserException`` naming what was wrong, never a silent ``None``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from operator import itemgetter
from typing import Any, Literal

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.json import parse_json_markdown
from langchain_core.utils.pydantic import is_basemodel_subclass

Method = Literal["json_schema", "function_calling", "json_mode"]


def _is_enum(schema: Any) -> bool:
    return isinstance(schema, type) and issubclass(schema, enum.Enum)


def describe(schema: Any) -> tuple[str, dict[str, Any]]:
    """``(name, JSON schema)`` of a pydantic class, TypedDict, JSON schema dict or Enum."""
    if _is_enum(schema):
        choices = [member.value for member in schema]
        if not all(isinstance(c, str) for c in choices):
            raise ValueError(f"Enum {schema.__name__} needs string values for structured output")
        return "response", {
            "type": "object",
            "properties": {"choice": {"type": "string", "enum": choices}},
            "required": ["choice"],
            "additionalProperties": False,
        }
    if isinstance(schema, dict):
        if "function" in schema and schema.get("type") == "function":
            fn = schema["function"]
            return fn["name"], fn.get("parameters", {})
        return "response", schema  # a JSON schema is sent as given
    if isinstance(schema, type) and is_basemodel_subclass(schema):
        if hasattr(schema, "model_json_schema"):
            return schema.__name__, schema.model_json_schema()
        return schema.__name__, schema.schema()  # pydantic.v1 models
    try:
        json_schema = convert_to_json_schema(schema)
    except Exception as exc:
        raise ValueError(
            "schema must be a pydantic class, a TypedDict, a JSON schema dict or an Enum, "
            f"not {schema!r} ({exc})"
        ) from None
    name = json_schema.get("title") or getattr(schema, "__name__", None) or "response"
    return str(name), json_schema


def ls_schema(schema: Any) -> dict[str, Any]:
    """The schema as LangChain's tracing (``ls_structured_output_format``) expects it."""
    if _is_enum(schema):
        return describe(schema)[1]
    return convert_to_json_schema(schema)


def response_format(schema: Any, *, strict: bool | None = True) -> dict[str, Any]:
    """The ``response_format`` option for ``json_schema`` structured output."""
    name, json_schema = describe(schema)
    spec: dict[str, Any] = {"name": name, "schema": json_schema}
    if strict is not None:
        spec["strict"] = strict
    return {"type": "json_schema", "json_schema": spec}


def _convert(schema: Any, value: Any) -> Any:
    """A parsed JSON value → the caller's type (pydantic instance, Enum member or dict)."""
    if _is_enum(schema):
        choice = value.get("choice") if isinstance(value, dict) else value
        try:
            return schema(choice)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in schema)
            raise OutputParserException(
                f"the model chose {choice!r}, which is not one of {allowed}"
            ) from None
    if isinstance(schema, type) and is_basemodel_subclass(schema):
        try:
            if hasattr(schema, "model_validate"):
                return schema.model_validate(value)
            return schema.parse_obj(value)  # pydantic.v1 models
        except Exception as exc:
            raise OutputParserException(
                f"the model's answer does not fit {schema.__name__}: {exc}",
                llm_output=json.dumps(value),
            ) from None
    if not isinstance(value, dict):
        raise OutputParserException(f"expected a JSON object, the model answered {value!r}")
    return value


class StructuredParser(BaseOutputParser[Any]):
    """Parses a complete answer (text or first tool call) into the schema's type.

    Not a transform parser on purpose: when streaming, it waits for the whole answer and yields
    once, so every value it yields is complete and valid.
    """

    target: Any
    from_tool_call: bool = False

    def parse_result(self, result: list[Any], *, partial: bool = False) -> Any:
        message = getattr(result[0], "message", None)
        if self.from_tool_call:
            calls = getattr(message, "tool_calls", None) or []
            if not calls:
                raise OutputParserException(
                    "the model answered without calling the structured-output tool",
                    llm_output=getattr(message, "text", ""),
                )
            return _convert(self.target, calls[0]["args"])
        text = result[0].text
        return self.parse(text)

    def parse(self, text: str) -> Any:
        if not text or not text.strip():
            raise OutputParserException("the model returned an empty answer, not JSON")
        try:
            value = parse_json_markdown(text)
        except Exception:
            if _is_enum(self.target):
                return _convert(self.target, text.strip())
            raise OutputParserException(
                f"the model's answer is not valid JSON: {text[:200]!r}", llm_output=text
            ) from None
        return _convert(self.target, value)

    @property
    def _type(self) -> str:
        return "nvnb_structured"


def build(
    model: Any,
    schema: Any,
    *,
    method: Method | None,
    include_raw: bool,
    strict: bool | None,
    bind_tools: Callable[..., Runnable[Any, BaseMessage]],
) -> Runnable[Any, Any]:
    """The runnable ``with_structured_output`` returns."""
    method = method or "json_schema"
    ls_format = {"kwargs": {"method": method}, "schema": ls_schema(schema)}
    if method == "function_calling" and not _is_enum(schema):
        name, json_schema = describe(schema)
        tool = (
            convert_to_openai_tool(schema)
            if not isinstance(schema, dict)
            else {
                "type": "function",
                "function": {
                    "name": name,
                    "description": json_schema.get("description", ""),
                    "parameters": json_schema,
                },
            }
        )
        # With one bound tool "required" means "call this one", and every server honours it;
        # a named-function object is ignored by some (llama.cpp falls back to "auto").
        bound = bind_tools([tool], tool_choice="required", ls_structured_output_format=ls_format)
        parser = StructuredParser(target=schema, from_tool_call=True)
    elif method == "json_mode":
        bound = model.bind(
            response_format={"type": "json_object"}, ls_structured_output_format=ls_format
        )
        parser = StructuredParser(target=schema)
    elif method in ("json_schema", "function_calling"):
        bound = model.bind(
            response_format=response_format(schema, strict=strict),
            ls_structured_output_format=ls_format,
        )
        parser = StructuredParser(target=schema)
    else:
        raise ValueError(
            f"method must be json_schema, function_calling or json_mode, not {method!r}"
        )
    if not include_raw:
        return bound | parser
    parsed = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    failed = RunnablePassthrough.assign(parsed=lambda _: None)
    with_fallback = parsed.with_fallbacks([failed], exception_key="parsing_error")
    return RunnableMap(raw=bound) | with_fallback
