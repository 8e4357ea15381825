"""Chat completion responses (JSON or SSE chunks) → LangChain messages.

Reasoning arrives three ways: a ``reasoning_content`` field, a ``reasoning`` field, or
``<think>…</think>`` at the start of the content. All end up in
``additional_kwargs["reasoning_content"]`` (``reasoning`` is also kept under its own name), and
the tags are taken out of the content. Streamed tool calls are assembled even when the service
splits them over chunks or leaves out their ``index``.

A refusal (``message.refusal``, streamed ``delta.refusal``) is kept in
``additional_kwargs["refusal"]``: the answer is then often empty, and the refusal is what the
service said.

Several choices (``n`` > 1): :func:`parse_choices` gives one message per choice, in ``index``
order (``ChatNVIDIA`` returns one generation each, as ``ChatOpenAI`` does). A stream carries one
message in LangChain, so :class:`StreamAssembler` keys every piece by ``choice.index``: the chunks
it yields are the first choice's alone, never a mix, and the other choices, assembled apart, ride
on the closing chunk as ``response_metadata["other_choices"]`` (``index``, ``content``,
``finish_reason``, and ``reasoning_content`` / ``refusal`` / ``tool_calls`` when present).
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call, parse_tool_call

from nvnb.errors import StreamError

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
_PLAIN_DELTA = frozenset(("role", "content"))


def split_thinking(content: str) -> tuple[str, str]:
    """``(reasoning, answer)`` from content that may hold ``<think>…</think>``.

    Handles the paired form and the form where the template already opened the tag (only
    ``</think>`` appears: everything before it is reasoning).
    """
    if THINK_CLOSE not in content:
        return "", content
    start = content.find(THINK_OPEN)
    end = content.find(THINK_CLOSE)
    if start == -1:
        return content[:end].strip(), content[end + len(THINK_CLOSE) :].strip()
    if start < end and not content[:start].strip():
        reasoning = content[start + len(THINK_OPEN) : end]
        return reasoning.strip(), content[end + len(THINK_CLOSE) :].strip()
    return "", content


def usage_metadata(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI ``usage`` → LangChain ``usage_metadata``."""
    if not usage:
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    out: dict[str, Any] = {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    if reasoning:
        out["output_token_details"] = {"reasoning": int(reasoning)}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    if cached:
        out["input_token_details"] = {"cache_read": int(cached)}
    return out


def _reasoning_kwargs(message: dict[str, Any], from_tags: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    reasoning_content = message.get("reasoning_content")
    reasoning = message.get("reasoning")
    if reasoning_content or reasoning or from_tags:
        out["reasoning_content"] = reasoning_content or reasoning or from_tags
    if reasoning:
        out["reasoning"] = reasoning
    return out


def _arguments_text(arguments: Any) -> str:
    if arguments is None:
        return ""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _raise_body_error(data: dict[str, Any], model_id: str, request_id: str | None) -> None:
    if isinstance(data.get("error"), dict) and "choices" not in data:
        err = data["error"]
        raise StreamError(
            err.get("message") or "the service returned an error",
            title=err.get("type"),
            request_id=request_id,
            model=model_id,
        )


def parse_response(data: dict[str, Any], *, model_id: str, request_id: str | None) -> AIMessage:
    """A non-streamed chat completion → ``AIMessage`` (its first choice)."""
    return parse_choices(data, model_id=model_id, request_id=request_id)[0]


def parse_choices(
    data: dict[str, Any], *, model_id: str, request_id: str | None
) -> list[AIMessage]:
    """A non-streamed chat completion → one ``AIMessage`` per choice, in ``index`` order.

    Usage covers the whole request, so it rides on the first message only.
    """
    _raise_body_error(data, model_id, request_id)
    choices = [c for c in (data.get("choices") or []) if isinstance(c, dict)] or [{}]
    ordered = sorted(enumerate(choices), key=lambda p: (_index(p[1], p[0]), p[0]))
    return [
        _choice_message(choice, data, model_id, request_id, first=n == 0)
        for n, (_, choice) in enumerate(ordered)
    ]


def _index(choice: dict[str, Any], default: int) -> int:
    index = choice.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else default


def _choice_message(
    choice: dict[str, Any],
    data: dict[str, Any],
    model_id: str,
    request_id: str | None,
    *,
    first: bool,
) -> AIMessage:
    message = choice.get("message") or {}
    if not message and "text" in choice:
        message = {"content": choice["text"]}
    content = message.get("content") or ""
    if isinstance(content, list):  # a few services answer with parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    reasoning, answer = split_thinking(content)
    additional: dict[str, Any] = _reasoning_kwargs(message, reasoning)
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        additional["refusal"] = message["refusal"]
    tool_calls, invalid = [], []
    raw_calls = message.get("tool_calls") or []
    for raw in raw_calls:
        raw = {**raw, "function": {**raw.get("function", {})}}
        raw["function"]["arguments"] = _arguments_text(raw["function"].get("arguments")) or "{}"
        try:
            parsed = parse_tool_call(raw, return_id=True)
        except Exception as exc:  # OutputParserException and malformed JSON alike
            invalid.append(make_invalid_tool_call(raw, str(exc)))
        else:
            if parsed is not None:
                tool_calls.append(parsed)
    if raw_calls:
        additional["tool_calls"] = raw_calls
    metadata = {
        "model_name": data.get("model") or model_id,
        "finish_reason": choice.get("finish_reason"),
        "request_id": request_id,
    }
    if "index" in choice:
        metadata["choice_index"] = choice["index"]
    return AIMessage(
        content=answer,
        additional_kwargs=additional,
        tool_calls=tool_calls,
        invalid_tool_calls=invalid,
        usage_metadata=usage_metadata(data.get("usage")) if first else None,  # type: ignore[arg-type]
        response_metadata=metadata,
    )


class _ChoiceStream:
    """One choice of a stream: its think-tag state, text, refusal and tool calls so far."""

    def __init__(self) -> None:
        self.finish: str | None = None
        self._state = "start"  # start → thinking → after → answer
        self._buffer = ""
        self._calls: dict[int, dict[str, Any]] = {}  # index → {"id", "name"}
        self._ids: dict[str, int] = {}
        self._last_index: int | None = None
        # Pieces, not ``+=`` on a str: that would copy the whole answer at every chunk
        # (quadratic: seconds for a few MB). ``text`` joins on demand.
        self.pieces: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.raw_calls: list[dict[str, Any]] = []

    @property
    def text(self) -> str:
        if len(self.pieces) > 1:
            self.pieces[:] = ["".join(self.pieces)]
        return self.pieces[0] if self.pieces else ""

    # -- think tags -------------------------------------------------------------------------

    def split_content(self, piece: str) -> tuple[str, str]:
        """(reasoning, answer) parts of a streamed content piece, across chunk borders."""
        if self._state == "answer" and not self._buffer:
            return "", piece  # past any think block: the common case, once per chunk
        self._buffer += piece
        reasoning = answer = ""
        while self._buffer:
            if self._state == "start":
                head = self._buffer.lstrip()
                if head.startswith(THINK_OPEN):
                    self._buffer = head[len(THINK_OPEN) :].lstrip("\n")
                    self._state = "thinking"
                elif head and THINK_OPEN.startswith(head):
                    break  # maybe a tag still arriving
                elif not head:
                    break
                else:
                    self._state = "answer"
            elif self._state == "thinking":
                end = self._buffer.find(THINK_CLOSE)
                if end >= 0:
                    reasoning += self._buffer[:end]
                    self._buffer = self._buffer[end + len(THINK_CLOSE) :].lstrip()
                    self._state = "after"
                    continue
                keep = _partial_suffix(self._buffer, THINK_CLOSE)
                reasoning += self._buffer[: len(self._buffer) - keep]
                self._buffer = self._buffer[len(self._buffer) - keep :]
                break
            elif self._state == "after":
                self._buffer = self._buffer.lstrip()
                if self._buffer:
                    self._state = "answer"
                else:
                    break
            else:
                answer += self._buffer
                self._buffer = ""
        return reasoning, answer

    def leftover(self) -> tuple[str, str]:
        """(reasoning, answer) still held back when the stream ends."""
        buffer, self._buffer = self._buffer, ""
        return (buffer, "") if self._state == "thinking" else ("", buffer)

    # -- tool calls -------------------------------------------------------------------------

    def tool_chunks(self, calls: list[dict[str, Any]]) -> list[Any]:
        out = []
        for call in calls:
            fn = call.get("function") or {}
            call_id = call.get("id") or None
            index = call.get("index")
            if not isinstance(index, int):
                if call_id and call_id in self._ids:
                    index = self._ids[call_id]
                elif call_id or self._last_index is None:
                    index = len(self._calls)
                else:
                    index = self._last_index
            known = self._calls.setdefault(index, {})
            if call_id:
                self._ids[call_id] = index
            name = fn.get("name") or None
            # Send id and name once per call: chunk merging concatenates repeated strings.
            if call_id and known.get("id") == call_id:
                call_id = None
            elif call_id:
                known["id"] = call_id
            if name and known.get("name") == name:
                name = None
            elif name:
                known["name"] = name
            self._last_index = index
            out.append(
                tool_call_chunk(
                    name=name,
                    args=_arguments_text(fn.get("arguments")) or None,
                    id=call_id,
                    index=index,
                )
            )
        return out

    def summary(self, index: int) -> dict[str, Any]:
        """This choice, whole (for ``response_metadata["other_choices"]``)."""
        reasoning, answer = self.leftover()
        if answer:
            self.pieces.append(answer)
        if reasoning:
            self.reasoning.append(reasoning)
        out: dict[str, Any] = {"index": index, "content": self.text, "finish_reason": self.finish}
        if self.reasoning:
            out["reasoning_content"] = "".join(self.reasoning)
        if self.refusal:
            out["refusal"] = "".join(self.refusal)
        if self._calls:
            calls: dict[int, dict[str, Any]] = {}
            for chunk in self.raw_calls:
                call = calls.setdefault(chunk["index"], {"id": None, "name": None, "args": ""})
                call["id"] = call["id"] or chunk.get("id")
                call["name"] = call["name"] or chunk.get("name")
                call["args"] += chunk.get("args") or ""
            out["tool_calls"] = [calls[i] for i in sorted(calls)]
        return out


class StreamAssembler:
    """Turns SSE chunk dicts into ``AIMessageChunk``s that add up to the whole answer.

    Usage is emitted once, on the last chunk (some servers repeat cumulative usage on every
    chunk); model name and request id ride on the first chunk, the finish reason where it comes,
    so LangChain's string concatenation of metadata never doubles them. Pieces are keyed by
    ``choice.index``: what is yielded (and :attr:`text`) is the first choice only.
    """

    def __init__(self, *, model_id: str, request_id: str | None) -> None:
        self.model_id = model_id
        self.request_id = request_id
        self._first = True
        self._usage: dict[str, Any] | None = None
        self._choices: dict[int, _ChoiceStream] = {}
        self._primary: int | None = None  # the index whose chunks are yielded (0 normally)

    @property
    def _main(self) -> _ChoiceStream:
        if self._primary is None:
            self._primary = 0
        return self._choices.setdefault(self._primary, _ChoiceStream())

    @property
    def text(self) -> str:
        """The first choice's answer so far (for errors that need the partial text)."""
        return self._main.text

    @text.setter
    def text(self, value: str) -> None:
        self._main.pieces = [value] if value else []

    @property
    def texts(self) -> dict[int, str]:
        """Every choice's answer so far, by ``index``."""
        return {index: c.text for index, c in sorted(self._choices.items())}

    # -- chunks -----------------------------------------------------------------------------

    def feed(self, data: dict[str, Any]) -> AIMessageChunk | None:
        """The message chunk for one SSE event, or ``None`` when it carries nothing to show."""
        piece = self._plain_piece(data)
        if piece:
            return AIMessageChunk(content=piece)
        if isinstance(data.get("error"), dict) and not data.get("choices"):
            err = data["error"]
            raise StreamError(
                err.get("message") or "the stream reported an error",
                title=err.get("type"),
                request_id=self.request_id,
                model=self.model_id,
                partial_text=self.text,
            )
        if data.get("usage"):
            self._usage = data["usage"]
        out: AIMessageChunk | None = None
        for position, choice in enumerate(data.get("choices") or []):
            if not isinstance(choice, dict):
                continue
            index = _index(choice, position)
            if self._primary is None:
                self._primary = index
            message = self._feed_choice(index, choice, data)
            if index == self._primary:
                out = message
        return out

    def _plain_piece(self, data: dict[str, Any]) -> str | None:
        """The usual chunk's text, taken (and kept) without the general path: one choice, the
        primary one, its delta only role and content, no finish reason or usage, past any think
        block and the first chunk. Anything else returns ``None`` and goes the general way, which
        would make the same chunk of it (measured in ``bench/`` 9: this runs for each token)."""
        choices = data.get("choices")
        if self._first or data.get("usage") or type(choices) is not list or len(choices) != 1:
            return None
        choice = choices[0]
        if type(choice) is not dict or choice.get("finish_reason"):
            return None
        delta = choice.get("delta")
        if type(delta) is not dict or not delta.keys() <= _PLAIN_DELTA:
            return None
        piece = delta.get("content")
        if type(piece) is not str or not piece or self._primary != 0 or choice.get("index", 0):
            return None
        state = self._choices.get(0)
        if state is None or state._state != "answer" or state._buffer:
            return None
        state.pieces.append(piece)
        return piece

    def _feed_choice(
        self, index: int, choice: dict[str, Any], data: dict[str, Any]
    ) -> AIMessageChunk | None:
        state = self._choices.setdefault(index, _ChoiceStream())
        delta = choice.get("delta") or choice.get("message") or {}
        if not delta and "text" in choice:
            delta = {"content": choice["text"]}
        if choice.get("finish_reason"):
            state.finish = choice["finish_reason"]
        reasoning, answer = state.split_content(delta.get("content") or "")
        additional: dict[str, Any] = {}
        if reasoning:
            additional["reasoning_content"] = reasoning
        additional.update(_reasoning_kwargs(delta))
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            additional["refusal"] = refusal
            state.refusal.append(refusal)
        tool_chunks = state.tool_chunks(delta.get("tool_calls") or [])
        if answer:
            state.pieces.append(answer)
        if index != self._primary:
            if additional.get("reasoning_content"):
                state.reasoning.append(additional["reasoning_content"])
            state.raw_calls.extend(tool_chunks)
            return None
        if not (answer or additional or tool_chunks):
            return None
        metadata: dict[str, Any] = {}
        if self._first:
            metadata = {
                "model_name": data.get("model") or self.model_id,
                "request_id": self.request_id,
            }
            self._first = False
        # only what is set: each field given is validated again (~1.5 µs a chunk for empty ones)
        fields: dict[str, Any] = {"content": answer}
        if additional:
            fields["additional_kwargs"] = additional
        if tool_chunks:
            fields["tool_call_chunks"] = tool_chunks
        if metadata:
            fields["response_metadata"] = metadata
        return AIMessageChunk(**fields)

    def finish(self) -> AIMessageChunk:
        """The closing chunk: leftover text, usage, finish reason, ``chunk_position="last"``."""
        main = self._main
        reasoning, leftover = main.leftover()
        additional: dict[str, Any] = {"reasoning_content": reasoning} if reasoning else {}
        metadata: dict[str, Any] = {"finish_reason": main.finish}
        if self._first:
            metadata.update(model_name=self.model_id, request_id=self.request_id)
        others = [
            state.summary(index)
            for index, state in sorted(self._choices.items())
            if index != self._primary
        ]
        if others:
            metadata["other_choices"] = others
        if leftover:
            main.pieces.append(leftover)
        return AIMessageChunk(
            content=leftover,
            additional_kwargs=additional,
            usage_metadata=usage_metadata(self._usage),  # type: ignore[arg-type]
            response_metadata=metadata,
            chunk_position="last",
        )


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a beginning of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0
