"""Error bodies that name a client mistake get a hint that says what to change."""

from __future__ import annotations

import pytest

from nvnb.client._mistakes import hint_for_mistake


@pytest.mark.parametrize(
    ("detail", "words"),
    [
        ("image input is not supported - hint: you may need to provide the mmproj", "only text"),
        ("Failed to parse tool call arguments as JSON: parse error", "not valid JSON"),
        ("Assistant message must contain either 'content' or 'tool_calls'!", "neither text"),
        ("the request exceeds the available context size", "context"),
    ],
)
def test_known_mistakes_get_a_hint(detail: str, words: str) -> None:
    hint = hint_for_mistake(detail)
    assert hint is not None and words in hint and "try again" not in hint


def test_other_bodies_get_none() -> None:
    assert hint_for_mistake("upstream connect error") is None
    assert hint_for_mistake(None) is None
