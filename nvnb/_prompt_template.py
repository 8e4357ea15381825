"""``{name}`` references in ``%%nvchat`` prompts, filled from the user's namespace.

Unlike ``str.format``, a prompt is sent exactly as written unless a ``{…}`` names something that
resolves: code with braces (``{}``, ``{"a": 1}``, f-strings, JSON) passes through untouched.

A reference is a name followed by attribute or index steps: ``{df}``, ``{cfg.path}``,
``{In[3]}``, ``{Out[-1]}``, ``{d["key"]}``, no spaces inside the braces. ``{{name}}`` keeps a
reference that would resolve as the literal text ``{name}``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_STEP = rf"(?:\.{_NAME}|\[-?\d+\]|\['[^'\]\\]*'\]|\[\"[^\"\]\\]*\"\])"
_REFERENCE = rf"{_NAME}{_STEP}*"
_PATTERN = re.compile(rf"\{{\{{(?P<escaped>{_REFERENCE})\}}\}}|\{{(?P<ref>{_REFERENCE})\}}")
_STEPS = re.compile(rf"\.(?P<attr>{_NAME})|\[(?P<index>[^\]]*)\]")
_WHOLE = re.compile(rf"\{{({_REFERENCE})\}}")


class Unresolved(LookupError):
    """A reference names nothing available; the text stays as written."""


Lookup = Callable[[str], Any]
"""Maps a bare name to its value, raising ``LookupError`` (e.g. ``KeyError``) when unknown."""


def resolve(reference: str, lookup: Lookup) -> Any:
    """The value a reference like ``In[3]`` or ``cfg.path`` names; :class:`Unresolved` if none."""
    match = re.match(_NAME, reference)
    if match is None:
        raise Unresolved(reference)
    try:
        value = lookup(match.group())
    except LookupError as exc:
        raise Unresolved(reference) from exc
    for step in _STEPS.finditer(reference, match.end()):
        try:
            if step.group("attr") is not None:
                value = getattr(value, step.group("attr"))
            else:
                value = value[ast.literal_eval(step.group("index"))]
        except Exception as exc:  # a property or __getitem__ may raise anything
            raise Unresolved(reference) from exc
    return value


def as_text(value: Any) -> str:
    """How a value reads inside a prompt: strings as they are, other objects through ``str``."""
    return value if isinstance(value, str) else str(value)


def _in_code(text: str, position: int) -> bool:
    """Whether ``position`` is inside a string literal of its line or a fenced code block."""
    before = text[:position]
    if before.count("```") % 2:
        return True
    line = before.rsplit("\n", 1)[-1]
    return line.count('"') % 2 == 1 or line.count("'") % 2 == 1


def interpolate(text: str, lookup: Lookup, missing: list[str] | None = None) -> str:
    """``text`` with every resolvable ``{reference}`` replaced by its value's text.

    Anything else, including ``{`` and ``}`` in code, is left exactly as written; ``missing``,
    when given, receives each reference left as written (a misspelt name, say) once.
    """

    def replace(match: re.Match[str]) -> str:
        escaped = match.group("escaped")
        reference = escaped if escaped is not None else match.group("ref")
        try:
            value = resolve(reference, lookup)
        except Unresolved:
            # f"{x}" in pasted code is no typo: only prose references are reported
            named = escaped is None and not _in_code(text, match.start())
            if missing is not None and named and reference not in missing:
                missing.append(reference)
            return match.group()
        if escaped is not None:
            return "{" + escaped + "}"
        return as_text(value)

    return _PATTERN.sub(replace, text)


def whole_reference(text: str) -> str | None:
    """The reference when ``text`` is nothing but ``{reference}`` (as in ``--image {img}``)."""
    match = _WHOLE.fullmatch(text.strip())
    return match.group(1) if match else None


def resolve_argument(text: str, lookup: Lookup) -> Any:
    """An option value: the object a lone ``{ref}`` names, else the interpolated text."""
    reference = whole_reference(text)
    if reference is not None:
        try:
            return resolve(reference, lookup)
        except Unresolved:
            return text
    return interpolate(text, lookup)
