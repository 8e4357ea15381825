"""What %%nvchat shows: live text, the final plain display per format, short errors, Err[n]."""

from __future__ import annotations

import io

import pytest
from IPython.core.formatters import DisplayFormatter
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from nvnb.magics.answer_output import (
    CodeAnswer,
    MarkdownAnswer,
    ShownWhenTextArrives,
    TextAnswer,
    TextStream,
    extract_code,
    final_display,
    parse_json,
)
from nvnb.magics.cell_failure import AnswerInterrupted, CellFailure, short_lines, shortened
from nvnb.magics.kernel_errors import ErrorsByCell, last_error, plain


def bundle(obj: object) -> dict[str, str]:
    data, _ = DisplayFormatter().format(obj)
    return data


def test_text_stream_writes_deltas_as_they_come_and_ends_the_line() -> None:
    out = io.StringIO()
    stream = TextStream(out)
    stream.on_delta("Hel")
    assert out.getvalue() == "Hel"
    stream.on_delta("lo")
    stream.on_end(None)
    assert out.getvalue() == "Hello\n"


def test_text_stream_adds_no_blank_line_after_an_answer_ending_in_newline() -> None:
    out = io.StringIO()
    stream = TextStream(out)
    stream.on_delta("line\n")
    stream.on_error(RuntimeError("x"))
    assert out.getvalue() == "line\n"


