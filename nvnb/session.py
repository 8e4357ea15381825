"""The shared notebook session: one place for the model, labels, images, settings and history.

Widgets and the ``%%nvchat`` magic hold no state of their own; they read and write a
:class:`Session`, whose state is observable (traitlets), so they stay in sync both ways.

The contract the magics and widgets build on::

    answer = session.ask(prompt, *, images=(), context=None, chat=False, sink=None, **overrides)

* ``answer`` is an :class:`Answer` (``.text``, ``.reasoning``, ``.request_id``, ``.usage``,
  ``.stats``; ``.stopped`` when :meth:`Session.stop` or a kernel interrupt ended it early).
* ``sink`` is any object with ``on_delta(text)``, ``on_end(answer)`` and ``on_error(exc)`` (a
  ``StreamPane`` is one). Optional hooks, called when present: ``on_start(answer)`` (the answer
  object that is being filled), ``on_reasoning(text)``. Sink methods are called in the thread that
  called :meth:`Session.ask` (in the event loop for :meth:`Session.ask_async`).
* ``overrides`` are per-call settings: ``model``, ``temperature``, ``max_tokens``, ``top_p``,
  ``seed``, ``labels``, ``system``, ``stop``.
* A stop (``session.stop()``, or ``KeyboardInterrupt`` while ``ask`` waits) closes the connection,
  keeps the partial text in the answer and the history, calls ``sink.on_end(answer)`` and returns
  the answer normally with ``answer.stopped`` set (``answer.stop_reason`` is ``"stop"`` or
  ``"interrupt"``).
* An error calls ``sink.on_error(exc)``, keeps any partial text in the history, and is raised
  (``exc.answer`` is the partial answer).

Heavy imports (LangChain, Pillow, the chat model) happen on first use, not at import.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import queue
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import traitlets

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

__all__ = [
    "DEFAULT_MODEL",
    "LABEL_NAMES",
    "Answer",
    "ImageAttachment",
    "Session",
    "Sink",
    "Stats",
    "Turn",
    "session",
]

DEFAULT_MODEL = "meta/llama-3.1-8b-instruct"
"""The model a new :class:`Session` starts with. Not ``nvnb.chat.DEFAULT_MODEL`` (what a bare
``ChatNVIDIA()`` uses): a session starts on a small, fast, widely served chat model, and saved
notebook outputs show this name."""
LABEL_NAMES = ("creativity", "complexity", "verbosity", "quality")
OVERRIDES = ("model", "temperature", "max_tokens", "top_p", "seed", "labels", "system", "stop")


@runtime_checkable
class Sink(Protocol):
    """Receives an answer as it streams."""

    def on_delta(self, text: str) -> None: ...

    def on_end(self, answer: Answer) -> None: ...

    def on_error(self, exc: BaseException) -> None: ...


@dataclass
class Stats:
    """Timing of one answer, in seconds and tokens."""

    time_to_first_token: float | None = None
    elapsed: float = 0.0
    output_tokens: int = 0
    tokens_per_second: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "time_to_first_token": self.time_to_first_token,
            "elapsed": self.elapsed,
            "output_tokens": self.output_tokens,
            "tokens_per_second": self.tokens_per_second,
        }

    def summary(self) -> str:
        """One short line, e.g. ``first token 0.21 s · 48.3 tok/s · 120 tokens``."""
        parts = []
        if self.time_to_first_token is not None:
            parts.append(f"first token {self.time_to_first_token:.2f} s")
        if self.tokens_per_second is not None:
            parts.append(f"{self.tokens_per_second:.1f} tok/s")
        parts.append(f"{self.output_tokens} tokens")
        return " · ".join(parts)


class _Joined:
    """A ``str`` field kept as pieces and joined when read, so a stream appends in linear time.

    ``answer.text += piece`` on an attribute copies the whole text at every piece (seconds for a
    5 MB answer); :meth:`Answer._append` only adds to a list. Reading joins the pieces; setting
    replaces them. Readers see a plain ``str`` attribute (and dataclass ``__init__``, ``==`` and
    ``dataclasses.replace`` work as for one).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}_pieces"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return ""  # the dataclass default
        pieces = obj.__dict__.get(self._slot, ())
        return pieces[0] if len(pieces) == 1 else "".join(pieces)

    def __set__(self, obj: Any, value: str) -> None:
        obj.__dict__[self._slot] = [value]

    def append(self, obj: Any, piece: str) -> None:
        obj.__dict__[self._slot].append(piece)

    def settle(self, obj: Any) -> None:
        """Join the pieces once for good (when no more will come)."""
        self.__set__(obj, self.__get__(obj))


