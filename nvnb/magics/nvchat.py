"""``%%nvchat`` and ``%nvchat …``: NVIDIA's models from a notebook cell.

The magics keep no state of their own: every setting and the conversation live in the kernel's
:class:`nvnb.session.Session`, so the magics and the widgets always agree. This module is the
magic's front door: its options (which ``%nvchat?`` documents), and where a line goes. The cell's
question is :mod:`nvnb.magics.ask_cell`, the line commands :mod:`nvnb.magics.line_commands`.
Only IPython and the standard library are imported here; the session (and with it LangChain,
httpx, Pillow) loads on first use, so ``%load_ext nvnb`` stays instant.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments

from nvnb.magics.answer_output import FORMATS
from nvnb.magics.ask_cell import ask, fix
from nvnb.magics.cell_options import parse_options
from nvnb.magics.kernel_errors import ErrorsByCell
from nvnb.magics.line_commands import LINE_COMMANDS

COMMANDS = ("fix", *LINE_COMMANDS, "help")
"""The line magic's commands (described in the magic's docstring, which ``%nvchat help`` shows)."""


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
        args = parse_options(line, NVChatMagics.nvchat.parser)
        if cell is not None:
            if args.command:
                raise UsageError(
                    f"%%nvchat takes options only, not {' '.join(args.command)!r}; "
                    "the prompt is the cell body"
                )
            return ask(self.shell, args, cell, self._lookup)
        if not args.command:
            return self._help()
        name, *rest = args.command
        if name == "help":
            return self._help()
        if name == "fix":
            return fix(self.shell, args, rest, self._lookup)
        command = LINE_COMMANDS.get(name)
        if command is None:
            raise UsageError(
                f"%nvchat has no command {name!r}; commands: {', '.join(COMMANDS)}. "
                "To ask a question, use the cell magic %%nvchat."
            )
        return command(rest)

    def _help(self) -> None:
        print(readable_help(self.nvchat.__doc__ or ""))


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%nvchat`` / ``%%nvchat`` (``%load_ext nvnb``)."""
    ipython.register_magics(NVChatMagics)