def test_text_stream_in_a_kernel_leaves_flushing_to_the_kernel() -> None:
    class Counting(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1

    out = Counting()
    stream = TextStream(out, flush_each=False)
    for piece in ("a", "b", "c"):
        stream.on_delta(piece)
    assert out.getvalue() == "abc" and out.flushes == 0


def test_a_live_view_appears_only_when_text_arrives() -> None:
    shown: list[object] = []

    class View:
        def __init__(self) -> None:
            self.events: list[tuple[str, object]] = []

        def on_start(self, answer: object) -> None:
            self.events.append(("start", answer))

        def on_delta(self, text: str) -> None:
            self.events.append(("delta", text))

        def on_end(self, answer: object) -> None:
            self.events.append(("end", answer))

    refused = ShownWhenTextArrives(View, shown.append)
    refused.on_error(ValueError("bad labels"))
    assert shown == [] and refused.view is None
    failed = ShownWhenTextArrives(View, shown.append)  # started, then failed before any text
    failed.on_start("answer")
    failed.on_error(ValueError("unknown model"))
    assert shown == [] and not failed.shown

    sink = ShownWhenTextArrives(View, shown.append)
    sink.on_start("answer")
    assert shown == []
    sink.on_delta("Hi")
    sink.on_reasoning("hmm")  # the view has no on_reasoning: skipped
    sink.on_end("answer")
    assert shown == [sink.view]
    assert sink.view.events == [("start", "answer"), ("delta", "Hi"), ("end", "answer")]


def test_a_markdown_answer_is_a_str_shown_as_markdown_and_plain_text() -> None:
    answer = final_display("**bold** {x}", "markdown")
    assert isinstance(answer, MarkdownAnswer)
    assert isinstance(answer, str) and answer == "**bold** {x}"
    data = bundle(answer)
    assert data["text/markdown"] == "**bold** {x}"
    assert data["text/plain"] == "**bold** {x}"  # no quotes, no repr


def test_reasoning_is_folded_away_in_the_markdown_only() -> None:
    data = bundle(final_display("42", "markdown", reasoning="think hard"))
    assert data["text/markdown"].startswith("<details><summary>reasoning</summary>")
    assert data["text/markdown"].endswith("42")
    assert data["text/plain"] == "42"


def test_text_format_shows_plain_text_only() -> None:
    answer = final_display("*not markdown*", "text")
    assert isinstance(answer, TextAnswer)
    assert bundle(answer) == {"text/plain": "*not markdown*"}


def test_code_format_takes_the_fenced_blocks() -> None:
    text = "Here:\n\n```python\nprint(1)\n```\n\nand\n\n```python\nprint(2)\n```\nDone."
    answer = final_display(text, "code")
    assert isinstance(answer, CodeAnswer)
    assert answer == "print(1)\n\nprint(2)"
    assert bundle(answer)["text/markdown"] == "```python\nprint(1)\n\nprint(2)\n```"


def test_code_format_keeps_an_answer_without_fences_whole() -> None:
    assert extract_code("x = 1\n") == ("x = 1", "")
    assert extract_code("~~~js\nlet a\n~~~") == ("let a", "js")


def test_json_format_parses_bare_or_fenced_json() -> None:
    assert final_display('{"a": [1, 2]}', "json") == {"a": [1, 2]}
    assert parse_json('Sure:\n```json\n{"ok": true}\n```') == {"ok": True}
    with pytest.raises(ValueError):
        parse_json("not json at all")


def test_an_expected_failure_renders_as_one_red_line_and_its_hint() -> None:
    lines = short_lines(CellFailure("bad value", hint="try another"))
    assert plain(lines[0]) == "CellFailure: bad value"
    assert lines[1:] == ["Hint: try another"]


def test_a_hint_can_be_replaced_for_the_notebook() -> None:
    lines = short_lines(CellFailure("broke off", hint="see .partial_text"), "shown above")
    assert lines[1:] == ["Hint: shown above"]


def test_shortening_keeps_the_type_and_attributes() -> None:
    err = ValueError("oops")
    assert shortened(err) is err
    assert plain(err._render_traceback_()[0]) == "ValueError: oops"  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    return InteractiveShell.instance()


def test_a_shortened_error_marks_the_cell_failed_without_a_traceback(
    shell: InteractiveShell,
) -> None:
    shell.user_ns["CellFailure"] = CellFailure
    with capture_output() as captured:
        result = shell.run_cell("raise CellFailure('no key', hint='set one')", store_history=True)
    assert not result.success
    assert isinstance(result.error_in_exec, CellFailure)
    shown = plain(captured.stdout + captured.stderr)
    assert "CellFailure: no key\nHint: set one" in shown
    assert "Traceback" not in shown and "File " not in shown


def test_an_interrupt_reads_as_one_line_and_still_fails_the_cell(shell: InteractiveShell) -> None:
    shell.user_ns["AnswerInterrupted"] = AnswerInterrupted
    with capture_output() as captured:
        result = shell.run_cell("raise AnswerInterrupted('answer stopped')", store_history=True)
    assert not result.success
    assert plain(captured.stdout).strip() == "KeyboardInterrupt: answer stopped"


def test_err_gives_the_traceback_text_of_a_failed_cell(shell: InteractiveShell) -> None:
    with capture_output():
        result = shell.run_cell("1 / 0", store_history=True)
    count = result.execution_count
    errors = ErrorsByCell(shell)
    assert "ZeroDivisionError" in errors[count]
    assert "\x1b[" not in errors[count]
    assert errors[-1] == errors[count]
    with pytest.raises(KeyError):
        errors[count + 100]
    assert last_error(shell) == (count, errors[count])


def test_the_markdown_answer_is_inert_and_keeps_its_formatting() -> None:
    shown = MarkdownAnswer(
        "**Hi** <img src=x onerror=alert(1)>\n```html\n<b>x</b>\n```",
        reasoning="<script>alert(1)</script>",
    )
    markdown = bundle(shown)["text/markdown"]
    assert "<img" not in markdown and "<script>" not in markdown
    assert "**Hi** &lt;img src=x onerror=alert(1)>" in markdown
    assert "```html\n<b>x</b>\n```" in markdown  # code is shown as written
    assert markdown.startswith("<details><summary>reasoning</summary>")
    assert bundle(shown)["text/plain"].startswith("**Hi** <img")  # the text itself is unchanged
    assert str(shown).startswith("**Hi** <img")


def test_a_code_answer_fence_is_longer_than_any_backtick_run_inside() -> None:
    code = "x = 1\n````\n<img src=x onerror=alert(1)>"
    markdown = bundle(CodeAnswer(code, "python"))["text/markdown"]
    assert markdown == f"`````python\n{code}\n`````"


def test_a_stopped_answer_says_so_under_its_markdown_only() -> None:
    answer = final_display("Once upon a", "markdown")
    answer.stopped = True
    data = bundle(answer)
    assert data["text/markdown"] == "Once upon a\n\n*(stopped)*"
    assert data["text/plain"] == "Once upon a" == str(answer)


def test_a_shown_view_steps_aside_at_the_end_and_after_a_failure_the_partial_text_stays() -> None:
    events: list[tuple[str, object]] = []

    class View:
        def on_delta(self, text: str) -> None:
            events.append(("delta", text))

    done = ShownWhenTextArrives(
        View, lambda v: events.append(("show", v)), lambda v: events.append(("retire", v))
    )
    done.on_start("answer")  # the session starts the answer, then streams it
    done.on_delta("Hi")
    done.on_end("answer")
    assert [e[0] for e in events] == ["show", "delta", "retire"] and done.retired

    events.clear()
    failure = ConnectionError("connection dropped")
    failure.partial_text = "Once upon a"  # what a chat model's error carries
    failed = ShownWhenTextArrives(
        View,
        lambda v: events.append(("show", v)),
        lambda v: events.append(("retire", v)),
        lambda text: events.append(("partial", text)),
    )
    failed.on_start("answer")
    failed.on_delta("Once upon a")
    failed.on_error(failure)
    assert [e[0] for e in events] == ["show", "delta", "retire", "partial"]
    assert events[-1] == ("partial", "Once upon a")
