"""One row → one chat request body.

A template string is filled from the row with ``%%nvchat``'s rules (``nvnb._prompt_template``):
``{column}`` is replaced by the row's value, anything else in braces (code, JSON) is sent as
written, ``{{column}}`` is a literal ``{column}``. A callable template takes the row and returns
the prompt text or the messages (OpenAI-style dicts, or LangChain messages).

Image columns (``images=``) hold an http(s) URL, a data URI or a local path per row; paths are
read and fitted to the service's inline limit with ``nvnb.images``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nvnb import images as image_sources
from nvnb._prompt_template import interpolate
from nvnb.dataset.rows import columns_of
from nvnb.errors import InvalidInputError

Template = str | Callable[[Mapping[str, Any]], Any]


class _Marker(str):
    """What a probing lookup returns, to see which references a template makes."""

    def __getitem__(self, key: Any) -> Any:  # ``{name[0]}`` is not a bare column reference
        raise KeyError(key)


def referenced_columns(template: str) -> list[str]:
    """Bare names a template fills from a row (``{name}``, not ``{{name}}``), in order."""
    seen: list[str] = []

    def probe(name: str) -> str:
        return _Marker(f"\x00{name}\x00")

    filled = interpolate(template, probe)
    for piece in filled.split("\x00")[1::2]:
        if piece not in seen:
            seen.append(piece)
    return seen


class RequestBuilder:
    """Makes each row's request body; picklable (no client, no key)."""

    def __init__(
        self,
        template: Template,
        *,
        model: str,
        system: str | None = None,
        images: Sequence[str] = (),
        response_format: dict[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        flatten_images: bool = False,
    ) -> None:
        if not isinstance(template, str) and not callable(template):
            raise InvalidInputError(
                f"template must be a prompt string with {{column}} references or a function "
                f"row → messages, not {type(template).__name__}"
            )
        if isinstance(template, str) and not template.strip():
            raise InvalidInputError("the template is empty: there is nothing to send")
        self.template = template
        self.columns = referenced_columns(template) if isinstance(template, str) else []
        """The columns the template fills in: every row needs them."""
        self.model = model
        self.system = system
        self.images = tuple(images)
        self.response_format = response_format
        self.params = {k: v for k, v in (params or {}).items() if v is not None}
        self.flatten_images = flatten_images

    def check_first_row(self, row: Any) -> None:
        """Refuse before anything is sent when the template or image columns name a column the
        first row does not have (a typo would otherwise be sent thousands of times)."""
        if not isinstance(row, Mapping):
            return
        columns = columns_of(row)
        missing = [n for n in (*self.columns, *self.images) if n not in row]
        if missing:
            listed = ", ".join(columns[:20]) + (" …" if len(columns) > 20 else "")
            raise InvalidInputError(
                f"the template names {', '.join('{' + m + '}' for m in missing)}, which "
                f"the rows do not have; columns: {listed or '(none)'}",
                hint="write {{name}} to send a literal {name}",
            )

    def messages(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        if isinstance(self.template, str):
            missing = [n for n in (*self.columns, *self.images) if n not in row]
            if missing:
                raise InvalidInputError(
                    f"this row has no {', '.join(repr(m) for m in missing)} column"
                )
            prompt: Any = interpolate(self.template, row.__getitem__)
        else:
            prompt = self.template(row)
        messages = _as_messages(prompt)
        if self.system and not any(m.get("role") == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": self.system})
        if self.images:
            parts = [self._image_part(row[n], n) for n in self.images if _present(row[n])]
            if parts:
                last = next(m for m in reversed(messages) if m.get("role") == "user")
                content = last.get("content")
                text = [{"type": "text", "text": content}] if isinstance(content, str) else content
                last["content"] = [*(text or []), *parts]
        return messages

    def payload(self, row: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, **self.params}
        body["messages"] = self.messages(row)
        if self.response_format is not None:
            body["response_format"] = self.response_format
        body["stream"] = False
        return body

    def _image_part(self, source: Any, column: str) -> dict[str, Any]:
        where = f"image column {column!r}"
        if isinstance(source, str) and not image_sources.is_url(source):
            if source.startswith("data:"):
                oversized = image_sources.check_source(source, where=where)
                if oversized is not None:
                    source = image_sources.shrink(oversized.data, what=where)
            else:
                source = image_sources.from_path(source)
        elif not isinstance(source, str):
            source = image_sources.from_path(source)  # bytes or a PIL image
        if self.flatten_images:
            return {"type": "image_url", "image_url": source}
        return {"type": "image_url", "image_url": {"url": source}}


def request_key(url: str, payload: Mapping[str, Any]) -> str:
    """The run file's key for a request: where it goes and what it says, normalised (sorted
    keys, no ``stream``), hashed."""
    body = {k: v for k, v in payload.items() if k != "stream"}
    text = json.dumps([url, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _present(value: Any) -> bool:
    """An image cell with something in it (not None, empty or NaN)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    return not (isinstance(value, float) and value != value)


def _as_messages(prompt: Any) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        if not prompt.strip():
            raise InvalidInputError("the prompt for this row is empty")
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, Mapping):
        prompt = [prompt]
    if isinstance(prompt, Sequence) and prompt:
        out: list[dict[str, Any]] = []
        for message in prompt:
            if isinstance(message, Mapping):
                if "role" not in message:
                    raise InvalidInputError(f"a message needs a 'role': {dict(message)!r:.120}")
                out.append(dict(message))
            elif hasattr(message, "type") and hasattr(message, "content"):
                from nvnb._payload import message_to_wire  # LangChain messages

                out.append(message_to_wire(message))
            else:
                raise InvalidInputError(
                    f"the template returned a {type(message).__name__} among its messages; "
                    "use dicts like {'role': 'user', 'content': '...'}"
                )
        return out
    raise InvalidInputError(
        "the template function must return the prompt text or a list of messages, "
        f"not {type(prompt).__name__}"
    )
