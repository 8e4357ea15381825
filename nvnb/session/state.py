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
import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import traitlets

from nvnb.answers import Answer, Sink, Turn
from nvnb.catalog import Model, check_labels, find_model
from nvnb.errors import InvalidInputError
from nvnb.images import ImageAttachment, to_request_url
from nvnb.session._requests import (
    Event,
    Flight,
    Flights,
    LoopThread,
    Request,
    drain,
    finish,
    stream_answer,
)
from nvnb.session.history import conversation_markdown, conversation_messages, request_messages

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

__all__ = ["DEFAULT_MODEL", "OVERRIDES", "Session"]

DEFAULT_MODEL = "meta/llama-3.1-8b-instruct"
"""The model a new :class:`Session` starts with. Not ``nvnb.chat.DEFAULT_MODEL`` (what a bare
``ChatNVIDIA()`` uses): a session starts on a small, fast, widely served chat model, and saved
notebook outputs show this name."""
OVERRIDES = ("model", "temperature", "max_tokens", "top_p", "seed", "labels", "system", "stop")


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
        self._flights = Flights()
        self._loop_thread = LoopThread()
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
        info = find_model(name)
        return info.id if info is not None else name

    @traitlets.validate("labels")
    def _validate_labels(self, proposal: dict[str, Any]) -> dict[str, int]:
        return check_labels(proposal["value"])

    def _model_chosen(self, change: dict[str, Any]) -> None:
        self._default_open = False

    def settle_default_model(self) -> str:
        """The session's model; the first time, on a self-hosted server that does not serve
        the default, switch to a model it serves (see :mod:`nvnb.catalog.served`)."""
        if self._default_open:
            self._default_open = False
            from nvnb.catalog.served import served_default

            try:
                chosen = served_default(self.llm_for(self.model).client, self.model)
            except Exception:  # no listing: keep the default, the request will tell
                chosen = None
            if chosen and chosen != self.model:
                self.model = chosen
        return self.model

    @property
    def model_info(self) -> Model | None:
        """The catalog record of the current model (``None`` if the catalog does not know it)."""
        return find_model(self.model)

    @property
    def takes_labels(self) -> tuple[str, ...]:
        """The SteerLM label names the current model takes (empty for most models)."""
        info = self.model_info
        return info.labels if info is not None else ()

    @property
    def takes_images(self) -> bool:
        info = self.model_info
        return info is not None and "images" in info.capabilities

    def available_models(self) -> list[str] | None:
        """The model ids the current model's service lists (``/v1/models``, cached by its
        client); ``None`` for a chat model that has no listing. Raises what the listing raised."""
        client = getattr(self.llm_for(), "client", None)
        if client is None or not hasattr(client, "list_models"):
            return None
        return [str(item["id"]) for item in client.list_models() if item.get("id")]

    def served_models(self) -> list[Model] | None:
        """On a self-hosted server, the chat models it lists (its list is the catalog there);
        ``None`` against the hosted catalog or with a chat model of one's own."""
        client = getattr(self.llm_for(), "client", None)
        if client is None or not hasattr(client, "list_models"):
            return None
        from nvnb.catalog.served import served_models

        return served_models(client)

    def attach_image(
        self, image: ImageAttachment | bytes | str | Path, name: str | None = None
    ) -> ImageAttachment:
        """Attach an image to the next question (a path, bytes or an
        :class:`~nvnb.images.ImageAttachment`)."""
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
        return conversation_messages(self.system_prompt, self.history)

    def to_markdown(self) -> str:
        """The conversation as Markdown to *display* (``%nvchat history``, the ChatPanel fallback):
        every text in it is made inert (:func:`nvnb.markdown_safety.inert_markdown`), so no HTML
        from a model (or pasted into a prompt) runs when a notebook renders it. Images are named,
        not embedded."""
        from nvnb.markdown_safety import inert_markdown

        return conversation_markdown(self.system_prompt, self.history, inert_markdown)

    def export_markdown(self, path: str | Path | None = None) -> str:
        """The conversation as a Markdown *file*: the exact texts, as the model wrote them.

        Returned, and also written to ``path`` when given. Unlike :meth:`to_markdown` it is not
        made inert: a file is not rendered by the notebook, and a viewer of ``.md`` files
        (GitHub, an editor's preview) sanitises it or shows it as text. To display it in a
        notebook, use :meth:`to_markdown`.
        """
        text = conversation_markdown(self.system_prompt, self.history, lambda text: text)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

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
        events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        flight, future = self._launch(request, events.put_nowait)
        answer = drain(events, lambda event: self._handle(request, event, sink), flight, future)
        return finish(answer)

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
        flight = self._flights.new()

        def emit(event: Event) -> None:
            self._handle(request, event, sink)

        task = asyncio.ensure_future(stream_answer(request, flight, emit, self._flights.discard))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # The caller was cancelled: stop the request too, then let the cancel through.
            flight.cancel("interrupt")
            with contextlib.suppress(BaseException):
                await task
            raise
        return finish(task.result())

    def stop(self) -> bool:
        """Stop every request in flight; return whether there was one. Partial text is kept."""
        return self._flights.cancel_all("stop")

    # ----------------------------------------------------------------------------- internals
    def _launch(
        self, request: Request, emit: Callable[[Event], None]
    ) -> tuple[Flight, concurrent.futures.Future[Answer]]:
        """Start one request on the session's event-loop thread; ``emit`` gets its events there.

        :meth:`stop` reaches it from its start. Used by :meth:`ask` and by the Arena's columns."""
        flight = self._flights.new()
        future = asyncio.run_coroutine_threadsafe(
            stream_answer(request, flight, emit, self._flights.discard), self._loop_thread.loop()
        )
        return flight, future

    def _prepare(
        self,
        prompt: str,
        images: Iterable[Any],
        context: str | None,
        chat: bool,
        overrides: dict[str, Any],
    ) -> Request:
        unknown = set(overrides) - set(OVERRIDES)
        if unknown:
            raise TypeError(
                f"unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(OVERRIDES)}"
            )
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInputError("the prompt is empty")
        model = overrides.get("model") or self.settle_default_model()
        info = find_model(model)
        if info is not None:
            model = info.id
        takes_labels = info.labels if info is not None else ()
        takes_images = info is None or "images" in info.capabilities

        explicit = [to_request_url(img) for img in images]
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
            call["labels"] = check_labels(overrides["labels"])
        elif takes_labels and self.labels:
            call["labels"] = {k: v for k, v in self.labels.items() if k in takes_labels}
        system = overrides.get("system", self.system_prompt) or ""

        user = Turn("user", prompt, images=image_urls, context=context)
        messages = request_messages(
            user, system=system, history=self.history, chat=chat, images=takes_images
        )
        return Request(
            prompt=prompt,
            model=model,
            messages=messages,
            call=call,
            user_turn=user,
            used_attached=bool(attached),
            llm=self.llm_for(model),
            attachments=tuple(self.images) if attached else (),
        )

    def _handle(
        self,
        request: Request,
        event: Event,
        sink: Sink | None,
    ) -> Answer | None:
        """Apply one stream event to the session state and the sink (in the asking thread);
        return the answer once it ended."""
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
            self.busy = bool(self._flights)
            if sink is not None:
                if answer.error is not None:
                    sink.on_error(answer.error)
                else:
                    sink.on_end(answer)
            return answer
        return None
