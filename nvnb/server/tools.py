"""Tool calls and structured output: which tool to call, and JSON values that fit a schema.

Values come from the last user turn, in this order: arguments written as a call
(``name(3, unit="km")``), ``key=value`` pairs, quoted strings, numbers, capitalised names
("San Francisco"); anything still missing gets a valid default for its type.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from nvnb.server.tokens import words

_CALL = re.compile(r"\b([A-Za-z_][\w.-]*)\(([^()]*)\)")
_PAIR = re.compile(r"\b([A-Za-z_]\w*)\s*[=:]\s*(\"[^\"]*\"|'[^']*'|[^\s,;)]+)")
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|«([^»]+)»|「([^」]+)」|(?<!\w)'([^']+)'(?!\w)")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_PROPER = re.compile(r"\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*")
# Capitalised words that start questions and requests rather than name things.
_NOT_NAMES_TEXT = (
    "a an the i what what's who whom whose which when where why how is are was were do does did "
    "can could would should will please tell give use using create write make generate find get "
    "show list call return hello hi hey hallo and or but if then it this that these those my "
    "your our their in on at for of to from with by about"
)
_NOT_NAMES = frozenset(_NOT_NAMES_TEXT.split())
# Words too generic to say that a turn names a tool.
_GENERIC_TEXT = (
    "get set fetch find run call do make create compute calculate lookup look "
    "my tool tools function func the a an of to for"
)
_GENERIC = frozenset(_GENERIC_TEXT.split())


@dataclass
class Values:
    """Values found in a turn, consumed as a schema is filled."""

    text: str
    positional: list[Any] = field(default_factory=list)
    named: dict[str, Any] = field(default_factory=dict)
    quoted: list[str] = field(default_factory=list)
    numbers: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def extract(text: str, function: str | None = None) -> Values:
    """Values in ``text``; arguments of a call to ``function`` come first."""
    values = Values(text)
    rest = text
    for match in _CALL.finditer(text) if function else ():
        if match.group(1) == function:
            for arg in _split_args(match.group(2)):
                key, sep, raw = arg.partition("=")
                if sep and re.fullmatch(r"\s*[A-Za-z_]\w*\s*", key):
                    values.named[key.strip()] = _literal(raw)
                elif arg.strip():
                    values.positional.append(_literal(arg))
            rest = rest.replace(match.group(0), " ")
            break
    for match in _PAIR.finditer(rest):
        values.named.setdefault(match.group(1), _literal(match.group(2)))
    values.quoted = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(rest)]
    unquoted = _QUOTED.sub(" ", _PAIR.sub(" ", rest))
    values.numbers = [float(n) for n in _NUMBER.findall(unquoted)]
    for match in _PROPER.finditer(unquoted):
        name = " ".join(w for w in match.group(0).split() if w.lower() not in _NOT_NAMES)
        if name:
            values.names.append(name)
    return values


def _split_args(text: str) -> list[str]:
    args, current, quote = [], "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == ",":
            args.append(current)
            current = ""
            continue
        current += ch
    args.append(current)
    return [a.strip() for a in args if a.strip()]


def _literal(raw: str) -> Any:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def fill(schema: Any, values: Values, *, name: str = "value", root: Any = None) -> Any:
    """A value valid for JSON ``schema``, taken from ``values`` where they fit."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return _text_for(name, values)
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_resolve(s, root) for s in schema[key]]
            usable = [s for s in options if s.get("type") != "null"] or options
            return fill(usable[0], values, name=name, root=root)
    if "allOf" in schema:
        merged: dict = {}
        for part in schema["allOf"]:
            merged.update(_resolve(part, root))
        return fill(merged, values, name=name, root=root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if "enum" in schema:
        return _pick_enum(schema["enum"], values)
    filler = _FILLERS.get(kind)
    if filler is None:
        return None
    return filler(schema, values, name, root)


def _resolve(schema: dict, root: Any) -> dict:
    ref = schema.get("$ref")
    while isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        ref = target.get("$ref") if isinstance(target, dict) else None
    return schema


def _fill_object(schema: dict, values: Values, name: str, root: Any) -> dict:
    result: dict[str, Any] = {}
    for key, sub in (schema.get("properties") or {}).items():
        sub_schema = _resolve(sub, root) if isinstance(sub, dict) else {}
        if key in values.named:
            result[key] = _coerce(values.named.pop(key), sub_schema, values, key, root)
        elif values.positional:
            result[key] = _coerce(values.positional.pop(0), sub_schema, values, key, root)
        else:
            result[key] = fill(sub, values, name=key, root=root)
    return result


def _coerce(value: Any, schema: dict, values: Values, name: str, root: Any) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    try:
        if kind == "integer":
            return int(float(value))
        if kind == "number":
            number = float(value)
            return int(number) if number.is_integer() else number
        if kind == "string":
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if kind == "boolean":
            return value if isinstance(value, bool) else str(value).lower() in ("true", "yes", "1")
        if kind in ("array", "object") and not isinstance(value, (list, dict)):
            return fill(schema, values, name=name, root=root)
    except (TypeError, ValueError):
        return fill(schema, values, name=name, root=root)
    return value


def _fill_string(schema: dict, values: Values, name: str, root: Any) -> str:
    fmt = schema.get("format")
    formats = {
        "date": "2024-01-01",
        "date-time": "2024-01-01T00:00:00Z",
        "time": "00:00:00",
        "email": "user@example.com",
        "uri": "http://localhost/",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    if fmt in formats:
        return formats[fmt]
    if "default" in schema and isinstance(schema["default"], str):
        text = schema["default"]
    elif values.quoted:
        text = values.quoted.pop(0)
    elif values.names:
        text = values.names.pop(0)
    else:
        text = _text_for(name, values)
    if "maxLength" in schema:
        text = text[: schema["maxLength"]]
    return text.ljust(schema.get("minLength", 0), ".")


def _text_for(name: str, values: Values) -> str:
    topic = " ".join(values.text.split())
    topic = topic if len(topic) <= 80 else topic[:79] + "…"
    label = name.replace("_", " ")
    return f"{label} for “{topic}”" if topic else label


def _fill_number(schema: dict, values: Values, name: str, root: Any) -> float | int:
    if values.numbers:
        number = values.numbers.pop(0)
    elif isinstance(schema.get("default"), (int, float)):
        number = schema["default"]
    else:
        number = 0
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    step = 1 if schema.get("type") == "integer" else 0.5
    if low is not None and number < low + (step if "exclusiveMinimum" in schema else 0):
        number = low + (step if "exclusiveMinimum" in schema else 0)
    if high is not None and number > high - (step if "exclusiveMaximum" in schema else 0):
        number = high - (step if "exclusiveMaximum" in schema else 0)
    if schema.get("type") == "integer":
        return int(number)
    return int(number) if float(number).is_integer() else number


def _fill_boolean(schema: dict, values: Values, name: str, root: Any) -> bool:
    return bool(schema.get("default", False))


def _fill_array(schema: dict, values: Values, name: str, root: Any) -> list:
    items = schema.get("items", {})
    items = _resolve(items, root) if isinstance(items, dict) else {}
    count = max(int(schema.get("minItems", 0)), 1)
    if items.get("type") in ("number", "integer") and len(values.numbers) > count:
        count = len(values.numbers)
    elif items.get("type") == "string" and len(values.quoted) > count:
        count = len(values.quoted)
    count = min(count, int(schema.get("maxItems", count)))
    singular = name[:-1] if name.endswith("s") and len(name) > 3 else name
    return [fill(items, values, name=singular, root=root) for _ in range(count)]


def _fill_null(schema: dict, values: Values, name: str, root: Any) -> None:
    return None


_FILLERS = {
    "object": _fill_object,
    "string": _fill_string,
    "number": _fill_number,
    "integer": _fill_number,
    "boolean": _fill_boolean,
    "array": _fill_array,
    "null": _fill_null,
}


def _pick_enum(options: list, values: Values) -> Any:
    said = set(words(values.text))
    for option in options:
        if isinstance(option, str) and option.lower() in said:
            return option
    return options[0] if options else None


def free_object(values: Values, fallback: str) -> dict:
    """A JSON object for ``json_object`` mode: ``key=value`` pairs, else the quoted keys the turn
    asks for, else ``{"answer": fallback}``."""
    if values.named:
        return dict(values.named)
    keys = [q for q in values.quoted if re.fullmatch(r"[A-Za-z_][\w -]{0,40}", q)]
    if keys:
        return {key: _text_for(key, values) for key in keys}
    return {"answer": fallback}


# -- tool calls -------------------------------------------------------------------------------


def tool_names_in(text: str, tools: list[dict]) -> list[dict]:
    """The bound tools that ``text`` names, in the order they are named."""
    lowered = text.lower()
    said = set(_stem(w) for w in words(text))
    found: list[tuple[int, dict]] = []
    for tool in tools:
        name = tool["function"]["name"]
        spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ").replace("-", " ")
        position = -1
        for form in (name.lower(), spaced.lower()):
            match = re.search(rf"(?<!\w){re.escape(form)}(?!\w)", lowered)
            if match:
                position = match.start()
                break
        if position < 0:
            content = [_stem(w) for w in spaced.lower().split() if w not in _GENERIC and len(w) > 2]
            if content and all(w in said for w in content):
                position = (
                    min(lowered.find(w) for w in content if w in lowered)
                    if any(w in lowered for w in content)
                    else len(lowered)
                )
        if position >= 0:
            found.append((position, tool))
    return [tool for _, tool in sorted(found, key=lambda pair: pair[0])]


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def best_tool(text: str, tools: list[dict]) -> dict:
    """The tool whose name and description share most words with ``text`` (first on ties)."""
    said = set(_stem(w) for w in words(text))

    def overlap(tool: dict) -> int:
        function = tool["function"]
        about = f"{function['name'].replace('_', ' ')} {function.get('description') or ''}"
        return len(said & {_stem(w) for w in words(about)})

    return max(tools, key=lambda t: (overlap(t), -tools.index(t)))


def tools_to_call(body: dict, text: str, after_tool_result: bool) -> list[dict]:
    """The tools this request should call (empty: answer in text)."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and "function" in t]
    choice = body.get("tool_choice")
    if not tools or choice == "none" or after_tool_result:
        return []
    if isinstance(choice, dict):
        wanted = choice.get("function", {}).get("name")
        return [t for t in tools if t["function"]["name"] == wanted][:1]
    named = tool_names_in(text, tools)
    if named:
        return named
    if choice in ("required", "any"):
        return [best_tool(text, tools)]
    return []


def make_call(tool: dict, text: str, index: int) -> dict:
    """A wire tool call to ``tool`` with arguments filled from ``text``."""
    function = tool["function"]
    schema = function.get("parameters") or {"type": "object", "properties": {}}
    arguments = fill(schema, extract(text, function["name"]), name=function["name"])
    encoded = json.dumps(arguments, ensure_ascii=False)
    digest = hashlib.sha256(f"{function['name']}|{encoded}|{index}".encode()).hexdigest()[:24]
    return {
        "id": f"call_{digest}",
        "type": "function",
        "function": {"name": function["name"], "arguments": encoded},
    }