@dataclass
class Answer:
    """One model answer, complete or cut short.

    ``text`` and ``reasoning`` are exactly what the model sent. What is *displayed* as Markdown
    (:meth:`_repr_markdown_`, :meth:`to_markdown`) is made inert first
    (:func:`nvnb.markdown_safety.inert_markdown`): model text may carry HTML that a notebook
    would run.
    """

    text: str = _Joined()  # type: ignore[assignment]
    reasoning: str = _Joined()  # type: ignore[assignment]
    request_id: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    model: str = ""
    prompt: str = ""
    finish_reason: str | None = None
    stopped: bool = False
    stop_reason: str | None = None  # "stop" (Session.stop) or "interrupt" (KeyboardInterrupt)
    error: BaseException | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        short = self.text if len(self.text) <= 60 else self.text[:59] + "…"
        extra = ", stopped=True" if self.stopped else ""
        return f"Answer(model={self.model!r}, text={short!r}{extra})"

    def _repr_markdown_(self) -> str:
        from nvnb.markdown_safety import inert_markdown

        return inert_markdown(self.text)

    def to_markdown(self) -> str:
        """The answer with a footer naming the model, request id and stats, made inert for
        display (``text`` keeps the exact answer)."""
        from nvnb.markdown_safety import inert_markdown

        foot = [f"*{self.model}*"] if self.model else []
        if self.request_id:
            foot.append(f"request id `{self.request_id}`")
        foot.append(self.stats.summary())
        if self.stopped:
            foot.append("stopped")
        footer = inert_markdown(" · ".join(foot))  # the request id comes from the server
        return f"{inert_markdown(self.text)}\n\n<sub>{footer}</sub>\n"

    def _append(self, text: str = "", reasoning: str = "") -> None:
        """Add streamed pieces (linear time; see :class:`_Joined`)."""
        if text:
            _TEXT.append(self, text)
        if reasoning:
            _REASONING.append(self, reasoning)

    def _settle(self) -> None:
        """The stream is over: keep ``text`` and ``reasoning`` as single strings."""
        _TEXT.settle(self)
        _REASONING.settle(self)


_TEXT: _Joined = Answer.__dict__["text"]
_REASONING: _Joined = Answer.__dict__["reasoning"]


@dataclass(frozen=True)
class ImageAttachment:
    """An image ready for a request: already shrunk and encoded, the original not kept.

    ``data_uri`` is what the request carries; ``width``/``height``/``nbytes`` describe it and
    ``original_*`` the file it came from.
    """

    name: str
    mime: str
    data_uri: str
    width: int
    height: int
    nbytes: int
    original_width: int
    original_height: int
    original_nbytes: int

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "image") -> ImageAttachment:
        """Validate and shrink image bytes; raises ``nvnb.errors.ImageError`` (a ValueError)."""
        return _attachment_from_bytes(bytes(data), name)

    @classmethod
    def from_path(cls, path: str | Path) -> ImageAttachment:
        p = Path(path).expanduser()
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise _image_error(f"cannot read image {p}: {exc.strerror or exc}") from None
        return cls.from_bytes(data, p.name)

    def summary(self) -> str:
        kib = self.nbytes / 1024
        return f"{self.name} ({self.width}×{self.height}, {kib:.0f} KiB)"


@dataclass(frozen=True)
class Turn:
    """One message of the conversation."""

    role: str  # "user" or "assistant"
    content: str
    images: tuple[str, ...] = ()  # data URIs or URLs sent with a user turn
    context: str | None = None  # QA models: the context the question was asked against
    answer: Answer | None = None  # assistant turns: the full answer (stats, request id)

    def to_message(self, *, images: bool = True) -> BaseMessage:
        """This turn as a LangChain message (``images=False``: text only, for text models)."""
        from langchain_core.messages import AIMessage, HumanMessage

        if self.role == "assistant":
            return AIMessage(content=self.content)
        if not self.images or not images:
            return HumanMessage(content=self.content)
        parts: list[Any] = [{"type": "text", "text": self.content}]
        parts += [{"type": "image_url", "image_url": {"url": url}} for url in self.images]
        return HumanMessage(content=parts)


