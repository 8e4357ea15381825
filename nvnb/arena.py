"""One prompt, several models at once: the rounds and results behind ``nvnb.Arena``.

An :class:`ArenaRound` sends one prompt, with the session's system prompt and settings, to 2–4
models concurrently on the session's event loop, and streams each answer to a listener (the
``Arena`` widget, or :mod:`nvnb.magics.arena_cell` for ``%%nvchat -m A -m B``). SteerLM labels
go only to the models that take them, images only to the models that see them; the round says
which models skipped what. One model failing ends only its own column. :meth:`ArenaRound.stop`
stops every column, keeping the text so far.

A round does not add to the session's conversation: comparing models is not a turn of it.

Each answer becomes an :class:`ArenaResult` (first-token time, tokens/s, tokens, request id,
the exact request body), gathered in :class:`ArenaResults`, a list with ``to_dataframe()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from nvnb.answers import error_line

__all__ = [
    "DEFAULT_MODELS",
    "MAX_MODELS",
    "MIN_MODELS",
    "ArenaResult",
    "ArenaResults",
    "ArenaRound",
    "check_models",
]

DEFAULT_MODELS = (
    "meta/llama-3.3-70b-instruct",
    "nvidia/llama-3.3-nemotron-super-49b-v1.5",
    "openai/gpt-oss-20b",
)
"""Three current chat models from different makers and sizes (none deprecated)."""
MIN_MODELS, MAX_MODELS = 2, 4


def _invalid(message: str) -> Exception:
    from nvnb.errors import InvalidInputError

    return InvalidInputError(message)


def check_models(models: Iterable[str] | str | None) -> list[str]:
    """Today's ids for 2–4 distinct chat models; a clear error (with suggestions) otherwise."""
    from nvnb.catalog import find_model, resolve_model

    if models is None:
        return list(DEFAULT_MODELS)
    if isinstance(models, str):
        raise _invalid(f"models must be a list of 2–4 model ids, not the string {models!r}")
    names = [str(m).strip() for m in models]
    if not MIN_MODELS <= len(names) <= MAX_MODELS:
        raise _invalid(
            f"an Arena compares {MIN_MODELS} to {MAX_MODELS} models; {len(names)} given"
            + (" (add one to compare with)" if len(names) < MIN_MODELS else "")
        )
    out: list[str] = []
    for name in names:
        if not name:
            raise _invalid("a model name is empty")
        if find_model(name) is None:
            resolve_model(name)  # raises UnknownModelError naming the closest known models
        record = resolve_model(name)
        if not record.is_chat:
            raise _invalid(f"{record.id!r} is a {record.type} model, not a chat model")
        if record.id in out:
            raise _invalid(f"{record.id!r} is listed twice")
        out.append(record.id)
    return out


