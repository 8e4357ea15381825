"""A run's ``schema``: the ``response_format`` each request carries, and each answer parsed and
validated against it. The request side and the parsing are ChatNVIDIA's (``nvnb._structured``);
this adds validation for TypedDicts (pydantic's ``TypeAdapter``) and JSON schemas (``jsonschema``
when installed, else the required keys), which structured output leaves to the caller.

A bad answer is a :class:`SchemaMismatch` for that row, never an exception out of the run.
"""

from __future__ import annotations

from typing import Any

from nvnb.dataset.outcomes import SchemaMismatch


class AnswerSchema:
    """``schema`` → ``response_format``; ``parse(text)`` → the value or :class:`SchemaMismatch`."""

    def __init__(self, schema: Any) -> None:
        from nvnb import _structured as structured

        self.schema = schema
        self.name, self.json_schema = structured.describe(schema)
        self.response_format = structured.response_format(schema)
        self._parser = structured.StructuredParser(target=schema)
        self._check = _checker(schema, self.json_schema)

    def parse(self, text: str, *, request_id: str | None = None, model: str | None = None) -> Any:
        from langchain_core.exceptions import OutputParserException

        try:
            value = self._parser.parse(text)
            if self._check is not None:
                value = self._check(value)
        except OutputParserException as exc:
            message = str(exc).split("\nFor troubleshooting")[0]
            raise SchemaMismatch(message, request_id=request_id, model=model) from None
        except Exception as exc:  # a TypeAdapter's or jsonschema's validation error
            first = str(exc).strip().splitlines()
            detail = " ".join(first[:3])[:300]
            raise SchemaMismatch(
                f"the model's answer does not fit {self.name}: {detail}",
                request_id=request_id,
                model=model,
            ) from None
        return value


def _checker(schema: Any, json_schema: dict[str, Any]) -> Any:
    """Validation the parser does not do itself: TypedDicts and JSON schema dicts."""
    if isinstance(schema, dict):
        return _json_schema_checker(json_schema)
    if isinstance(schema, type) and hasattr(schema, "__annotations__") and issubclass(schema, dict):
        from pydantic import TypeAdapter

        adapter = TypeAdapter(schema)
        return adapter.validate_python
    return None


def _json_schema_checker(json_schema: dict[str, Any]) -> Any:
    try:
        import jsonschema
    except ImportError:
        jsonschema = None

    if jsonschema is not None:
        validator = jsonschema.validators.validator_for(json_schema)(json_schema)

        def check(value: Any) -> Any:
            validator.validate(value)
            return value

        return check

    required = list(json_schema.get("required") or [])

    def check_required(value: Any) -> Any:
        missing = [k for k in required if not isinstance(value, dict) or k not in value]
        if missing:
            raise ValueError(f"missing required field(s): {', '.join(missing)}")
        return value

    return check_required
