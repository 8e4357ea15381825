"""The saved copy of a ChatPanel's conversation: a second output, right after the panel's own.

JupyterLab and Notebook 7 never fall back to an output's text once their widget manager is up:
a notebook reopened without the kernel's widget models (saving widget state is off by default,
and costs the whole bundle per model) shows "Error displaying widget: model not found" where the
panel was. So the panel is displayed with a second output, a readable transcript updated
(``update_display``) as the conversation changes; it is what the saved notebook keeps.

- ``text/markdown``: the questions and answers, made inert by
  :func:`nvnb._markdown_safety.inert_markdown` (the repo's one safe display path for model text;
  there is no Markdown-to-HTML path on the Python side, and escaping to HTML would lose the
  answers' formatting), inside a ``<div class="nvnb-saved-transcript">``. A ``<style>`` in it
  hides the transcript while the live panel is drawn in the output just before it (a live user
  sees the conversation once), and hides that output's "model not found" text when there is no
  panel. Both rules name only the output directly before a transcript. They apply where raw HTML
  in Markdown is rendered (trusted notebooks, ``nbconvert``); elsewhere the text shows anyway.
- ``text/plain``: the same conversation as plain text (untrusted notebooks, terminals).

Images are counted ("1 image"), never embedded; the API key is never part of a turn.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from nvnb._markdown_safety import inert_markdown

CLASS = "nvnb-saved-transcript"

# JupyterLab/Notebook 7 (and nbconvert's lab template) put each output in a .jp-OutputArea-child;
# the widget renderer's own node gets .jupyter-widgets only when it shows an error instead of a
# view (a drawn panel is a .nvnb-panel inside it).
STYLE = (
    "<style>"
    f".jp-OutputArea-child:has(.nvnb-panel) + .jp-OutputArea-child:has(.{CLASS})"
    "{display:none}"
    ".jp-OutputArea-child:has(> .jp-OutputArea-output.jupyter-widgets):not(:has(.nvnb-panel))"
    f":has(+ .jp-OutputArea-child .{CLASS}){{display:none}}"
    "</style>"
)

# A rule on the left sets the saved copy apart from the cell's other outputs (theme colours, with
# fallbacks for viewers outside Jupyter).
BOX = "border-left: 3px solid var(--jp-border-color1, #bdbdbd); padding-left: 12px"


def _images(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def _stamp(now: datetime.datetime | None) -> str:
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _answer_note(turn: Any) -> str:
    answer = turn.answer
    if answer is None:
        return ""
    return answer.refusal_note


def transcript_markdown(
    model: str, system: str, turns: Sequence[Any], now: datetime.datetime | None = None
) -> str:
    """The conversation as inert Markdown inside the transcript's ``<div>`` (with its style)."""
    head = (
        f"*Saved copy of a ChatPanel conversation* · model `{inert_markdown(model)}` · "
        f"{_stamp(now)} · run the cell again to continue it"
    )
    lines = [f'<div class="{CLASS}" style="{BOX}">', STYLE, "", head, ""]
    if system:
        lines += [f"**System:** {inert_markdown(system)}", ""]
    if not turns:
        lines += ["*No questions yet.*", ""]
    for turn in turns:
        if turn.role == "user":
            extra = f" *({_images(len(turn.images))})*" if turn.images else ""
            lines += [f"**You**{extra}", "", inert_markdown(turn.content), ""]
        else:
            name = turn.answer.model if turn.answer is not None and turn.answer.model else ""
            label = f"`{inert_markdown(name)}`" if name else "Assistant"
            stopped = " *(stopped)*" if turn.answer is not None and turn.answer.stopped else ""
            body = turn.content or _answer_note(turn)
            lines += [f"**{label}**{stopped}", "", inert_markdown(body), ""]
    # Every block above ends with a blank line, so an answer's last list or quote ends before
    # the closing tag.
    lines.append("</div>")
    return "\n".join(lines)


def transcript_text(
    model: str, system: str, turns: Sequence[Any], now: datetime.datetime | None = None
) -> str:
    """The conversation as plain text (shown where Markdown is not rendered)."""
    lines = [
        f"Saved copy of a ChatPanel conversation (model {model}, {_stamp(now)}).",
        "Run the cell again to continue it.",
    ]
    if system:
        lines += ["", f"System: {system}"]
    if not turns:
        lines += ["", "No questions yet."]
    for turn in turns:
        if turn.role == "user":
            extra = f" ({_images(len(turn.images))})" if turn.images else ""
            lines += ["", f"You{extra}:", turn.content]
        else:
            name = turn.answer.model if turn.answer is not None and turn.answer.model else ""
            stopped = " (stopped)" if turn.answer is not None and turn.answer.stopped else ""
            lines += ["", f"{name or 'Assistant'}{stopped}:", turn.content or _answer_note(turn)]
    return "\n".join(lines)


def transcript_bundle(session: Any, now: datetime.datetime | None = None) -> dict[str, str]:
    """The transcript output's data for ``session``'s conversation."""
    turns = list(session.history)
    args = (session.model, session.system_prompt or "", turns, now)
    return {"text/markdown": transcript_markdown(*args), "text/plain": transcript_text(*args)}


def _key(session: Any) -> tuple[Any, ...]:
    """What the transcript shows, its time stamp aside (an unchanged conversation is not resent)."""
    turns = tuple(
        (
            t.role,
            t.content,
            len(t.images),
            t.answer.model if t.answer is not None else "",
            bool(t.answer is not None and t.answer.stopped),
            _answer_note(t),
        )
        for t in session.history
    )
    return session.model, session.system_prompt or "", turns


class SavedTranscript:
    """The transcript output of one displayed panel: shown once per display, updated in place."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._handles: list[Any] = []
        self._shown: tuple[Any, ...] | None = None

    def show(self) -> None:
        """Display the transcript (a new output with a display id) after the panel's output."""
        from IPython.display import display

        self._shown = _key(self.session)
        self._handles.append(display(transcript_bundle(self.session), raw=True, display_id=True))

    def update(self) -> None:
        """Replace every displayed copy by the current conversation, if it changed."""
        key = _key(self.session)
        if not self._handles or key == self._shown:
            return
        self._shown = key
        data = transcript_bundle(self.session)
        for handle in self._handles:
            handle.update(data, raw=True)
