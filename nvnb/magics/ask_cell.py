"""A ``%%nvchat`` cell's question: the prompt and options filled in from the kernel, asked through
the session (streamed into a pane, or as text), and the answer stored and shown as the cell's
output; an interrupted answer keeps its partial text. ``%nvchat fix`` asks the same way.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from IPython.core.error import UsageError

from nvnb._prompt_template import interpolate, resolve_argument
from nvnb.answers import partial_text
from nvnb.magics.answer_output import (
    MarkdownAnswer,
    ShownWhenTextArrives,
    TextStream,
    final_display,
)
from nvnb.magics.cell_failure import AnswerInterrupted, CellFailure, brief_errors
from nvnb.magics.cell_options import output_name, parse_labels
from nvnb.magics.kernel_errors import last_error

Lookup = Callable[[str], Any]

FIX_PROMPT = (
    "This error was raised in my Jupyter notebook{where}. Explain briefly what caused it, "
    "then propose a fix as corrected code.\n\n{code}Error:\n```\n{error}\n```"
)


def _is_terminal(shell: Any) -> bool:
    """A terminal IPython prints what it displays as plain text: no widgets, no second copy."""
    module = sys.modules.get("IPython.terminal.interactiveshell")
    return module is not None and isinstance(shell, module.TerminalInteractiveShell)


def _widgets_shown(shell: Any) -> bool:
    """Whether a front end that renders widgets may be attached (a kernel, not a plain shell)."""
    return getattr(shell, "kernel", None) is not None


def _stream_pane(session: Any) -> Any:
    from nvnb.widgets import StreamPane
    from nvnb.widgets.stop_on_arrival import stop_on_arrival

    # The cell blocks while it streams: its Stop is shown only where the click is heard at once
    # (stop_on_arrival); otherwise Kernel > Interrupt stops it, keeping the partial text.
    pane = StreamPane(session=session, stoppable=False)
    pane.stoppable = stop_on_arrival(pane, pane.stop_streaming)
    return pane


def _show_partial(text: str) -> None:
    from IPython.display import display

    display(final_display(text, "markdown"))


def _warn_missing(missing: list[str]) -> None:
    names = ", ".join("{" + name + "}" for name in missing)
    print(
        f"note: {names} {'names' if len(missing) == 1 else 'name'} nothing in "
        "this kernel, so it is sent as written "
        "(define the variable first if you meant one)",
        file=sys.stderr,
    )


def ask(shell: Any, args: Any, prompt: str, lookup: Lookup, *, template: bool = True) -> Any:
    """Ask the cell's question (``template``: fill its ``{name}`` references first) and return
    the cell's output."""
    out = output_name(args.out)
    prompt = prompt.strip("\n").rstrip()  # the body's trailing newline is not the prompt's
    if args.map is not None:
        from nvnb.magics.map_cell import map_cell

        return map_cell(shell.user_ns, args, prompt, out, lookup)
    if template:
        missing: list[str] = []
        prompt = interpolate(prompt, lookup, missing)
        if missing:
            _warn_missing(missing)
    overrides: dict[str, Any] = {}
    models = [interpolate(m, lookup).strip() for m in args.model or []]
    if len(models) == 1:
        overrides["model"] = models[0]
    if args.system is not None:
        overrides["system"] = interpolate(args.system, lookup)
    for option in ("temperature", "max_tokens", "top_p", "seed"):
        value = getattr(args, option)
        if value is not None:
            overrides[option] = value
    if args.stop:
        overrides["stop"] = [resolve_argument(s, lookup) for s in args.stop]
    if args.labels is not None:
        overrides["labels"] = parse_labels(interpolate(args.labels, lookup))
    images: list[Any] = []
    for option in args.image:
        value = resolve_argument(option, lookup)
        # --image {shots} with a list of images sends them all
        images.extend(value if isinstance(value, (list, tuple)) else [value])
    context = None
    if args.context is not None:
        context = resolve_argument(args.context, lookup)
        context = context if isinstance(context, str) else str(context)

    from nvnb.session import session as kernel_session  # LangChain, httpx, Pillow: on first use

    session = kernel_session()
    if len(models) > 1:
        from nvnb.magics.arena_cell import arena_cell

        widgets = _widgets_shown(shell)
        return arena_cell(
            shell,
            session,
            models,
            prompt,
            widgets=widgets,
            out=out,
            images=images,
            context=context,
            **overrides,
        )
    terminal = _is_terminal(shell)
    sink: Any = None
    if not args.no_stream:
        use_widget = not args.no_widget and not terminal and _widgets_shown(shell)
        if use_widget:
            from nvnb.widgets.transient import retire, show_transient

            sink = ShownWhenTextArrives(
                lambda: _stream_pane(session), show_transient, retire, _show_partial
            )
        else:
            # a kernel's stdout flushes itself; elsewhere show each token as it comes
            sink = TextStream(flush_each=getattr(shell, "kernel", None) is None)

    def hint_for(exc: BaseException) -> str | None:
        # ".partial_text" means nothing to a notebook user: say where the text is.
        if partial_text(exc) and sink is not None:
            return "the text received before the error is shown above"
        return _magic_hint(exc)

    with brief_errors(hint_for):
        answer = session.ask(
            prompt, images=images, context=context, chat=args.chat, sink=sink, **overrides
        )
    # A pane steps aside at the end: the answer is then shown once, below.
    printed = isinstance(sink, TextStream)
    return _deliver(shell, answer, args, out, streamed=printed, terminal=terminal)


