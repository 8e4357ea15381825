"""A conversation as notebook cells: what was asked, what was answered, and code that asks again.

:func:`export_notebook` turns the session's history into an ``nbformat`` notebook: for each turn
a Markdown cell with the question, a code cell that sends the same request again (the
``ChatNVIDIA`` form of :mod:`nvnb.request_code`, from the exact body recorded for that answer),
and a Markdown cell with the answer. Every cell's metadata carries the turn's provenance under
``"nvnb"`` (:func:`provenance`): model, parameters, labels, request id, time. ``%%nvchat``
answers carry the same record in their output's metadata.

Text from prompts and models is made inert (:func:`nvnb._markdown_safety.inert_markdown`) in the
Markdown cells, as everywhere nvnb displays it; the provenance keeps no key and no image bytes
(images are named by their SHA-256).

``nbformat`` (Jupyter's own reader and writer, present wherever Jupyter is) validates and
writes the file; it is imported only when a notebook is made.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
from typing import Any

__all__ = ["export_notebook", "provenance"]

_PARAMETERS = ("temperature", "top_p", "max_tokens", "seed", "stop")


def provenance(answer: Any) -> dict[str, Any]:
    """Where an answer came from, as JSON: model, parameters, labels, request id, time…"""
    call = getattr(answer, "call", None)  # the request's record (nvnb.calls.record)
    body = (getattr(call, "body", None) or {}) if call is not None else {}
    messages = body.get("messages") or []
    labels = None
    if messages and messages[-1].get("role") == "assistant" and "labels" in messages[-1]:
        labels = dict(messages[-1]["labels"])
    images = []
    for message in messages:
        content = message.get("content")
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and part.get("type") == "image_url":
                image = part.get("image_url")
                url = image.get("url", "") if isinstance(image, dict) else str(image)
                images.append("sha256:" + hashlib.sha256(url.encode()).hexdigest())
    sent_at = getattr(call, "time", None)
    when = _dt.datetime.fromtimestamp(sent_at, _dt.timezone.utc) if sent_at else None
    from nvnb._version import __version__

    record: dict[str, Any] = {
        "model": getattr(answer, "model", None) or body.get("model"),
        "parameters": {k: body[k] for k in _PARAMETERS if k in body},
        "labels": labels,
        "request_id": getattr(answer, "request_id", None),
        "time": when.isoformat(timespec="seconds") if when else None,
        "url": getattr(call, "url", None),
        "finish_reason": getattr(answer, "finish_reason", None),
        "stopped": bool(getattr(answer, "stopped", False)),
        "images": images,
        "nvnb": __version__,
    }
    stats = getattr(answer, "stats", None)
    if stats is not None:
        record["stats"] = stats.as_dict()
    return record


def export_notebook(session: Any = None, path: str | Path | None = None) -> Any:
    """The session's conversation (default: ``nvnb.session()``) as a notebook; also written to
    ``path`` when given. Returns the ``nbformat`` notebook node."""
    try:
        import nbformat
        from nbformat import v4
    except ImportError:
        raise ImportError("exporting a notebook needs nbformat: pip install nbformat") from None
    from nvnb._markdown_safety import inert_markdown
    from nvnb.request_code import base_url_for, code_for_call

    if session is None:
        from nvnb.session import session as default

        session = default()
    cells = [v4.new_markdown_cell(_title(session, inert_markdown))]
    history = list(session.history)
    turn = 0
    for i, item in enumerate(history):
        if item.role != "user":
            continue
        reply = history[i + 1] if i + 1 < len(history) else None
        answer = reply.answer if reply is not None and reply.role == "assistant" else None
        meta = {"nvnb": {"turn": turn + 1, **(provenance(answer) if answer else {})}}
        turn += 1
        question = f"**You:** {inert_markdown(item.content)}"
        if item.images:
            question += f"\n\n*({len(item.images)} image(s) sent)*"
        cells.append(v4.new_markdown_cell(question, metadata=meta))
        call = getattr(answer, "call", None)
        if call is not None and call.body is not None:
            code = code_for_call(call, base_url=base_url_for(session, answer.model))
            cells.append(v4.new_code_cell(code.python.rstrip("\n"), metadata=meta))
        if answer is not None:
            name = inert_markdown(answer.model or "Assistant")
            text = inert_markdown(answer.text) if answer.text else "*(no text)*"
            note = "\n\n*(stopped)*" if answer.stopped else ""
            footer = f"\n\n<sub>request id `{answer.request_id}`</sub>" if answer.request_id else ""
            cells.append(v4.new_markdown_cell(f"**{name}:** {text}{note}{footer}", metadata=meta))
        else:
            cells.append(v4.new_markdown_cell("*(no answer)*", metadata=meta))
    notebook = v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["nvnb"] = {"exported": _now(), "turns": turn}
    nbformat.validate(notebook)
    if path is not None:
        nbformat.write(notebook, str(path))
    return notebook


def _title(session: Any, shown: Any) -> str:
    lines = ["# Conversation", "", f"Exported by nvnb on {_now()}."]
    if session.system_prompt:
        lines += ["", f"**System prompt:** {shown(session.system_prompt)}"]
    lines += [
        "",
        "Each code cell sends its turn's request again (the key comes from NVIDIA_API_KEY).",
    ]
    return "\n".join(lines)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