class Session(traitlets.HasTraits):
    """The shared state of nvnb in a kernel; ``nvnb.session()`` returns the default one.

    ``model``, ``labels``, ``images``, ``temperature``, ``max_tokens``, ``top_p``, ``seed``,
    ``system_prompt``, ``history``, ``busy`` and ``last_answer`` are traitlets: observe them with
    ``session.observe(fn, "model")``. Lists and dicts are replaced, never mutated in place, so
    every change notifies. The API key is never a trait; it stays in the chat model's settings.

    A new session starts on :data:`DEFAULT_MODEL` (``meta/llama-3.1-8b-instruct``), which is
    not the model a bare ``ChatNVIDIA()`` uses (``nvnb.chat.DEFAULT_MODEL``): pass ``model=``
    to either to pick one.
    """

    model = traitlets.Unicode(DEFAULT_MODEL)
    labels = traitlets.Dict()
    images = traitlets.List()
    temperature = traitlets.Float(None, allow_none=True)
    max_tokens = traitlets.Int(None, allow_none=True)
    top_p = traitlets.Float(None, allow_none=True)
    seed = traitlets.Int(None, allow_none=True)
    system_prompt = traitlets.Unicode("")
    history = traitlets.List()
    busy = traitlets.Bool(False)
    last_answer = traitlets.Any(None)

    def __init__(
        self,
        model: str | None = None,
        *,
        llm: BaseChatModel | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        **chat_kwargs: Any,
    ) -> None:
        """``llm``: use this chat model for every request instead of ``ChatNVIDIA``.

        Otherwise a ``ChatNVIDIA`` is made per model with ``api_key``, ``base_url`` and
        ``chat_kwargs`` (all kept private, never in traits or reprs). The key is held as a
        :class:`nvnb.settings.Secret` from the start: no attribute, repr or pickle shows it.
        """
        super().__init__()
        from nvnb.settings import Secret

        self._llm = llm
        self._chat_kwargs = dict(chat_kwargs)
        if api_key is None:
            api_key = self._chat_kwargs.pop("nvidia_api_key", None)
        if api_key is not None and hasattr(api_key, "get_secret_value"):
            api_key = api_key.get_secret_value()  # a SecretStr or Secret
        # Wrapped at once: attribute walkers (variable inspectors, debuggers) see no key.
        self._api_key = Secret(api_key) if api_key is not None else None
        if base_url is not None:
            self._chat_kwargs["base_url"] = base_url
        self._models: dict[str, BaseChatModel] = {}
        self._lock = threading.RLock()
        self._inflight: set[_Flight] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        if model is not None:
            self.model = model
        # Not given a model: on a self-hosted server, the first question settles on a served one.
        self._default_open = model is None and llm is None
        self.observe(self._model_chosen, "model")

    # ----------------------------------------------------------------------------- state
    @traitlets.validate("model")
    def _validate_model(self, proposal: dict[str, Any]) -> str:
        name = str(proposal["value"]).strip()
        if not name:
            raise traitlets.TraitError("model must not be empty")
        info = _find_model(name)
        return info.id if info is not None else name

    @traitlets.validate("labels")
    def _validate_labels(self, proposal: dict[str, Any]) -> dict[str, int]:
        return _check_labels(proposal["value"])

    def _model_chosen(self, change: dict[str, Any]) -> None:
        self._default_open = False

    def settle_default_model(self) -> str:
        """The session's model; the first time, on a self-hosted server that does not serve
        the default, switch to a model it serves (see :mod:`nvnb.served_models`)."""
        if self._default_open:
            self._default_open = False
            from nvnb.served_models import served_default

            try:
                chosen = served_default(self.llm_for(self.model).client, self.model)
            except Exception:  # no listing: keep the default, the request will tell
                chosen = None
            if chosen and chosen != self.model:
                self.model = chosen
        return self.model

    @property
    def model_info(self) -> Any:
        """The catalog record of the current model (``None`` if the catalog does not know it)."""
        return _find_model(self.model)

    @property
    def takes_labels(self) -> tuple[str, ...]:
        """The SteerLM label names the current model takes (empty for most models)."""
        info = self.model_info
        return tuple(getattr(info, "labels", ()) or ()) if info is not None else ()

    @property
    def takes_images(self) -> bool:
        info = self.model_info
        return bool(info is not None and "images" in (getattr(info, "capabilities", ()) or ()))

    def attach_image(
        self, image: ImageAttachment | bytes | str | Path, name: str | None = None
    ) -> ImageAttachment:
        """Attach an image to the next question (a path, bytes or an :class:`ImageAttachment`)."""
        if isinstance(image, ImageAttachment):
            att = image
        elif isinstance(image, (bytes, bytearray, memoryview)):
            att = ImageAttachment.from_bytes(bytes(image), name or "image")
        else:
            att = ImageAttachment.from_path(image)
        self.images = [*self.images, att]
        return att

    def remove_image(self, index: int) -> None:
        images = list(self.images)
        del images[index]
        self.images = images

    def clear_images(self) -> None:
        self.images = []

    def clear_history(self) -> None:
        self.history = []
        self.last_answer = None

    def messages(self) -> list[BaseMessage]:
        """The conversation as LangChain messages (system prompt first, when set)."""
        from langchain_core.messages import SystemMessage

        out: list[BaseMessage] = []
        if self.system_prompt:
            out.append(SystemMessage(content=self.system_prompt))
        out += [turn.to_message() for turn in self.history]
        return out

    def to_markdown(self) -> str:
        """The conversation as Markdown to *display* (``%nvchat history``, the ChatPanel fallback):
        every text in it is made inert (:func:`nvnb.markdown_safety.inert_markdown`), so no HTML
        from a model (or pasted into a prompt) runs when a notebook renders it. Images are named,
        not embedded."""
        from nvnb.markdown_safety import inert_markdown

        return self._conversation_markdown(inert_markdown)

    def export_markdown(self, path: str | Path | None = None) -> str:
        """The conversation as a Markdown *file*: the exact texts, as the model wrote them.

        Returned, and also written to ``path`` when given. Unlike :meth:`to_markdown` it is not
        made inert: a file is not rendered by the notebook, and a viewer of ``.md`` files
        (GitHub, an editor's preview) sanitises it or shows it as text. To display it in a
        notebook, use :meth:`to_markdown`.
        """
        text = self._conversation_markdown(lambda text: text)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def _conversation_markdown(self, shown: Callable[[str], str]) -> str:
        """The conversation; every outside text (prompts, answers, names) goes through ``shown``."""
        lines = ["# Conversation", ""]
        if self.system_prompt:
            lines += ["**System:** " + shown(self.system_prompt), ""]
        for turn in self.history:
            if turn.role == "user":
                lines += ["## You", "", shown(turn.content), ""]
                if turn.images:
                    lines += [f"*({len(turn.images)} image(s) attached)*", ""]
            else:
                model = turn.answer.model if turn.answer else ""
                heading = shown(model) if model else "Assistant"
                lines += [f"## {heading}", "", shown(turn.content), ""]
                if turn.answer is not None and turn.answer.stopped:
                    lines += ["*(stopped)*", ""]
        return "\n".join(lines).rstrip() + "\n"

    def llm_for(self, model: str | None = None) -> BaseChatModel:
        """The chat model used for ``model`` (default: the current one); made once per model."""
        if self._llm is not None:
            return self._llm
        name = model or self.model
        with self._lock:
            llm = self._models.get(name)
            if llm is None:
                from nvnb.chat import ChatNVIDIA

                kwargs = dict(self._chat_kwargs)
                if self._api_key is not None:
                    kwargs["api_key"] = self._api_key.get_secret_value()
                llm = ChatNVIDIA(model=name, **kwargs)
                self._models[name] = llm
            return llm

    def __repr__(self) -> str:
        return f"<nvnb.Session model={self.model!r} turns={len(self.history)}>"

    # ----------------------------------------------------------------------------- asking
    def ask(
        self,
        prompt: str,
        *,
        images: Iterable[Any] = (),
        context: str | None = None,
        chat: bool = False,
        sink: Sink | None = None,
        **overrides: Any,
    ) -> Answer:
        """Ask the model; block until the answer is complete, stopped, or failed.

        Streams into ``sink`` from the calling thread. The request runs on the session's
        event-loop thread, so :meth:`stop` (from any thread) or a ``KeyboardInterrupt`` here
        closes the connection at once. See the module docstring for the full contract.
        """
        request = self._prepare(prompt, images, context, chat, overrides)
        events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        flight = self._new_flight()
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(
            self._run(request, flight, events.put_nowait), loop
        )
        return self._drain(request, flight, future, events, sink)

    async def ask_async(
        self,
        prompt: str,
        *,
        images: Iterable[Any] = (),
        context: str | None = None,
        chat: bool = False,
        sink: Sink | None = None,
        **overrides: Any,
    ) -> Answer:
        """:meth:`ask`, awaitable in the caller's event loop (sink called in that loop)."""
        request = self._prepare(prompt, images, context, chat, overrides)
        flight = self._new_flight()
        outcome: dict[str, Any] = {}

        def emit(event: tuple[str, Any]) -> None:
            self._handle(request, event, sink, outcome)

        task = asyncio.ensure_future(self._run(request, flight, emit))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # The caller was cancelled: stop the request too, then let the cancel through.
            flight.cancel("interrupt")
            with contextlib.suppress(BaseException):
                await task
            raise
        return self._finish(outcome)

    def stop(self) -> bool:
        """Stop every request in flight; return whether there was one. Partial text is kept."""
        with self._lock:
            flights = list(self._inflight)
        for flight in flights:
            flight.cancel("stop")
        return bool(flights)

    # ----------------------------------------------------------------------------- internals
    def _new_flight(self) -> _Flight:
        """A request in flight, known to :meth:`stop` from now on (even before it starts)."""
        flight = _Flight()
        with self._lock:
            self._inflight.add(flight)
        return flight

    def _prepare(
        self,
        prompt: str,
        images: Iterable[Any],
        context: str | None,
        chat: bool,
        overrides: dict[str, Any],
    ) -> _Request:
        unknown = set(overrides) - set(OVERRIDES)
        if unknown:
            raise TypeError(
                f"unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(OVERRIDES)}"
            )
        if not isinstance(prompt, str) or not prompt.strip():
            raise _invalid_input("the prompt is empty")
        model = overrides.get("model") or self.settle_default_model()
        info = _find_model(model)
        if info is not None:
            model = info.id
        takes_labels = tuple(getattr(info, "labels", ()) or ()) if info is not None else ()
        takes_images = info is None or "images" in (getattr(info, "capabilities", ()) or ())

        explicit = [_to_image_url(img) for img in images]
        attached = [att.data_uri for att in self.images] if takes_images else []
        image_urls = tuple(attached + explicit)

        call: dict[str, Any] = {}
        for name in ("temperature", "max_tokens", "top_p", "seed"):
            value = overrides.get(name, getattr(self, name))
            if value is not None:
                call[name] = value
        if overrides.get("stop"):
            stop = overrides["stop"]
            call["stop"] = [stop] if isinstance(stop, str) else list(stop)
        if "labels" in overrides and overrides["labels"] is not None:
            call["labels"] = _check_labels(overrides["labels"])
        elif takes_labels and self.labels:
            call["labels"] = {k: v for k, v in self.labels.items() if k in takes_labels}
        system = overrides.get("system", self.system_prompt) or ""

        from langchain_core.messages import ChatMessage, SystemMessage

        user = Turn("user", prompt, images=image_urls, context=context)
        messages: list[Any] = []
        if system:
            messages.append(SystemMessage(content=system))
        if chat:
            messages += [turn.to_message(images=takes_images) for turn in self.history]
        if context is not None:
            messages.append(ChatMessage(role="context", content=context))
        messages.append(user.to_message())
        return _Request(
            prompt=prompt,
            model=model,
            messages=messages,
            call=call,
            user_turn=user,
            used_attached=bool(attached),
            llm=self.llm_for(model),
            attachments=tuple(self.images) if attached else (),
        )

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="nvnb-session", daemon=True)
                thread.start()
                self._loop = loop
            return self._loop

    async def _run(
        self, request: _Request, flight: _Flight, emit: Callable[[tuple[str, Any]], None]
    ) -> Answer:
        """Stream one answer; every event goes through ``emit``. Never raises (but cancels)."""
        answer = Answer(model=request.model, prompt=request.prompt)
        flight.bind(asyncio.get_running_loop(), asyncio.current_task())
        emit(("start", answer))
        started = time.monotonic()
        first: float | None = None
        chunks = 0
        try:
            if flight.cancelled:  # stopped before it started
                raise asyncio.CancelledError
            stream = request.llm.astream(request.messages, **request.call)
            try:
                async for chunk in stream:
                    meta = getattr(chunk, "response_metadata", None) or {}
                    if meta.get("request_id"):
                        answer.request_id = meta["request_id"]
                    if meta.get("finish_reason"):
                        answer.finish_reason = meta["finish_reason"]
                    usage = getattr(chunk, "usage_metadata", None)
                    if usage:
                        answer.usage = dict(usage)
                    extra = getattr(chunk, "additional_kwargs", None) or {}
                    reasoning = extra.get("reasoning_content") or ""
                    text = _content_text(chunk.content)
                    if (text or reasoning) and first is None:
                        first = time.monotonic()
                        answer.stats.time_to_first_token = first - started
                    if reasoning:
                        answer._append(reasoning=reasoning)
                        emit(("reasoning", reasoning))
                    if text:
                        chunks += 1
                        answer._append(text)
                        answer.stats.output_tokens = chunks
                        emit(("delta", text))
            finally:
                with contextlib.suppress(Exception):
                    await stream.aclose()  # closes the HTTP stream even when cancelled
        except asyncio.CancelledError:
            answer.stopped = True
            answer.stop_reason = flight.reason or "stop"
            answer.finish_reason = answer.finish_reason or "stopped"
        except Exception as exc:
            answer.error = exc
        finally:
            with self._lock:
                self._inflight.discard(flight)
        answer._settle()
        end = time.monotonic()
        stats = answer.stats
        stats.elapsed = end - started
        if answer.usage.get("output_tokens") and not answer.stopped:
            stats.output_tokens = int(answer.usage["output_tokens"])
        if first is not None and end > first and stats.output_tokens > 1:
            stats.tokens_per_second = stats.output_tokens / (end - first)
        emit(("end", answer))
        return answer

    def _drain(
        self,
        request: _Request,
        flight: _Flight,
        future: Any,
        events: queue.SimpleQueue[tuple[str, Any]],
        sink: Sink | None,
    ) -> Answer:
        outcome: dict[str, Any] = {}
        try:
            while "answer" not in outcome:
                try:
                    event = events.get(timeout=0.05)
                except queue.Empty:
                    continue
                self._handle(request, event, sink, outcome)
        except KeyboardInterrupt:
            flight.cancel("interrupt")
            # Collect what is left (the end event follows quickly once the task is cancelled).
            while "answer" not in outcome:
                try:
                    event = events.get(timeout=5)
                except queue.Empty:  # pragma: no cover - the loop thread died
                    raise KeyboardInterrupt from None
                with contextlib.suppress(KeyboardInterrupt):
                    self._handle(request, event, sink, outcome)
        finally:
            if not future.done():
                flight.cancel("interrupt")
        return self._finish(outcome)

    def _handle(
        self,
        request: _Request,
        event: tuple[str, Any],
        sink: Sink | None,
        outcome: dict[str, Any],
    ) -> None:
        """Apply one stream event to the session state and the sink (in the asking thread)."""
        kind, value = event
        if kind == "start":
            self.busy = True
            if request.used_attached:
                self.images = []
            self.history = [*self.history, request.user_turn]
            start = getattr(sink, "on_start", None)
            if start is not None:
                start(value)
        elif kind == "delta":
            if sink is not None:
                sink.on_delta(value)
        elif kind == "reasoning":
            on_reasoning = getattr(sink, "on_reasoning", None)
            if on_reasoning is not None:
                on_reasoning(value)
        elif kind == "end":
            answer: Answer = value
            outcome["answer"] = answer
            if answer.text or answer.error is None:
                turn = Turn("assistant", answer.text, answer=answer)
                self.history = [*self.history, turn]
            else:
                # Nothing was answered (a 401, an unknown model…): drop the question as well, so
                # that a later ``chat=True`` turn does not resend it unanswered.
                self.history = [t for t in self.history if t is not request.user_turn]
                if request.attachments and not self.images:  # e.g. refused by a text model
                    self.images = list(request.attachments)
            self.last_answer = answer
            with self._lock:
                self.busy = bool(self._inflight)
            if sink is not None:
                if answer.error is not None:
                    sink.on_error(answer.error)
                else:
                    sink.on_end(answer)

    @staticmethod
    def _finish(outcome: dict[str, Any]) -> Answer:
        answer: Answer = outcome["answer"]
        if answer.error is not None:
            exc = answer.error
            with contextlib.suppress(Exception):
                exc.answer = answer  # type: ignore[attr-defined]
            raise exc
        return answer