@dataclass
class ArenaResult:
    """One model's answer in one round."""

    round: int
    model: str
    prompt: str
    text: str = ""
    reasoning: str = ""
    status: str = "waiting"  # waiting, streaming, done, stopped, error
    error: str = ""
    time_to_first_token: float | None = None
    tokens_per_second: float | None = None
    output_tokens: int = 0
    elapsed: float = 0.0
    request_id: str | None = None
    finish_reason: str | None = None
    best: bool = False
    skipped: tuple[str, ...] = ()  # "labels", "images": sent to others, not to this model
    request: dict[str, Any] | None = field(default=None, repr=False)  # the exact body

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class ArenaResults(list):  # type: ignore[type-arg]
    """The records of every round (a list of :class:`ArenaResult`)."""

    def to_dataframe(self) -> Any:
        """A pandas DataFrame, one row per answer (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from None
        rows = [{k: v for k, v in r.as_dict().items() if k != "request"} for r in self]
        return pd.DataFrame(rows)


class Listener(Protocol):
    """Receives every column's events (called from the session's event-loop thread)."""

    def on_column(self, index: int, kind: str, value: Any) -> None: ...


class ArenaRound:
    """One prompt sent to every model; :meth:`start` returns at once, :meth:`wait` blocks."""

    def __init__(
        self,
        session: Any,
        models: Sequence[str],
        prompt: str,
        *,
        number: int = 1,
        images: Iterable[Any] = (),
        context: str | None = None,
        listener: Listener | None = None,
        **overrides: Any,
    ) -> None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise _invalid("the prompt is empty")
        self.session = session
        self.models = list(models)
        self.prompt = prompt
        self.number = number
        self.listener = listener
        self._images = list(images)
        self._context = context
        self._overrides = overrides
        self.results = [ArenaResult(number, m, prompt) for m in self.models]
        self.answers: list[Any] = [None] * len(self.models)
        self._flights: list[Any] = []
        self._done = threading.Event()
        self._left = len(self.models)
        self._lock = threading.Lock()

    # --------------------------------------------------------------------------- running
    def plan(self, model: str) -> tuple[dict[str, Any], list[Any], tuple[str, ...]]:
        """(overrides, images, skipped) for one model: labels and images only where taken."""
        from nvnb.catalog import find_model

        record = find_model(model)
        overrides = {**self._overrides, "model": model}
        labels = overrides.pop("labels", None)
        labels = self.session.labels if labels is None else labels
        skipped = []
        takes = tuple(record.labels) if record is not None else ()
        if labels:
            kept = {k: v for k, v in labels.items() if k in takes}
            overrides["labels"] = kept  # {} also keeps the session's labels off
            if not kept:
                skipped.append("labels")
        else:
            overrides["labels"] = {}
        sees = record is None or record.supports_images
        images = self._images if sees else []
        if (self._images or self.session.images) and not sees:
            skipped.append("images")
        return overrides, images, tuple(skipped)

    def start(self) -> ArenaRound:
        session = self.session
        for i, model in enumerate(self.models):
            overrides, images, skipped = self.plan(model)
            self.results[i].skipped = skipped
            try:
                request = session._prepare(self.prompt, images, self._context, False, overrides)
            except Exception as exc:  # a bad setting for this model only: its column says so
                self._event(i, "start", None)
                self._event(i, "failed", exc)
                continue
            flight, _ = session._launch(request, lambda ev, i=i: self._event(i, *ev))
            self._flights.append(flight)
        return self

    def stop(self) -> None:
        """Stop every column; the text so far is kept."""
        for flight in list(self._flights):
            flight.cancel("stop")

    def wait(self, timeout: float | None = None) -> list[ArenaResult]:
        """Block until every column has ended (``KeyboardInterrupt`` stops them all)."""
        try:
            while not self._done.wait(0.05 if timeout is None else timeout):
                if timeout is not None:
                    break
        except KeyboardInterrupt:
            self.stop()
            self._done.wait(5)
        return self.results

    @property
    def done(self) -> bool:
        return self._done.is_set()

    # --------------------------------------------------------------------------- events
    def _event(self, i: int, kind: str, value: Any) -> None:
        result = self.results[i]
        if kind == "start":
            result.status = "streaming"
            self.answers[i] = value
        elif kind == "delta":
            result.text += value
        elif kind == "reasoning":
            result.reasoning += value
        elif kind == "end":
            self._finish(i, value)
        elif kind == "failed":
            result.status = "error"
            result.error = error_line(value)
        if self.listener is not None:
            self.listener.on_column(i, kind, value)
        if kind in ("end", "failed"):
            self._count_down()

    def _finish(self, i: int, answer: Any) -> None:
        result = self.results[i]
        stats = answer.stats
        result.text = answer.text
        result.reasoning = answer.reasoning
        result.time_to_first_token = stats.time_to_first_token
        result.tokens_per_second = stats.tokens_per_second
        result.output_tokens = stats.output_tokens
        result.elapsed = stats.elapsed
        result.request_id = answer.request_id or getattr(answer.error, "request_id", None)
        result.finish_reason = answer.finish_reason
        call = getattr(answer, "call", None)
        result.request = call.body if call is not None else None
        if answer.error is not None:
            result.status = "error"
            result.error = error_line(answer.error)
        else:
            result.status = "stopped" if answer.stopped else "done"

    def _count_down(self) -> None:
        with self._lock:
            self._left -= 1
            if self._left <= 0:
                self._done.set()
