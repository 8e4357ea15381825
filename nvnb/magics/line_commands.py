"""The ``%nvchat COMMAND`` line commands that read or set the kernel's session: ``models``,
``use``, ``labels``, ``reset``, ``history``, ``key``, ``config``, ``log``, ``last``, ``cache``.

Each takes the words after its name; what it shows goes to the cell's output. (``fix`` asks a
question, so it lives with the cell's question in :mod:`nvnb.magics.ask_cell`; ``help`` is the
magic's own docstring.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.core.error import StdinNotImplementedError, UsageError

from nvnb.magics.cell_failure import CellFailure, brief_errors
from nvnb.magics.cell_options import parse_labels
from nvnb.magics.settings_rows import config_rows, where


def _session() -> Any:
    from nvnb.session import session  # LangChain, httpx, Pillow: on first use

    return session()


def _display(markdown: str, text: str) -> None:
    from IPython.display import display

    display({"text/markdown": markdown, "text/plain": text}, raw=True)


def models(rest: list[str]) -> None:
    """``%nvchat models [FILTER]``: the catalog (a self-hosted server's own list) as a table."""
    from nvnb.catalog.table import format_table, markdown_table, matching_models

    session = _session()
    with brief_errors():
        served = session.served_models()  # self-hosted: its own list is the catalog
    found = matching_models(" ".join(rest), models=served)
    current = session.settle_default_model() if served is not None else session.model
    text = format_table(found)
    markdown = markdown_table(found)
    if found:
        markdown += f"\n\n{len(found)} models · the session uses `{current}`"
        text += f"\n\n{len(found)} models · the session uses {current}"
    _display(markdown, text)


def use(rest: list[str]) -> None:
    """``%nvchat use MODEL``: the session's model, resolved as the catalog resolves names."""
    if len(rest) != 1:
        raise UsageError("usage: %nvchat use MODEL")
    session = _session()
    with brief_errors():
        model = _resolve_model(rest[0], session)
    session.model = model.id
    takes = f"; labels: {', '.join(model.labels)}" if model.labels else ""
    print(f"model: {model.id} ({model.type}{takes})")


def _resolve_model(name: str, session: Any) -> Any:
    """The catalog record for ``name``; an id only the live listing knows becomes a chat record."""
    from nvnb.catalog import resolve_model

    def listed() -> list[str]:
        try:
            return session.available_models() or []
        except Exception:  # no listing (offline, no key): the catalog's suggestions will do
            return []

    return resolve_model(name, live=listed)


def labels(rest: list[str]) -> None:
    """``%nvchat labels k=v ...``: add SteerLM labels to the session's (``reset``: none)."""
    session = _session()
    if rest == ["reset"] or rest == ["clear"]:
        session.labels = {}
    elif rest:
        with brief_errors():
            session.labels = {**session.labels, **parse_labels(" ".join(rest))}
    shown = ", ".join(f"{k}={v}" for k, v in session.labels.items()) or "none"
    note = ""
    if session.labels and not session.takes_labels:
        note = f" (model {session.model} takes no labels; they apply to SteerLM models)"
    print(f"labels: {shown}{note}")


def reset(rest: list[str]) -> None:
    """``%nvchat reset``: forget the conversation, keep the model."""
    session = _session()
    turns = len(session.history)
    session.clear_history()
    print(f"conversation cleared ({turns} messages); model {session.model} kept")


def history(rest: list[str]) -> None:
    """``%nvchat history``: the conversation as (inert) Markdown."""
    session = _session()
    if not session.history:
        print("no conversation yet")
        return
    markdown = session.to_markdown()
    _display(markdown, markdown)


def last(rest: list[str]) -> None:
    """``%nvchat last``: the last request as code, and how it went (from its call record)."""
    from nvnb.request_code import last_request_code

    if rest:
        raise UsageError("usage: %nvchat last")
    with brief_errors():
        code = last_request_code(_session())
    # the forms and how it went, from the one record of the request the log wrote too
    _display(code.to_markdown(), str(code))


def key(rest: list[str]) -> None:
    """``%nvchat key``: ask for an API key (hidden, never stored) and say where requests go."""
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


def config(rest: list[str]) -> None:
    """``%nvchat config``: the effective settings, the key masked."""
    rows = config_rows(_session())
    width = max(len(name) for name, _ in rows)
    text = "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
    markdown = "| setting | value |\n| --- | --- |\n" + "\n".join(
        f"| {name} | `{value}` |" for name, value in rows
    )
    _display(markdown, text)


def log(rest: list[str]) -> None:
    """``%nvchat log [N] [MODEL]``: the last calls of the call log."""
    from nvnb.magics.calls import show_log

    show_log(rest)


def cache(rest: list[str]) -> None:
    """``%nvchat cache PATH [MODE]``: answer repeats from a response cache."""
    from nvnb.magics.calls import cache_command

    cache_command(rest)


LINE_COMMANDS: dict[str, Callable[[list[str]], None]] = {
    "models": models,
    "use": use,
    "labels": labels,
    "reset": reset,
    "history": history,
    "key": key,
    "config": config,
    "log": log,
    "last": last,
    "cache": cache,
}
"""Each command by its name, in the order ``%nvchat help`` lists them."""
