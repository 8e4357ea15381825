"""The request's messages read once: text per turn, images, labels, tool results."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# Inline images inside text content, the way the service parses them.
IMG_TAG = re.compile(r"""<img\s[^>]*?src\s*=\s*["']([^"']+)["'][^>]*>""", re.IGNORECASE)


@dataclass
class Turn:
    role: str
    text: str
    images: list[str] = field(default_factory=list)
    name: str | None = None
    tool_calls: list[dict] = field(default_factory=list)


@dataclass
class Conversation:
    turns: list[Turn]
    labels: dict[str, Any]

    @property
    def last_user(self) -> str:
        for turn in reversed(self.turns):
            if turn.role == "user":
                return turn.text.strip()
        return ""

    @property
    def system(self) -> str:
        return "\n".join(t.text for t in self.turns if t.role == "system").strip()

    @property
    def context(self) -> list[str]:
        return [t.text for t in self.turns if t.role == "context" and t.text.strip()]

    @property
    def images(self) -> list[str]:
        """Image references (URLs, data URIs, asset references) of the last user turn."""
        for turn in reversed(self.turns):
            if turn.role == "user":
                return turn.images
        return []

    @property
    def last(self) -> Turn | None:
        return self.turns[-1] if self.turns else None


def read(messages: list[dict]) -> Conversation:
    """Turns of a validated ``messages`` list; the trailing labels message is taken apart."""
    turns: list[Turn] = []
    labels: dict[str, Any] = {}
    for message in messages:
        if message.get("labels") is not None and message.get("role") == "assistant":
            labels.update(message["labels"])
            if not message.get("content"):
                continue
        text, images = content_parts(message.get("content"))
        turns.append(
            Turn(
                message.get("role", "user"),
                text,
                images,
                message.get("name"),
                list(message.get("tool_calls") or []),
            )
        )
    return Conversation(turns, labels)


def content_parts(content: Any) -> tuple[str, list[str]]:
    """(text, image references) of a message's ``content`` in any shape the service takes."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return _text_with_tags(content)
    texts: list[str] = []
    images: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                text, found = _text_with_tags(part)
                texts.append(text)
                images.extend(found)
            elif isinstance(part, dict):
                ref = image_ref(part)
                if ref is not None:
                    images.append(ref)
                elif isinstance(part.get("text"), str):
                    text, found = _text_with_tags(part["text"])
                    texts.append(text)
                    images.extend(found)
    else:
        texts.append(json.dumps(content, ensure_ascii=False))
    return "\n".join(t for t in texts if t), images


def image_ref(part: dict) -> str | None:
    """The URL of an image part: OpenAI ``{"url"}`` or the nv-vlm flattened string."""
    if part.get("type") not in ("image_url", "image") and "image_url" not in part:
        return None
    value = part.get("image_url", part.get("url"))
    if isinstance(value, dict):
        value = value.get("url")
    return value if isinstance(value, str) else None


def _text_with_tags(text: str) -> tuple[str, list[str]]:
    images = IMG_TAG.findall(text)
    if images:
        text = IMG_TAG.sub("", text).strip()
    return text, images
