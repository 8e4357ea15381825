"""Arena: one prompt, 2–4 models answering side by side, live, with a Code view of each request.

The rounds run in :mod:`nvnb.arena` on the session's event loop, so a cell that calls
:meth:`Arena.ask` returns at once and Stop works while the answers stream. Front-end updates are
coalesced: the deltas of every column travel together, at most ``max_rate`` messages a second,
each with its offset (a view that missed one asks for a resync); each column's final text and
stats are set once in the ``columns`` trait, so a re-rendered or saved view is exact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import traitlets

from nvnb.widgets._base import NVWidget, resolve_session
from nvnb.widgets.stream_pane import _StreamedText

_FORMS = ("python", "nvchat", "curl", "body")


class Arena(NVWidget):
    """Compare models on one prompt: ``nvnb.Arena(models=[...]).ask("…")``.

    ``models``: 2–4 chat model ids (default :data:`nvnb.arena.DEFAULT_MODELS`). The session's
    system prompt, labels (where a model takes them), images (where a model sees them) and
    sampling settings apply; ``system=``, ``labels=``, ``temperature=``… given here override
    them for the Arena; ``images=`` go with every prompt. ``results`` holds a record per answer
    of every round.
    """

    _view = traitlets.Unicode("model-arena").tag(sync=True)

    models = traitlets.List(traitlets.Unicode()).tag(sync=True)
    columns = traitlets.List(traitlets.Dict()).tag(sync=True)
    prompt = traitlets.Unicode("").tag(sync=True)
    round_number = traitlets.Int(0).tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    best = traitlets.Int(-1).tag(sync=True)
    code_view = traitlets.Dict().tag(sync=True)

    max_rate = traitlets.Float(20.0, help="front-end updates per second, at most")
    messages_sent = traitlets.Int(0, help="custom messages sent in the current round")

    def __init__(
        self,
        models: Iterable[str] | None = None,
        session: Any = None,
        *,
        images: Iterable[Any] = (),
        **settings: Any,
    ) -> None:
        from nvnb.arena import ArenaResults, check_models

        names = check_models(models)
        super().__init__(models=names)
        self._session = session
        self._settings = settings
        self._images = list(images)  # sent with every prompt (to the models that see images)
        self._lock = threading.RLock()
        self._round: Any = None
        self._results = ArenaResults()
        self._texts: list[_StreamedText] = []
        self._reasonings: list[_StreamedText] = []
        self._timer: threading.Timer | None = None
        self._last_flush = 0.0
        self.columns = [_column(m) for m in names]
        self.on_msg(self._on_front_end_msg)

    @property
    def session(self) -> Any:
        return resolve_session(self._session)

    # --------------------------------------------------------------------------- asking
    def ask(
        self,
        prompt: str,
        *,
        images: Iterable[Any] = (),
        context: str | None = None,
        **overrides: Any,
    ) -> Any:
        """Send ``prompt`` to every model; returns the :class:`nvnb.arena.ArenaRound` at once
        (``.wait()`` blocks until every answer has ended)."""
        from nvnb.arena import ArenaRound

        with self._lock:
            if self._round is not None and not self._round.done:
                self._round.stop()
            settings = {**self._settings, **overrides}
            number = self.round_number + 1
            round_ = ArenaRound(
                self.session,
                self.models,
                prompt,
                number=number,
                images=[*self._images, *images],
                context=context,
                listener=self,
                **settings,
            )
            self._round = round_
            self._texts = [_StreamedText() for _ in self.models]
            self._reasonings = [_StreamedText() for _ in self.models]
            self.messages_sent = 0
            with self.hold_sync():
                self.prompt = prompt
                self.round_number = number
                self.best = -1
                self.busy = True
                self.code_view = {}
                self.columns = [
                    {**_column(m), "status": "waiting", "skipped": list(round_.plan(m)[2])}
                    for m in self.models
                ]
            self._results.extend(round_.results)
            self._post({"type": "start", "round": number})
        return round_.start()

    def wait(self, timeout: float | None = None) -> list[Any]:
        """Block until the current round has ended; its results."""
        return self._round.wait(timeout) if self._round is not None else []

    def stop(self) -> None:
        """Stop every model of the current round (the text so far is kept)."""
        if self._round is not None:
            self._round.stop()

    def mark_best(self, which: int | str) -> None:
        """Mark one answer of the current round as the best (by column or model id)."""
        index = self.models.index(which) if isinstance(which, str) else int(which)
        if not 0 <= index < len(self.models):
            raise IndexError(f"no column {index}; the Arena has {len(self.models)}")
        if self._round is not None:
            for i, result in enumerate(self._round.results):
                result.best = i == index
        self.best = index

    @property
    def results(self) -> Any:
        """Every answer of every round (:class:`nvnb.arena.ArenaResults`, a list)."""
        return self._results

    def to_dataframe(self) -> Any:
        return self._results.to_dataframe()

    # --------------------------------------------------------------------------- code
    def code_for(self, index: int = 0) -> Any:
        """Column ``index``'s last request as code (:class:`nvnb.request_code.RequestCode`);
        before any request, the code for asking the prompt with the Arena's settings."""
        from nvnb.request_code import base_url_for, code_for_call, code_for_session

        model = self.models[index]
        answer = self._round.answers[index] if self._round is not None else None
        call = getattr(answer, "call", None)
        if call is not None and call.body is not None:
            return code_for_call(call, base_url=base_url_for(self.session, model))
        overrides: dict[str, Any] = {**self._settings, "model": model}
        if self._round is not None:
            overrides, images, _ = self._round.plan(model)
            overrides["images"] = images
        return code_for_session(self.session, self.prompt or "Your question", **overrides)

    def show_code(self, index: int = 0) -> None:
        """Open the Code view for column ``index``."""
        code = self.code_for(index)
        self.code_view = code.view(index=index, model=self.models[index])

    def insert_code(self, form: str = "python", index: int | None = None) -> None:
        """Put one form of the code into a new cell below (``set_next_input``; call it from a
        cell). ``form``: python, nvchat, curl or body."""
        if form not in _FORMS:
            raise ValueError(f"form must be one of {', '.join(_FORMS)}")
        from nvnb.widgets.chat_tools import insert_below

        code = self.code_for(self.code_view.get("index", 0) if index is None else index)
        insert_below(code.cell_source(form))

    # --------------------------------------------------------------------------- listener
    def on_column(self, index: int, kind: str, value: Any) -> None:
        """Called by the round for each column event (in the session's loop thread)."""
        with self._lock:
            if self._round is None or index >= len(self._texts):
                return
            if kind == "start":
                self._set_column(index, status="streaming")
            elif kind == "delta":
                self._texts[index].append(value)
                self._due()
            elif kind == "reasoning":
                self._reasonings[index].append(value)
                self._due()
            elif kind in ("end", "failed"):
                self._flush()
                result = self._round.results[index]
                self._set_column(
                    index,
                    status=result.status,
                    text=result.text,
                    reasoning=result.reasoning,
                    error=result.error,
                    request_id=result.request_id or "",
                    stats={
                        "time_to_first_token": result.time_to_first_token,
                        "tokens_per_second": result.tokens_per_second,
                        "output_tokens": result.output_tokens,
                    },
                )
                if all(c["status"] not in ("waiting", "streaming") for c in self.columns):
                    self._cancel_timer()
                    self.busy = False

    def _set_column(self, index: int, **changes: Any) -> None:
        columns = [dict(c) for c in self.columns]
        columns[index].update(changes)
        self.columns = columns

    def _due(self) -> None:
        interval = 1.0 / self.max_rate if self.max_rate > 0 else 0.0
        wait = self._last_flush + interval - time.monotonic()
        if wait <= 0:
            self._cancel_timer()
            self._flush()
        elif self._timer is None:
            self._timer = threading.Timer(wait, self._timer_flush)
            self._timer.daemon = True
            self._timer.start()

    def _timer_flush(self) -> None:
        with self._lock:
            self._timer = None
            if self.busy:
                self._due()

    def _flush(self) -> None:
        parts = []
        for i, (text, reasoning) in enumerate(zip(self._texts, self._reasonings, strict=True)):
            if text.unsent or reasoning.unsent:
                offset, delta = text.take_unsent()
                roffset, rdelta = reasoning.take_unsent()
                parts.append(
                    {
                        "i": i,
                        "offset": offset,
                        "text": delta,
                        "roffset": roffset,
                        "reasoning": rdelta,
                    }
                )
        if parts:
            self._post({"type": "delta", "round": self.round_number, "parts": parts})
            self._last_flush = time.monotonic()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _post(self, msg: dict[str, Any]) -> None:
        self.messages_sent += 1
        self.send(msg)

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "ask":
                self.ask(str(content.get("prompt", "")))
            elif kind == "stop":
                self.stop()
            elif kind == "best":
                self.mark_best(int(content.get("index", -1)))
            elif kind == "code":
                self.show_code(int(content.get("index", 0)))
            elif kind == "resync":
                with self._lock:
                    texts = [t.value() for t in self._texts]
                    reasonings = [r.value() for r in self._reasonings]
                    for t, r in zip(self._texts, self._reasonings, strict=True):
                        t.take_unsent()
                        r.take_unsent()
                    self._post({"type": "reset", "texts": texts, "reasonings": reasonings})
        except Exception as exc:  # a bad prompt from the page: say so in the view
            self._post({"type": "notice", "text": str(exc).splitlines()[0]})

    # --------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        return f"Arena(models={list(self.models)!r})"

    def _fallback_markdown(self) -> str:
        from nvnb._markdown_safety import inert_markdown

        lines = ["**Arena** · " + " · ".join(f"`{m}`" for m in self.models)]
        for i, column in enumerate(self.columns):
            if column.get("status") in ("done", "stopped", "error"):
                star = " ★" if i == self.best else ""
                body = column.get("error") or column.get("text") or ""
                lines += [f"### {inert_markdown(column['model'])}{star}", inert_markdown(body)]
        return "\n\n".join(lines)


def _column(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "status": "idle",
        "text": "",
        "reasoning": "",
        "error": "",
        "request_id": "",
        "stats": {},
        "skipped": [],
    }
