"""Helpers for widget tests: record what a widget sends to its front end."""

from __future__ import annotations

from typing import Any

import pytest


class Sent:
    """Custom messages a widget sent, and a front end replaying them (offset-checked)."""

    def __init__(self, widget: Any) -> None:
        self.messages: list[dict[str, Any]] = []
        self.text = ""
        self.reasoning = ""
        widget.send = self._record

    def _record(self, content: Any, buffers: Any = None) -> None:
        self.messages.append(content)
        kind = content.get("type")
        if kind == "start":
            self.text = self.reasoning = ""
        elif kind == "delta":
            assert content["offset"] == len(self.text), "a delta left a gap"
            assert content["roffset"] == len(self.reasoning)
            self.text += content["text"]
            self.reasoning += content["reasoning"]
        elif kind == "reset":
            self.text, self.reasoning = content["text"], content["reasoning"]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]


@pytest.fixture
def sent():
    return Sent