@dataclass(eq=False)
class _Request:
    prompt: str
    model: str
    messages: list[Any]
    call: dict[str, Any]
    user_turn: Turn
    used_attached: bool
    llm: Any
    attachments: tuple[ImageAttachment, ...] = ()


class _Flight:
    """One request in flight: cancellable from any thread."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        self.reason: str | None = None
        self.cancelled = False
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any] | None) -> None:
        with self._lock:
            self.loop, self.task = loop, task

    def cancel(self, reason: str) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
            self.reason = reason
            loop, task = self.loop, self.task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)


_default: Session | None = None
_default_lock = threading.Lock()


def session() -> Session:
    """The kernel's default session (made on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Session()
        return _default


class _CallableModule(types.ModuleType):
    """Importing ``nvnb.session`` binds the *module* to ``nvnb.session``, hiding the function of
    the same name; calling the module returns the default session, so ``nvnb.session()`` works
    whichever of the two the attribute holds."""

    def __call__(self) -> Session:
        return session()


sys.modules[__name__].__class__ = _CallableModule


# --------------------------------------------------------------------------------- helpers
def _find_model(name: str) -> Any:
    try:
        from nvnb.catalog import find_model
    except ImportError:  # the catalog is optional for the session's own logic
        return None
    try:
        return find_model(name)
    except Exception:
        return None


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and part.get("type") == "text":
                out.append(str(part.get("text", "")))
        return "".join(out)
    return ""


