"""Error bodies that name a mistake in the request itself, whatever the HTTP status.

Self-hosted servers often answer a client mistake with a 500 (llama.cpp's llama-server does:
``image input is not supported``, ``Failed to parse tool call arguments as JSON``). A 5xx hint
would say "try again in a moment", which can never work: the same request fails the same way.
:func:`hint_for_mistake` recognises these bodies and says what to change instead.
"""

from __future__ import annotations

import re

_MISTAKES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"image input is not supported|does not support (image|vision)|mmproj", re.I),
        "this model takes only text: leave the image out, or pick a vision model "
        "(retrying the same request cannot help)",
    ),
    (
        re.compile(r"parse tool call arguments|tool call arguments.*(json|invalid)", re.I),
        "a tool call in the conversation has arguments that are not valid JSON: drop or fix "
        "that assistant turn (retrying the same request cannot help)",
    ),
    (
        re.compile(r"must contain either 'content' or 'tool_calls'", re.I),
        "an assistant message in the request has neither text nor tool calls (SteerLM labels "
        "sent to a model that does not take them look like this): leave it out",
    ),
    (
        re.compile(
            r"context (size|length|window)|exceeds the available context|too many tokens", re.I
        ),
        "the conversation is longer than the model's context: shorten it or start a new one "
        "(retrying the same request cannot help)",
    ),
)


def hint_for_mistake(detail: str | None) -> str | None:
    """What to change when ``detail`` (an error body's text) names a client mistake, else None."""
    if not detail:
        return None
    for pattern, hint in _MISTAKES:
        if pattern.search(detail):
            return hint
    return None
