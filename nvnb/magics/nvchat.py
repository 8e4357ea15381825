"""``%%nvchat`` and ``%nvchat …``: NVIDIA's models from a notebook cell.

The magics keep no state of their own: every setting and the conversation live in the kernel's
:class:`nvnb.session.Session`, so the magics and the widgets always agree. Only IPython and the
standard library are imported here; the session (and with it LangChain, httpx, Pillow) loads on
first use, so ``%load_ext nvnb`` stays instant.
"""

from __future__ import annotations

import inspect
import keyword
import os
import re
import shlex
import sys
from typing import Any, NoReturn

from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments

from nvnb.answers import partial_text
from nvnb.magics.answer_output import (
    FORMATS,
    MarkdownAnswer,
    ShownWhenTextArrives,
    TextStream,
    final_display,
    retire_pane,
    show_pane,
)
from nvnb.magics.cell_failure import AnswerInterrupted, CellFailure, brief_errors
from nvnb.magics.kernel_errors import ErrorsByCell, last_error
from nvnb.magics.settings_rows import config_rows, where
from nvnb.magics.stop_on_arrival import stop_on_arrival
from nvnb.prompt_template import interpolate, resolve_argument

COMMANDS = (
    "fix",
    "models",
    "use",
    "labels",
    "reset",
    "history",
    "key",
    "config",
    "log",
    "last",
    "cache",
    "help",
)
"""The line magic's commands (described in the magic's docstring, which ``%nvchat help`` shows)."""

FIX_PROMPT = (
    "This error was raised in my Jupyter notebook{where}. Explain briefly what caused it, "
    "then propose a fix as corrected code.\n\n{code}Error:\n```\n{error}\n```"
)


def _session() -> Any:
    from nvnb.session import session

    return session()


def _is_terminal(shell: Any) -> bool:
    """A terminal IPython prints what it displays as plain text: no widgets, no second copy."""
    module = sys.modules.get("IPython.terminal.interactiveshell")
    return module is not None and isinstance(shell, module.TerminalInteractiveShell)


def _widgets_shown(shell: Any) -> bool:
    """Whether a front end that renders widgets may be attached (a kernel with ipywidgets)."""
    if getattr(shell, "kernel", None) is None:
        return False
    try:
        from nvnb.widgets import StreamPane  # noqa: F401
    except ImportError:
        return False
    return True


def _stream_pane(session: Any) -> Any:
    from nvnb.widgets import StreamPane

    # The cell blocks while it streams: its Stop is shown only where the click is heard at once
    # (stop_on_arrival); otherwise Kernel > Interrupt stops it, keeping the partial text.
    pane = StreamPane(session=session, stoppable=False)
    pane.stoppable = stop_on_arrival(pane, pane.stop_streaming)
    return pane


def _show_partial(text: str) -> None:
    from IPython.display import display

    display(final_display(text, "markdown"))


def parse_labels(text: str) -> dict[str, int]:
    """``--labels`` / ``%nvchat labels`` text → a dict (:func:`nvnb.catalog.parse_labels`); a
    malformed pair fails the cell in one line."""
    from nvnb.catalog import parse_labels as parse
    from nvnb.errors import InvalidInputError

    try:
        return parse(text)
    except InvalidInputError as exc:
        raise CellFailure(str(exc)) from None


def _parse_options(line: str) -> Any:
    """The options of a ``%nvchat`` line, quotes removed as a shell would (``-s "Be brief."``)."""
    posix = os.name != "nt"  # keep Windows paths' backslashes
    try:
        argv = shlex.split(line, posix=posix)
    except ValueError as exc:
        raise UsageError(f"%nvchat options: {exc}") from None
    if not posix:
        argv = [a[1:-1] if len(a) > 1 and a[0] == a[-1] and a[0] in "'\"" else a for a in argv]
    return NVChatMagics.nvchat.parser.parse_args(argv)


def readable_help(doc: str) -> str:
    """A reStructuredText docstring as plain text: no ``::`` markers, no double backticks."""
    lines = []
    for line in inspect.cleandoc(doc).splitlines():
        if line.strip() == "::":
            continue
        if line.endswith("::"):
            line = line[:-1]
        lines.append(line.replace("``", ""))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _output_name(name: str | None) -> str | None:
    if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
        raise CellFailure(f"-o needs a variable name, not {name!r}")
    return name


