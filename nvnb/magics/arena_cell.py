"""``%%nvchat -m A -m B``: one cell's prompt to several models, as an Arena.

In a kernel with widgets the :class:`nvnb.Arena` widget shows the answers side by side as they
stream; elsewhere (a terminal, a front end without widgets) each answer is printed when all are
done. The rounds themselves are :mod:`nvnb.arena`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from nvnb.arena import ArenaResult, ArenaRound, check_models
from nvnb.magics.cell_failure import CellFailure, brief_errors


def arena_cell(
    shell: Any,
    session: Any,
    models: Sequence[str],
    prompt: str,
    *,
    widgets: bool,
    out: str | None = None,
    images: Iterable[Any] = (),
    context: str | None = None,
    **overrides: Any,
) -> Any:
    """``%%nvchat -m A -m B``: an Arena for this prompt.

    With ``widgets`` (a kernel's front end) the Arena is displayed and the cell returns while
    the answers stream (so its Stop button works), the Arena kept in the variable ``out``
    (default ``nvchat_arena``); elsewhere each answer is printed when all are done and ``out``
    gets the results.
    """
    with brief_errors():
        names = check_models(models)
    if widgets:
        from IPython.display import display

        from nvnb.widgets.arena import Arena

        arena = Arena(models=names, session=session)
        display(arena)
        arena.ask(prompt, images=images, context=context, **overrides)
        shell.user_ns[out or "nvchat_arena"] = arena
        return None
    round_ = ArenaRound(session, names, prompt, images=images, context=context, **overrides)
    with brief_errors():
        results = round_.start().wait()
    print(results_text(results))
    if out is not None:
        shell.user_ns[out] = results
    if all(r.status == "error" for r in results):
        raise CellFailure("every model failed: " + "; ".join(r.error for r in results))
    return None


def results_text(results: Sequence[ArenaResult]) -> str:
    """The answers of a round as plain text, model by model."""
    blocks = []
    for r in results:
        head = f"== {r.model} · {r.status}"
        if r.output_tokens:
            head += f" · {r.output_tokens} tokens"
        if r.skipped:
            head += f" · skipped {', '.join(r.skipped)}"
        blocks.append(f"{head}\n{r.error if r.status == 'error' else r.text}")
    return "\n\n".join(blocks)