def _check_labels(labels: Any) -> dict[str, int]:
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise _invalid_input("labels must be a dict like {'creativity': 5}")
    out: dict[str, int] = {}
    for key, value in labels.items():
        if key not in LABEL_NAMES:
            raise _invalid_input(f"unknown label {key!r}; labels are {', '.join(LABEL_NAMES)}")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9:
            raise _invalid_input(f"label {key}={value!r} is out of range (0–9)")
        out[key] = value
    return out


def _to_image_url(image: Any) -> str:
    """An image given to ``ask(images=…)`` as the URL a request carries."""
    if isinstance(image, ImageAttachment):
        return image.data_uri
    if isinstance(image, str) and image.startswith(("http://", "https://", "data:")):
        return image
    if isinstance(image, (bytes, bytearray, memoryview)):
        return ImageAttachment.from_bytes(bytes(image)).data_uri
    if isinstance(image, (str, Path)):
        return ImageAttachment.from_path(image).data_uri
    if hasattr(image, "save") and hasattr(image, "size"):  # a PIL image
        from nvnb import images as nv_images

        return nv_images.from_path(image)
    raise _invalid_input(f"cannot use {type(image).__name__} as an image")


def _invalid_input(message: str) -> Exception:
    try:
        from nvnb.errors import InvalidInputError
    except ImportError:
        return ValueError(message)
    return InvalidInputError(message)