@magics_class
class NVChatMagics(Magics):
    """The ``nvchat`` line and cell magic."""

    def _lookup(self, name: str) -> Any:
        namespace = self.shell.user_ns
        if name in namespace:
            return namespace[name]
        if name == "Err":
            return ErrorsByCell(self.shell)
        raise KeyError(name)

    @no_var_expand
    @magic_arguments()
    @argument(
        "-m",
        "--model",
        action="append",
        help="model id or alias (default: the session's model); repeat it (2–4) to compare "
        "models side by side in an Arena",
    )
    @argument("-s", "--system", help="system prompt for this question")
    @argument("-t", "--temperature", type=float, help="sampling temperature")
    @argument("--max-tokens", type=int, help="maximum tokens in the answer")
    @argument("--top-p", type=float, help="nucleus sampling probability")
    @argument("--seed", type=int, help="random seed")
    @argument("--stop", action="append", metavar="TEXT|{var}", help="stop sequence (repeatable)")
    @argument("--labels", help="SteerLM labels, e.g. creativity=9,verbosity=0")
    @argument(
        "--image",
        action="append",
        default=[],
        metavar="PATH|URL|{var}",
        help="an image to send (repeatable)",
    )
    @argument("--context", metavar="TEXT|{var}", help="the context a QA model answers from")
    @argument("-o", "--out", metavar="NAME", help="store the answer in the variable NAME")
    @argument(
        "--map",
        metavar="ROWS",
        help="run the prompt over each row of the variable ROWS (a DataFrame or list of "
        "dicts; {column} is filled per row) with nvnb.map; -o stores the result",
    )
    @argument(
        "-f",
        "--format",
        choices=FORMATS,
        default="markdown",
        help="markdown (default), code (into a new cell), text, or json (parsed)",
    )
    @argument(
        "--chat",
        action="store_true",
        help="continue the session's conversation (default: a single question)",
    )
    @argument("--no-stream", action="store_true", help="show the answer only when complete")
    @argument("--no-widget", action="store_true", help="stream as plain text, not in a widget")
    @argument(
        "command",
        nargs="*",
        help="line magic only: fix, models [FILTER], use MODEL, labels k=v..., reset, "
        "history, key, config, log, last, cache, help",
    )
    @line_cell_magic
    def nvchat(self, line: str, cell: str | None = None) -> Any:
        """Ask an NVIDIA model; the cell body is the prompt.

        ::

            %%nvchat -m meta/llama-3.1-8b-instruct -t 0.2
            Explain this code: {In[3]}

        ``{name}`` is replaced by a variable's value, ``{In[n]}``/``{Out[n]}`` by a cell's
        input/output, ``{Err[n]}`` by the error raised in cell n. Braces that name nothing
        (code, JSON) are sent untouched; ``{{name}}`` sends ``{name}`` literally.

        The answer streams into the output; the cell blocks until it is complete, and the
        kernel's interrupt stops it (the partial answer is kept). All settings and the
        conversation live in ``nvnb.session()``, shared with the widgets.

        Line magics::

            %nvchat fix              explain the last error and propose a fix
            %nvchat models [FILTER]  the catalog as a table
            %nvchat use MODEL        make MODEL the session's model
            %nvchat labels k=v ...   set SteerLM labels (reset: none)
            %nvchat reset            forget the conversation
            %nvchat history          the conversation as Markdown
            %nvchat last             the last request as Python, %%nvchat and curl, its body
                                     and how it went (status, request id, retries)
            %nvchat key              enter an API key (hidden, never stored)
            %nvchat config           the effective settings, key masked
            %nvchat log [N] [MODEL]  the last N calls of the call log
            %nvchat cache PATH [MODE]  answer repeats from PATH (auto|record|replay; off)
            %nvchat help             this help
        """
        args = _parse_options(line)
        if cell is not None:
            if args.command:
                raise UsageError(
                    f"%%nvchat takes options only, not {' '.join(args.command)!r}; "
                    "the prompt is the cell body"
                )
            return self._ask(args, cell)
        if not args.command:
            return self._help()
        name, *rest = args.command
        if name == "fix":
            return self._fix(args, rest)
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None or name not in COMMANDS:
            raise UsageError(
                f"%nvchat has no command {name!r}; commands: {', '.join(COMMANDS)}. "
                "To ask a question, use the cell magic %%nvchat."
            )
        return handler(rest)

    # ------------------------------------------------------------------------- asking
    def _ask(self, args: Any, prompt: str, *, template: bool = True) -> Any:
        out = _output_name(args.out)
        prompt = prompt.strip("\n").rstrip()  # the body's trailing newline is not the prompt's
        if args.map is not None:
            return self._map(args, prompt, out)
        if template:
            missing: list[str] = []
            prompt = interpolate(prompt, self._lookup, missing)
            if missing:
                names = ", ".join("{" + name + "}" for name in missing)
                print(
                    f"note: {names} {'names' if len(missing) == 1 else 'name'} nothing in "
                    "this kernel, so it is sent as written "
                    "(define the variable first if you meant one)",
                    file=sys.stderr,
                )
        overrides: dict[str, Any] = {}
        models = [interpolate(m, self._lookup).strip() for m in args.model or []]
        if len(models) == 1:
            overrides["model"] = models[0]
        if args.system is not None:
            overrides["system"] = interpolate(args.system, self._lookup)
        for option in ("temperature", "max_tokens", "top_p", "seed"):
            value = getattr(args, option)
            if value is not None:
                overrides[option] = value
        if args.stop:
            overrides["stop"] = [resolve_argument(s, self._lookup) for s in args.stop]
        if args.labels is not None:
            overrides["labels"] = parse_labels(interpolate(args.labels, self._lookup))
        images: list[Any] = []
        for option in args.image:
            value = resolve_argument(option, self._lookup)
            # --image {shots} with a list of images sends them all
            images.extend(value if isinstance(value, (list, tuple)) else [value])
        context = None
        if args.context is not None:
            context = resolve_argument(args.context, self._lookup)
            context = context if isinstance(context, str) else str(context)

        session = _session()
        if len(models) > 1:
            from nvnb.arena import arena_cell

            return arena_cell(
                session, models, prompt, out=out, images=images, context=context, **overrides
            )
        terminal = _is_terminal(self.shell)
        sink: Any = None
        if not args.no_stream:
            use_widget = not args.no_widget and not terminal and _widgets_shown(self.shell)
            if use_widget:
                sink = ShownWhenTextArrives(
                    lambda: _stream_pane(session), show_pane, retire_pane, _show_partial
                )
            else:
                # a kernel's stdout flushes itself; elsewhere show each token as it comes
                sink = TextStream(flush_each=getattr(self.shell, "kernel", None) is None)

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
        return self._deliver(answer, args, out, streamed=printed, terminal=terminal)

    def _map(self, args: Any, template: str, out: str | None) -> Any:
        from nvnb.magics.map_cell import map_cell

        return map_cell(self.shell.user_ns, args, template, out, self._lookup)

    def _deliver(
        self,
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
            return self._interrupted(answer, args, out, streamed=streamed, terminal=terminal)
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
            self.shell.user_ns[out] = shown if args.format == "json" else str(shown)
        if args.format == "code":
            self.shell.set_next_input(str(shown), replace=False)
        if terminal and streamed and args.format != "json":
            return None  # already printed as it streamed
        if out is not None and streamed:
            return None  # -o stores it without showing it again: it was printed as it streamed
        return shown

    def _interrupted(
        self, answer: Any, args: Any, out: str | None, *, streamed: bool, terminal: bool
    ) -> NoReturn:
        text = answer.text
        if out is not None:
            self.shell.user_ns[out] = text
        if text and not (terminal and streamed):
            from IPython.display import display

            display(final_display(text, "text" if args.format == "text" else "markdown"))
        kept = f"{len(text)} characters kept in the output" if text else "no text had arrived"
        if text and out is not None:
            kept += f", in {out}"
        if text:
            kept += " and in the history"
        raise AnswerInterrupted(f"answer stopped; {kept}")

    def _fix(self, args: Any, rest: list[str]) -> Any:
        if rest:
            raise UsageError("%nvchat fix takes options only (e.g. -m MODEL)")
        found = last_error(self.shell)
        if found is None:
            raise CellFailure("no error to fix: no cell of this kernel has raised one yet")
        count, error = found
        code = ""
        where = ""
        history = self.shell.user_ns.get("In")
        if count is not None and isinstance(history, list) and 0 < count < len(history):
            where = f" by cell [{count}]"
            code = f"Code of the cell:\n```python\n{history[count]}\n```\n\n"
        prompt = FIX_PROMPT.format(where=where, code=code, error=error)
        # The traceback is not a template: send it as it is, braces and all.
        return self._ask(args, prompt, template=False)

    # ------------------------------------------------------------------------- commands
    def _help(self) -> None:
        print(readable_help(self.nvchat.__doc__ or ""))

    def _cmd_help(self, rest: list[str]) -> None:
        self._help()

    def _cmd_models(self, rest: list[str]) -> None:
        from IPython.display import display

        from nvnb.catalog.table import format_table, markdown_table, matching_models

        session = _session()
        with brief_errors():
            served = session.served_models()  # self-hosted: its own list is the catalog
        models = matching_models(" ".join(rest), models=served)
        current = session.settle_default_model() if served is not None else session.model
        text = format_table(models)
        markdown = markdown_table(models)
        if models:
            markdown += f"\n\n{len(models)} models · the session uses `{current}`"
            text += f"\n\n{len(models)} models · the session uses {current}"
        display({"text/markdown": markdown, "text/plain": text}, raw=True)

    def _cmd_use(self, rest: list[str]) -> None:
        if len(rest) != 1:
            raise UsageError("usage: %nvchat use MODEL")
        session = _session()
        with brief_errors():
            model = _resolve_model(rest[0], session)
        session.model = model.id
        takes = f"; labels: {', '.join(model.labels)}" if model.labels else ""
        print(f"model: {model.id} ({model.type}{takes})")

    def _cmd_labels(self, rest: list[str]) -> None:
        session = _session()
        if rest == ["reset"] or rest == ["clear"]:
            session.labels = {}
        elif rest:
            with brief_errors():
                session.labels = {**session.labels, **parse_labels(" ".join(rest))}
        labels = ", ".join(f"{k}={v}" for k, v in session.labels.items()) or "none"
        note = ""
        if session.labels and not session.takes_labels:
            note = f" (model {session.model} takes no labels; they apply to SteerLM models)"
        print(f"labels: {labels}{note}")

    def _cmd_reset(self, rest: list[str]) -> None:
        session = _session()
        turns = len(session.history)
        session.clear_history()
        print(f"conversation cleared ({turns} messages); model {session.model} kept")

    def _cmd_history(self, rest: list[str]) -> None:
        from IPython.display import display

        session = _session()
        if not session.history:
            print("no conversation yet")
            return
        markdown = session.to_markdown()
        display({"text/markdown": markdown, "text/plain": markdown}, raw=True)

    def _cmd_last(self, rest: list[str]) -> None:
        from IPython.display import display

        from nvnb.calls.record import last_call
        from nvnb.request_code import last_request_code

        if rest:
            raise UsageError("usage: %nvchat last")
        with brief_errors():
            code = last_request_code(_session())
        text, markdown = str(code), code.to_markdown()
        record = last_call()  # how it went, from the call log's record of the same request
        if record is not None:
            outcome = record.outcome_lines()
            text += "\n\n" + outcome
            markdown += "\n\n```text\n" + outcome + "\n```"
        display({"text/markdown": markdown, "text/plain": text}, raw=True)

    def _cmd_key(self, rest: list[str]) -> None:
        from nvnb import settings

        try:
            with brief_errors():
                settings.ask_for_key()
                effective = settings.resolve_settings(start_local=False)
        except (EOFError, StdinNotImplementedError):
            raise CellFailure(
                "this front end cannot ask for input",
                hint="set NVIDIA_API_KEY in the kernel's environment, or run %nvchat key in "
                "JupyterLab, Notebook or a terminal IPython",
            ) from None
        print(f"key set for this kernel; new requests go to {where(effective)}")

    def _cmd_config(self, rest: list[str]) -> None:
        from IPython.display import display

        rows = config_rows(_session())
        width = max(len(name) for name, _ in rows)
        text = "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
        markdown = "| setting | value |\n| --- | --- |\n" + "\n".join(
            f"| {name} | `{value}` |" for name, value in rows
        )
        display({"text/markdown": markdown, "text/plain": text}, raw=True)

    def _cmd_log(self, rest: list[str]) -> None:
        from nvnb.magics.calls import show_log

        show_log(rest)

    def _cmd_cache(self, rest: list[str]) -> None:
        from nvnb.magics.calls import cache_command

        cache_command(rest)


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


def _resolve_model(name: str, session: Any) -> Any:
    """The catalog record for ``name``; an id only the live listing knows becomes a chat record."""
    from nvnb.catalog import resolve_model

    def listed() -> list[str]:
        try:
            return session.available_models() or []
        except Exception:  # no listing (offline, no key): the catalog's suggestions will do
            return []

    return resolve_model(name, live=listed)


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%nvchat`` / ``%%nvchat`` (``%load_ext nvnb``)."""
    ipython.register_magics(NVChatMagics)
