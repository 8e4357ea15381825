"""The conversation: its turns as the messages of the next request, and as Markdown."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from nvnb.answers import Turn

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage


def request_messages(
    user: Turn,
    *,
    system: str,
    history: Sequence[Turn],
    chat: bool,
    images: bool,
) -> list[BaseMessage]:
    """The messages of one request: the system prompt, earlier turns when ``chat`` (their
    images only when the model takes ``images``), the QA context, then the question."""
    from langchain_core.messages import ChatMessage, SystemMessage

    messages: list[Any] = []
    if system:
        messages.append(SystemMessage(content=system))
    if chat:
        messages += [turn.to_message(images=images) for turn in history]
    if user.context is not None:
        messages.append(ChatMessage(role="context", content=user.context))
    messages.append(user.to_message())
    return messages


def conversation_messages(system: str, history: Sequence[Turn]) -> list[BaseMessage]:
    """The conversation as LangChain messages (system prompt first, when set)."""
    from langchain_core.messages import SystemMessage

    out: list[BaseMessage] = []
    if system:
        out.append(SystemMessage(content=system))
    out += [turn.to_message() for turn in history]
    return out


def conversation_markdown(system: str, history: Sequence[Turn], shown: Callable[[str], str]) -> str:
    """The conversation; every outside text (prompts, answers, names) goes through ``shown``."""
    lines = ["# Conversation", ""]
    if system:
        lines += ["**System:** " + shown(system), ""]
    for turn in history:
        if turn.role == "user":
            lines += ["## You", "", shown(turn.content), ""]
            if turn.images:
                lines += [f"*({len(turn.images)} image(s) attached)*", ""]
        else:
            model = turn.answer.model if turn.answer else ""
            heading = shown(model) if model else "Assistant"
            note = turn.answer.refusal_note if turn.answer is not None else ""
            lines += [f"## {heading}", "", shown(turn.content or note), ""]
            if turn.answer is not None and turn.answer.stopped:
                lines += ["*(stopped)*", ""]
    return "\n".join(lines).rstrip() + "\n"
