"""Where a ``%%nvchat`` answer goes: live while it streams, then once as a plain display.

While streaming, deltas go to a ``StreamPane`` widget (in a kernel whose front end shows widgets)
or to standard output as plain text. When the answer ends, the pane steps aside and the complete
answer is displayed once as a plain ``text/markdown`` + ``text/plain`` result, which is what saved
notebooks, GitHub and nbval see (as with jupyter-ai's ``%%ai``: one copy).

Why the pane steps aside rather than stays: a widget output saved in a notebook shows "Error
displaying widget: model not found" once the kernel is gone, and its text fallback is the one
taken when it was displayed (before any text; nbval ignores ``update_display_data``, so updating it
at the end would make the saved notebook differ from what nbval sees). So the pane is displayed
with the widget view alone and, at the end, updated to an empty view (``model_id: ""``, which
JupyterLab and Notebook 7 hide) and closed; nbval skips widget views, so both agree.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any

from nvnb._markdown_safety import inert_markdown

FORMATS = ("markdown", "code", "text", "json")


class TextStream:
    """Streams the answer as plain text to standard output (terminal IPython, ``--no-widget``).

    ``flush_each``: flush after every delta (a terminal). A kernel's stdout flushes itself a few
    times per second; flushing per token there would send one message per token, and Jupyter
    drops messages past 1 000 per second.
    """

    def __init__(self, stream: Any = None, *, flush_each: bool = True) -> None:
        self._stream = stream
        self._flush_each = flush_each
        self._open = False

    @property
    def stream(self) -> Any:
        return self._stream if self._stream is not None else sys.stdout

    def on_delta(self, text: str) -> None:
        if text:
            self.stream.write(text)
            if self._flush_each:
                self.stream.flush()
            self._open = not text.endswith("\n")

    def _finish_line(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def on_end(self, answer: Any) -> None:
        self._finish_line()

    def on_error(self, exc: BaseException) -> None:
        self._finish_line()


class ShownWhenTextArrives:
    """A live view (a ``StreamPane``) made when the request starts, displayed with its first text.

    An error before any text (an unknown model, bad labels, a missing image) leaves no view
    behind: the cell's one-line error says it once, with no empty pane or "0 tokens" line beside.
    When the answer ends (done, stopped or failed), ``retire(view)`` takes the view away; on a
    failure, the text received before it is displayed in its place (``show_partial``).
    """

    def __init__(
        self,
        make_view: Callable[[], Any],
        show: Callable[[Any], None],
        retire: Callable[[Any], None] | None = None,
        show_partial: Callable[[str], None] | None = None,
    ) -> None:
        self._make_view = make_view
        self._show = show
        self._retire = retire
        self._show_partial = show_partial
        self.view: Any = None
        self.shown = False
        self.retired = False

    def on_start(self, answer: Any = None) -> None:
        if self.view is None:
            self.view = self._make_view()
        self._forward("on_start", answer)

    def _display(self) -> None:
        if self.view is not None and not self.shown:
            self.shown = True
            self._show(self.view)

    def _forward(self, name: str, value: Any) -> None:
        method = getattr(self.view, name, None) if self.view is not None else None
        if method is not None:
            method(value)

    def _step_aside(self) -> None:
        if self.shown and not self.retired and self._retire is not None:
            self.retired = True
            self._retire(self.view)

    def on_delta(self, text: str) -> None:
        if text:
            self._display()
        self._forward("on_delta", text)

    def on_reasoning(self, text: str) -> None:
        if text:
            self._display()
        self._forward("on_reasoning", text)

    def on_end(self, answer: Any) -> None:
        self._display()
        self._forward("on_end", answer)
        self._step_aside()

    def on_error(self, exc: BaseException) -> None:
        self._forward("on_error", exc)
        if self.shown and not self.retired and self._retire is not None:
            self._step_aside()
            from nvnb.answers import partial_text

            text = partial_text(exc)
            if text and self._show_partial is not None:
                self._show_partial(text)


# --- the final, plain display ----------------------------------------------------------------


class _WithProvenance:
    """``provenance`` (model, parameters, labels, request id, time: ``nvnb.notebook_export``)
    goes into the output's metadata under ``"nvnb"``, saved with the notebook."""

    provenance: dict[str, Any] | None = None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return {}, ({"nvnb": self.provenance} if self.provenance else {})


class MarkdownAnswer(_WithProvenance, str):
    """An answer (a ``str``) that displays as Markdown, with its plain text beside it.

    The Markdown is made inert first (``inert_markdown``): the answer is untrusted text and
    notebooks render Markdown outputs with raw HTML allowed.
    """

    reasoning: str | None = None
    stopped = False  # said under the Markdown: the text is what arrived before Stop

    def __new__(cls, text: str, reasoning: str | None = None) -> MarkdownAnswer:
        obj = super().__new__(cls, text)
        obj.reasoning = reasoning or None
        return obj

    def _repr_markdown_(self) -> str:
        note = "\n\n*(stopped)*" if self.stopped else ""
        if not self.reasoning:
            return inert_markdown(str(self)) + note
        return (
            "<details><summary>reasoning</summary>\n\n"
            + inert_markdown(self.reasoning.strip())
            + "\n\n</details>\n\n"
            + inert_markdown(str(self))
            + note
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


class TextAnswer(_WithProvenance, str):
    """An answer that displays as plain text only (``-f text``)."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


class CodeAnswer(_WithProvenance, str):
    """Code taken from an answer (``-f code``), displayed as a fenced block."""

    language: str = ""

    def __new__(cls, code: str, language: str = "") -> CodeAnswer:
        obj = super().__new__(cls, code)
        obj.language = language
        return obj

    def _repr_markdown_(self) -> str:
        # Longer than any backtick run inside, so no line of the code can close the block early.
        longest = max((len(run) for run in re.findall("`+", self)), default=0)
        fence = "`" * max(3, longest + 1)
        return f"{fence}{self.language or 'python'}\n{self}\n{fence}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


_FENCE = re.compile(r"^(`{3,}|~{3,})[ \t]*([\w+.#-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)


def extract_code(text: str) -> tuple[str, str]:
    """(code, language) of an answer: its fenced blocks joined, or the whole text if none."""
    blocks = [(m.group(3), m.group(2)) for m in _FENCE.finditer(text)]
    if not blocks:
        return text.strip("\n"), ""
    code = "\n\n".join(body.rstrip("\n") for body, _ in blocks)
    return code, blocks[0][1]


def parse_json(text: str) -> Any:
    """The JSON value of an answer (or of its first fenced block that parses), else ValueError."""
    try:
        return json.loads(text)
    except ValueError:
        for match in _FENCE.finditer(text):
            try:
                return json.loads(match.group(3))
            except ValueError:
                continue
        raise


def final_display(text: str, fmt: str, reasoning: str | None = None) -> Any:
    """The object shown once the answer is complete (and returned as the cell's result)."""
    if fmt == "text":
        return TextAnswer(text)
    if fmt == "code":
        code, language = extract_code(text)
        return CodeAnswer(code, language)
    if fmt == "json":
        return parse_json(text)
    return MarkdownAnswer(text, reasoning)
