"""Answers: one model answer (:class:`Answer`, its :class:`Stats`), one message of a
conversation (:class:`Turn`), and the :class:`Sink` an answer streams into.

The partial text of an answer that was stopped or failed is kept in one place: the
:class:`Answer` (``answer.text``); an error raised by :meth:`nvnb.Session.ask` carries it as
``exc.answer``, and :func:`partial_text` reads it for views.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["Answer", "Sink", "Stats", "Turn", "error_line", "partial_text"]


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
    (:func:`nvnb._markdown_safety.inert_markdown`): model text may carry HTML that a notebook
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
    refusal: str = ""  # what the model said instead of answering (``message.refusal``)
    stopped: bool = False
    stop_reason: str | None = None  # "stop" (Session.stop) or "interrupt" (KeyboardInterrupt)
    error: BaseException | None = field(default=None, repr=False)
    call: Any = field(
        default=None, repr=False, compare=False
    )  # the request's nvnb.calls.record.CallRecord (the call log's row, the Code view's source)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        short = self.text if len(self.text) <= 60 else self.text[:59] + "…"
        extra = ", stopped=True" if self.stopped else ""
        return f"Answer(model={self.model!r}, text={short!r}{extra})"

    def _repr_markdown_(self) -> str:
        from nvnb._markdown_safety import inert_markdown

        return self._refusal_markdown() + inert_markdown(self.text)

    @property
    def refusal_note(self) -> str:
        """``"The model refused: …"`` when it did, else ``""``."""
        return f"The model refused: {self.refusal}" if self.refusal else ""

    def _refusal_markdown(self) -> str:
        from nvnb._markdown_safety import inert_markdown

        return f"**{inert_markdown(self.refusal_note)}**\n\n" if self.refusal else ""

    def to_markdown(self) -> str:
        """The answer with a footer naming the model, request id and stats, made inert for
        display (``text`` keeps the exact answer)."""
        from nvnb._markdown_safety import inert_markdown

        foot = [f"*{self.model}*"] if self.model else []
        if self.request_id:
            foot.append(f"request id `{self.request_id}`")
        foot.append(self.stats.summary())
        if self.stopped:
            foot.append("stopped")
        footer = inert_markdown(" · ".join(foot))  # the request id comes from the server
        body = self._refusal_markdown() + inert_markdown(self.text)
        return f"{body}\n\n<sub>{footer}</sub>\n"

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


def partial_text(exc: BaseException) -> str:
    """The text an answer had received before ``exc`` ended it (``""`` when none).

    The session attaches the partial :class:`Answer` to the error it raises (``exc.answer``);
    an error raised by a chat model directly carries ``exc.partial_text``.
    """
    answer = getattr(exc, "answer", None)
    text = getattr(answer, "text", None)
    if text:
        return str(text)
    return str(getattr(exc, "partial_text", "") or "")


def error_line(exc: BaseException) -> str:
    """What ended an answer, in one line for a view: the error's first line, its request id
    appended when the text lacks it (a pane's banner, an Arena column, the ModelPicker)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    request_id = getattr(exc, "request_id", None)
    if request_id and request_id not in text:
        text += f" (request id: {request_id})"
    return text