def _deliver(
    shell: Any,
    answer: Any,
    args: Any,
    out: str | None,
    *,
    streamed: bool,
    terminal: bool,
) -> Any:
    """Store and show a finished (or interrupted) answer; the result is the cell's output."""
    text = answer.text
    if answer.stopped and answer.stop_reason == "interrupt":
        _interrupted(shell, answer, args, out, streamed=streamed, terminal=terminal)
    if not text and getattr(answer, "refusal_note", ""):  # a refusal, said plainly
        if args.format in ("code", "json"):
            raise CellFailure(answer.refusal_note, hint="rephrase, or try another model")
        text = answer.refusal_note
    try:
        shown = final_display(text, args.format, getattr(answer, "reasoning", None))
    except ValueError as exc:
        raise CellFailure(
            f"the answer is not valid JSON ({exc})",
            hint="ask for JSON only, or use -f text to see the raw answer",
        ) from None
    if isinstance(shown, MarkdownAnswer) and answer.stopped:
        shown.stopped = True
    if hasattr(shown, "provenance"):  # saved in the output's metadata
        from nvnb.notebook_export import provenance

        shown.provenance = provenance(answer)
    if out is not None:
        shell.user_ns[out] = shown if args.format == "json" else str(shown)
    if args.format == "code":
        shell.set_next_input(str(shown), replace=False)
    if terminal and streamed and args.format != "json":
        return None  # already printed as it streamed
    if out is not None and streamed:
        return None  # -o stores it without showing it again: it was printed as it streamed
    return shown


def _interrupted(
    shell: Any, answer: Any, args: Any, out: str | None, *, streamed: bool, terminal: bool
) -> NoReturn:
    text = answer.text
    if out is not None:
        shell.user_ns[out] = text
    if text and not (terminal and streamed):
        from IPython.display import display

        display(final_display(text, "text" if args.format == "text" else "markdown"))
    kept = f"{len(text)} characters kept in the output" if text else "no text had arrived"
    if text and out is not None:
        kept += f", in {out}"
    if text:
        kept += " and in the history"
    raise AnswerInterrupted(f"answer stopped; {kept}")


def fix(shell: Any, args: Any, rest: list[str], lookup: Lookup) -> Any:
    """``%nvchat fix``: the kernel's last error, and the cell that raised it, as the question."""
    if rest:
        raise UsageError("%nvchat fix takes options only (e.g. -m MODEL)")
    found = last_error(shell)
    if found is None:
        raise CellFailure("no error to fix: no cell of this kernel has raised one yet")
    count, error = found
    code = ""
    where = ""
    history = shell.user_ns.get("In")
    if count is not None and isinstance(history, list) and 0 < count < len(history):
        where = f" by cell [{count}]"
        code = f"Code of the cell:\n```python\n{history[count]}\n```\n\n"
    prompt = FIX_PROMPT.format(where=where, code=code, error=error)
    # The traceback is not a template: send it as it is, braces and all.
    return ask(shell, args, prompt, lookup, template=False)


def _magic_hint(exc: BaseException) -> str | None:
    """The client's hint in a cell's words: a cell has no ``llm`` to set ``payload_fn`` on."""
    message = str(exc)
    if "payload_fn" not in message:
        return None
    match = re.search(r"does not accept '([^']+)'", message)
    field = f" {match.group(1)!r}" if match else " a field nvnb sent"
    return (
        f"this model refuses{field}: leave out the %%nvchat option or session setting "
        "that sets it, or try another model (%nvchat models)"
    )