def _image_error(message: str) -> Exception:
    try:
        from nvnb.errors import ImageError
    except ImportError:
        return ValueError(message)
    return ImageError(message)


MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""Files larger than this are refused before decoding (the widget says so)."""


def _attachment_from_bytes(data: bytes, name: str) -> ImageAttachment:
    """Validate with Pillow and shrink exactly as ChatNVIDIA does (``nvnb.images``)."""
    from nvnb import images as nv_images

    if len(data) > MAX_IMAGE_BYTES:
        raise _image_error(
            f"{name} is too large ({len(data) / 1e6:.1f} MB; the limit is "
            f"{MAX_IMAGE_BYTES / 1e6:.0f} MB)"
        )
    with nv_images.open_image(data, what=name) as original:
        orig_w, orig_h = original.size
    uri = nv_images.from_path(data)
    mime, payload = nv_images.split_data_uri(uri)
    raw = base64.b64decode(payload)
    if raw == data:
        width, height = orig_w, orig_h
    else:
        with nv_images.open_image(raw, what=name) as small:
            width, height = small.size
    return ImageAttachment(
        name=name,
        mime=mime,
        data_uri=uri,
        width=width,
        height=height,
        nbytes=len(raw),
        original_width=orig_w,
        original_height=orig_h,
        original_nbytes=len(data),
    )
