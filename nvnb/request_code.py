"""A chat request as code you can run: ``ChatNVIDIA(...)`` Python, a ``%%nvchat`` cell, ``curl``.

:func:`code_for_body` reads the exact JSON body of a request (as the call's record kept it,
:class:`nvnb.calls.record.CallRecord`, or as :func:`code_for_session` builds it from the
session's current settings) and writes three programs that send that same body again, plus the
body itself::

    code = code_for_call(session.last_answer.call, base_url=...)
    print(code.python); print(code.nvchat); print(code.curl); print(code.body)

What each form reproduces (``tests/test_request_code.py`` runs all three against ``nvnb serve``
and compares the bodies the server received):

* ``python`` and ``curl``: the body exactly, for every field.
* ``nvchat``: the body exactly for a single question (system prompt, sampling settings, stop,
  labels, images, context). It sends to the *session's* connection (``NVIDIA_BASE_URL`` or the
  key), not to a base URL of its own, and it cannot carry extra headers or unknown body fields;
  a question that continues a conversation uses ``--chat``, which resends the session's own
  conversation. Values that do not fit on one line (a system prompt with line breaks, a long
  image data URI, a prompt with ``{name}`` in it) go into variables set by ``nvchat_setup``, a
  Python cell to run first. Each limit that applies is listed in ``notes``.

The key is never written: the Python reads ``NVIDIA_API_KEY`` itself, ``curl`` says
``$NVIDIA_API_KEY`` and lets the shell fill it in.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HOSTED_BASE_URL",
    "RequestCode",
    "base_url_for",
    "code_for_body",
    "code_for_call",
    "code_for_session",
    "last_request_code",
]

HOSTED_BASE_URL = "https://integrate.api.nvidia.com/v1"
_SAMPLING = ("temperature", "top_p", "max_tokens", "seed", "stop")
_DERIVED = ("model", "messages", "stream", "stream_options")  # set by ChatNVIDIA itself
_CLIENT_HEADERS = frozenset(
    {"accept", "content-type", "user-agent", "authorization", "nvcf-input-asset-references"}
)
_MESSAGE_CLASSES = {"system": "SystemMessage", "user": "HumanMessage", "assistant": "AIMessage"}
_REFERENCE = re.compile(r"\{[A-Za-z_]")  # what %%nvchat would try to fill from variables
_LONG = 160  # option values longer than this go into a variable


@dataclass(frozen=True)
class RequestCode:
    """The three runnable forms of one request, the exact body, and the response headers."""

    python: str
    nvchat: str
    curl: str
    body: str
    nvchat_setup: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None
    retries: int = 0
    notes: tuple[str, ...] = ()
    outcome: str = ""  # how the request went, from its record (CallRecord.outcome_lines)

    def forms(self) -> dict[str, str]:
        """``{"python", "nvchat", "curl", "body"}``: what a Code view shows, one tab each."""
        nvchat = f"{self.nvchat_setup}\n\n# then, in a new cell:\n{self.nvchat}"
        return {
            "python": self.python,
            "nvchat": nvchat if self.nvchat_setup else self.nvchat,
            "curl": self.curl,
            "body": self.body,
        }

    def cell_source(self, form: str) -> str:
        """One form as a notebook cell runs it: ``curl`` under ``%%bash``, the body assigned to
        ``body`` (the Code view's "Insert as cell" writes the same)."""
        text = self.forms()[form]
        if form == "curl":
            return "%%bash\n" + text
        if form == "body":
            return "body = " + text
        return text

    def view(self, **extra: Any) -> dict[str, Any]:
        """What a widget's Code view trait holds (``js/src/code_view.js`` renders it): the forms,
        the response headers as text, the notes, plus ``extra`` (e.g. ``model=``)."""
        return {
            **extra,
            **self.forms(),
            "headers": self.headers_text(),
            "notes": list(self.notes),
            "nvchat_setup": self.nvchat_setup,
        }

    def headers_text(self) -> str:
        """How the request went: status, timing, request id, retries (and 429 waits), then the
        response headers that matter, one ``name: value`` a line."""
        if self.outcome:
            return self.outcome
        lines = [f"request id: {self.request_id or 'none given'}", f"retries: {self.retries}"]
        lines += [f"{k}: {v}" for k, v in self.response_headers.items()]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        parts = [
            "**Python**",
            _fence(self.python, "python"),
            "**%%nvchat**",
        ]
        if self.nvchat_setup:
            parts += ["Run first:", _fence(self.nvchat_setup, "python")]
        parts += [
            _fence(self.nvchat, ""),
            "**curl**",
            _fence(self.curl, "bash"),
            "**Request body**",
            _fence(self.body, "json"),
            "**Response**",
            _fence(self.headers_text(), ""),
        ]
        if self.notes:
            parts += ["\n".join(f"- {note}" for note in self.notes)]
        return "\n\n".join(parts) + "\n"

    def __str__(self) -> str:
        text = [f"# Python\n{self.python}", "# %%nvchat"]
        if self.nvchat_setup:
            text.append(f"# run first:\n{self.nvchat_setup}\n# then:")
        text += [self.nvchat, f"# curl\n{self.curl}", f"# request body\n{self.body}"]
        text.append(f"# response\n{self.headers_text()}")
        if self.notes:
            text.append("# notes\n" + "\n".join(f"- {n}" for n in self.notes))
        return "\n\n".join(text) + "\n"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def code_for_call(call: Any, *, base_url: str | None = None) -> RequestCode:
    """The code for a request's :class:`nvnb.calls.record.CallRecord` (``base_url``: what the
    chat model was given, ``None`` for the default)."""
    body = call.body if call is not None else None
    if body is None:
        raise ValueError("no request was recorded yet: ask a question first")
    code = code_for_body(
        body,
        url=call.url,
        base_url=base_url,
        request_headers=call.request_headers,
        authorized=call.authorized,
        response_headers=call.response_headers,
        request_id=call.request_id,
        retries=call.retries,
    )
    return dataclasses.replace(code, outcome=call.outcome_lines())


def code_for_body(
    body: Mapping[str, Any],
    *,
    url: str,
    base_url: str | None = None,
    request_headers: Mapping[str, str] | None = None,
    authorized: bool = True,
    response_headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    retries: int = 0,
) -> RequestCode:
    """The three forms for a chat request ``body`` sent to ``url``."""
    body = json.loads(json.dumps(body))  # a private, plain-JSON copy
    request_headers = dict(request_headers or {})
    if base_url is not None and base_url.rstrip("/") == HOSTED_BASE_URL:
        base_url = None
    spec = _Spec.parse(body)
    extra_headers = {k: v for k, v in request_headers.items() if k.lower() not in _CLIENT_HEADERS}
    notes = list(spec.notes)
    python = _python(spec, base_url, extra_headers)
    setup, cell, cell_notes = _nvchat(spec, base_url, extra_headers)
    notes += cell_notes
    curl = _curl(body, url, request_headers, authorized)
    return RequestCode(
        python=python,
        nvchat=cell,
        nvchat_setup=setup,
        curl=curl,
        body=json.dumps(body, indent=2, ensure_ascii=False),
        response_headers=dict(response_headers or {}),
        request_id=request_id,
        retries=retries,
        notes=tuple(notes),
    )


def last_request_code(session: Any) -> RequestCode:
    """The code for the session's last request (what ``%nvchat last`` shows)."""
    answer = getattr(session, "last_answer", None)
    call = getattr(answer, "call", None)
    if call is None or call.body is None:
        from nvnb.errors import InvalidInputError

        raise InvalidInputError("no request yet in this session: ask a question first")
    return code_for_call(call, base_url=base_url_for(session, answer.model))


def code_for_session(session: Any, prompt: str, **overrides: Any) -> RequestCode:
    """The code for asking ``prompt`` with the session's current settings (nothing is sent)."""
    request = session._prepare(prompt, overrides.pop("images", ()), None, False, overrides)
    llm = request.llm
    plan, _ = llm._plan(request.messages, None, True, dict(request.call))
    core = llm.client._core
    body = core.apply_payload_fn(plan.payload)
    settings = core.settings
    headers = {**core.default_headers, "Accept": "text/event-stream"}
    return code_for_body(
        body,
        url=core.endpoint_for(body.get("model")),
        base_url=base_url_for(session, request.model),
        request_headers=headers,
        authorized=settings.api_key is not None,
    )


def base_url_for(session: Any, model: str) -> str | None:
    """The base URL the session's chat model for ``model`` was given (``None``: default)."""
    try:
        return getattr(session.llm_for(model), "base_url", None)
    except Exception:  # a custom llm= without one
        return None


# ------------------------------------------------------------------------------ reading a body
@dataclass
class _Spec:
    model: str
    messages: list[dict[str, Any]]
    sampling: dict[str, Any]
    labels: dict[str, int] | None
    extra: dict[str, Any]
    stream: bool
    notes: list[str]

    @classmethod
    def parse(cls, body: dict[str, Any]) -> _Spec:
        messages = list(body.get("messages") or [])
        labels = None
        last = messages[-1] if messages else None
        if isinstance(last, dict) and last.get("role") == "assistant" and "labels" in last:
            labels = dict(last["labels"])
            messages = messages[:-1]
        notes = []
        for m in messages:
            if m.get("role") not in (*_MESSAGE_CLASSES, "context"):
                notes.append(f"a {m.get('role')!r} message is written as a ChatMessage")
                break
        if "asset_id," in json.dumps(messages):
            notes.append("an image uploaded as an asset is sent again by id; the id expires")
        return cls(
            model=str(body.get("model", "")),
            messages=messages,
            sampling={k: body[k] for k in _SAMPLING if k in body},
            labels=labels,
            extra={k: v for k, v in body.items() if k not in (*_SAMPLING, *_DERIVED)},
            stream=bool(body.get("stream")),
            notes=notes,
        )

    def images(self) -> list[str]:
        out = []
        for m in self.messages:
            for part in m.get("content") if isinstance(m.get("content"), list) else ():
                if isinstance(part, dict) and part.get("type") == "image_url":
                    out.append(_image_url(part))
        return out


def _image_url(part: dict[str, Any]) -> str:
    image = part.get("image_url")
    return str(image.get("url", "")) if isinstance(image, dict) else str(image)


# ------------------------------------------------------------------------------ Python
class _Code(str):
    """Text written into generated Python as it is (a variable name), not as a literal."""


def _py(value: Any, indent: int = 0) -> str:
    """A Python literal for a JSON value, double-quoted like black writes it."""
    pad = " " * (indent + 4)
    if isinstance(value, _Code):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = [f"{pad}{_py(k)}: {_py(v, indent + 4)}," for k, v in value.items()]
        flat = "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
        return (
            flat
            if len(flat) <= 72 and "\n" not in flat
            else "{\n" + "\n".join(inner) + "\n" + " " * indent + "}"
        )
    if isinstance(value, list):
        if not value:
            return "[]"
        flat = "[" + ", ".join(_py(v) for v in value) + "]"
        if len(flat) <= 72 and "\n" not in flat:
            return flat
        return (
            "[\n"
            + "\n".join(f"{pad}{_py(v, indent + 4)}," for v in value)
            + "\n"
            + " " * indent
            + "]"
        )
    return repr(value)


def _python(spec: _Spec, base_url: str | None, headers: dict[str, str]) -> str:
    images: dict[str, str] = {}

    def image_name(url: str) -> _Code:
        if url not in images:
            images[url] = f"IMAGE_{len(images) + 1}"
        return _Code(images[url])

    classes = {"ChatNVIDIA"}
    rows = []
    for m in spec.messages:
        role = m.get("role", "user")
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    part = {"type": "image_url", "image_url": {"url": image_name(_image_url(part))}}
                parts.append(part)
            content = parts
        if role in _MESSAGE_CLASSES:
            cls = _MESSAGE_CLASSES[role]
            rows.append(f"    {cls}(content={_py(content, 4)}),")
        else:
            cls = "ChatMessage"
            rows.append(f"    ChatMessage(role={_py(role)}, content={_py(content, 4)}),")
        classes.add(cls)

    args = [f"model={_py(spec.model)}"]
    if base_url:
        args.append(f"base_url={_py(base_url)}")
    args += [f"{k}={_py(v, 4)}" for k, v in spec.sampling.items()]
    if spec.labels:
        args.append(f"labels={_py(spec.labels, 4)}")
    if headers:
        args.append(f"default_headers={_py(headers, 4)}")
    if spec.extra:
        args.append(f"model_kwargs={_py(spec.extra, 4)}")

    lines = []
    messages = sorted(classes - {"ChatNVIDIA"})
    if messages:
        lines.append(f"from langchain_core.messages import {', '.join(messages)}")
        lines.append("")
    lines += ["from nvnb import ChatNVIDIA", ""]
    for url, name in images.items():
        lines.append(f"{name} = {_py(url)}")
    if images:
        lines.append("")
    lines.append("# The key, when one is needed, comes from NVIDIA_API_KEY.")
    lines.append("llm = ChatNVIDIA(")
    lines += [f"    {a}," for a in args]
    lines.append(")")
    lines.append("messages = [")
    lines += rows
    lines.append("]")
    if spec.stream:
        lines += [
            "for chunk in llm.stream(messages):",
            '    print(chunk.content, end="", flush=True)',
        ]
    else:
        lines.append("print(llm.invoke(messages).content)")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ %%nvchat
def _nvchat(
    spec: _Spec, base_url: str | None, headers: dict[str, str]
) -> tuple[str, str, list[str]]:
    """(setup cell, %%nvchat cell, notes)."""
    notes: list[str] = []
    setup: list[str] = []

    def option(flag: str, value: str, name: str) -> str:
        if "\n" in value or "\r" in value or len(value) > _LONG or _REFERENCE.search(value):
            setup.append(f"{name} = {_py(value)}")
            return f"{flag} {{{name}}}"
        return f"{flag} {shlex.quote(value)}"

    messages = spec.messages
    system = [m for m in messages if m.get("role") == "system"]
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    last_user = messages[users[-1]] if users else {"content": ""}
    earlier = [m for m in messages[: users[-1] if users else 0] if m.get("role") != "system"]
    earlier = [m for m in earlier if m.get("role") != "context"]
    argv = ["%%nvchat", option("-m", spec.model, "nvchat_model")]
    if system:
        argv.append(option("-s", str(system[0].get("content") or ""), "nvchat_system"))
    flags = {
        "temperature": "-t",
        "top_p": "--top-p",
        "max_tokens": "--max-tokens",
        "seed": "--seed",
    }
    for key, flag in flags.items():
        if key in spec.sampling:
            argv.append(f"{flag} {spec.sampling[key]!r}")
    stop = spec.sampling.get("stop")
    for i, seq in enumerate([stop] if isinstance(stop, str) else stop or []):
        argv.append(option("--stop", seq, f"nvchat_stop_{i + 1}"))
    if spec.labels:
        argv.append("--labels " + ",".join(f"{k}={v}" for k, v in spec.labels.items()))
    content = last_user.get("content")
    text = content if isinstance(content, str) else ""
    if isinstance(content, list):
        text = "".join(p.get("text", "") for p in content if p.get("type") == "text")
        for i, url in enumerate(_Spec([], [last_user], {}, None, {}, False, []).images()):
            argv.append(option("--image", url, f"nvchat_image_{i + 1}"))
    for m in messages:
        if m.get("role") == "context":
            argv.append(option("--context", str(m.get("content") or ""), "nvchat_context"))
    if earlier:
        argv.append("--chat")
        notes.append(
            f"this question continues a conversation of {len(earlier)} messages: the %%nvchat "
            "cell (--chat) resends the session's conversation, the same only in that session"
        )
    if text != text.strip("\n").rstrip() or _REFERENCE.search(text) or not text.strip():
        setup.append(f"nvchat_prompt = {_py(text)}")
        text = "{nvchat_prompt}"
    if base_url:
        notes.append(
            f"%%nvchat sends to the session's connection: set NVIDIA_BASE_URL={base_url} "
            "(or nvnb.session(base_url=...)) for the same server"
        )
    if headers:
        notes.append(f"%%nvchat cannot send the extra headers {', '.join(headers)}")
    if spec.extra:
        notes.append(f"%%nvchat cannot send the body fields {', '.join(spec.extra)}")
    if not spec.stream:
        notes.append('%%nvchat streams its answer ("stream": true); add --no-stream to wait')
    return "\n".join(setup), " ".join(argv) + "\n" + text + "\n", notes


# ------------------------------------------------------------------------------ curl
def _curl(
    body: dict[str, Any], url: str, request_headers: Mapping[str, str], authorized: bool
) -> str:
    headers = {k: v for k, v in request_headers.items() if k.lower() not in ("user-agent",)}
    if not any(k.lower() == "accept" for k in headers):
        headers["Accept"] = "text/event-stream" if body.get("stream") else "application/json"
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    lines = [f"curl -sS{' -N' if body.get('stream') else ''} -X POST {shlex.quote(url)}"]
    lines += [f"  -H {shlex.quote(f'{k}: {v}')}" for k, v in headers.items()]
    if authorized:
        lines.append('  -H "Authorization: Bearer $NVIDIA_API_KEY"')
    lines.append("  --data-binary @- <<'JSON'")
    return " \\\n".join(lines) + "\n" + json.dumps(body, indent=2, ensure_ascii=False) + "\nJSON\n"


def _fence(text: str, lang: str) -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"
