"""The shared session: state, the ask/sink contract, stop, history."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from nvnb.session import Answer, Session, Turn


class ScriptedChat(BaseChatModel):
    """Streams a fixed list of pieces with a delay; records what it was asked and if it was closed.

    A stand-in for the sink/stop contract only; ChatNVIDIA against the local server is tested below.
    """

    pieces: list[str] = ["Hello", ", ", "world", "."]  # noqa: RUF012 (pydantic copies it)
    delay: float = 0.0
    reasoning: str = ""
    fail_after: int | None = None
    calls: list[dict[str, Any]] = []  # noqa: RUF012
    closed: list[bool] = []  # noqa: RUF012

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage("".join(self.pieces)))])

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        self.calls.append({"messages": messages, **kwargs})
        try:
            if self.reasoning:
                yield ChatGenerationChunk(
                    message=AIMessageChunk(
                        content="", additional_kwargs={"reasoning_content": self.reasoning}
                    )
                )
            for i, piece in enumerate(self.pieces):
                if self.fail_after is not None and i == self.fail_after:
                    raise RuntimeError("the stream broke")
                await asyncio.sleep(self.delay)
                yield ChatGenerationChunk(
                    message=AIMessageChunk(
                        content=piece, response_metadata={"request_id": "req-123"}
                    )
                )
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    response_metadata={"finish_reason": "stop"},
                    usage_metadata={
                        "input_tokens": 3,
                        "output_tokens": len(self.pieces),
                        "total_tokens": 3 + len(self.pieces),
                    },
                )
            )
        finally:
            self.closed.append(True)


class RecordingSink:
    def __init__(self) -> None:
        self.deltas: list[str] = []
        self.reasoning: list[str] = []
        self.ended: list[Answer] = []
        self.errors: list[BaseException] = []
        self.started: list[Answer] = []
        self.threads: set[int] = set()

    def on_start(self, answer: Answer) -> None:
        self.started.append(answer)

    def on_delta(self, text: str) -> None:
        self.threads.add(threading.get_ident())
        self.deltas.append(text)

    def on_reasoning(self, text: str) -> None:
        self.reasoning.append(text)

    def on_end(self, answer: Answer) -> None:
        self.ended.append(answer)

    def on_error(self, exc: BaseException) -> None:
        self.errors.append(exc)


def make(**kw: Any) -> tuple[Session, ScriptedChat]:
    llm = ScriptedChat(calls=[], closed=[], **kw)
    return Session(llm=llm), llm


def test_ask_streams_deltas_into_the_sink_from_the_calling_thread_and_returns_the_answer():
    s, _ = make(reasoning="thinking…")
    sink = RecordingSink()
    answer = s.ask("Say hello", sink=sink)
    assert answer.text == "Hello, world."
    assert "".join(sink.deltas) == answer.text
    assert sink.reasoning == ["thinking…"] and answer.reasoning == "thinking…"
    assert sink.ended == [answer] and not sink.errors
    assert sink.started == [answer]
    assert sink.threads == {threading.get_ident()}
    assert answer.request_id == "req-123"
    assert answer.finish_reason == "stop"
    assert answer.usage["output_tokens"] == 4
    assert answer.stats.output_tokens == 4
    assert answer.stats.time_to_first_token is not None
    assert not answer.stopped


def test_every_ask_is_kept_in_the_history_and_last_answer():
    s, _ = make()
    a = s.ask("one")
    assert [t.role for t in s.history] == ["user", "assistant"]
    assert s.history[0].content == "one" and s.history[1].answer is a
    assert s.last_answer is a
    assert not s.busy


def test_chat_true_sends_the_history_and_single_turn_does_not():
    s, llm = make()
    s.ask("first")
    s.ask("second")
    assert len(llm.calls[-1]["messages"]) == 1
    s.ask("third", chat=True)
    sent = llm.calls[-1]["messages"]
    assert [m.content for m in sent] == [
        "first",
        "Hello, world.",
        "second",
        "Hello, world.",
        "third",
    ]


def test_system_prompt_and_settings_go_with_the_request_and_overrides_win():
    s, llm = make()
    s.system_prompt = "Be brief."
    s.temperature = 0.2
    s.max_tokens = 50
    s.ask("hi", temperature=0.9, seed=7)
    call = llm.calls[-1]
    assert call["messages"][0].content == "Be brief."
    assert call["temperature"] == 0.9 and call["max_tokens"] == 50 and call["seed"] == 7
    assert "top_p" not in call


def test_labels_are_sent_only_to_models_that_take_them():
    s, llm = make()
    s.labels = {"creativity": 9, "verbosity": 0}
    s.ask("hi")  # the default model takes no labels
    assert "labels" not in llm.calls[-1]
    s.model = "nvidia/nemotron-steerlm-8b"
    s.ask("hi")
    assert llm.calls[-1]["labels"] == {"creativity": 9, "verbosity": 0}
    s.ask("hi", model="meta/llama-3.1-8b-instruct", labels={"complexity": 3})
    assert llm.calls[-1]["labels"] == {"complexity": 3}


def test_labels_out_of_range_or_unknown_are_refused():
    s, _ = make()
    with pytest.raises(ValueError, match="from 0 to 9"):
        s.labels = {"creativity": 10}
    with pytest.raises(ValueError, match="unknown label"):
        s.ask("hi", labels={"humour": 3})


def test_model_aliases_resolve_to_the_catalog_id():
    s, _ = make()
    s.model = "playground_nemotron_steerlm_8b"
    assert s.model == "nvidia/nemotron-steerlm-8b"
    assert s.takes_labels == ("creativity", "complexity", "verbosity")
    s.model = "my-own-nim-model"
    assert s.model == "my-own-nim-model" and s.takes_labels == ()


def test_unknown_overrides_and_empty_prompts_are_refused():
    s, _ = make()
    with pytest.raises(TypeError, match="temprature"):
        s.ask("hi", temprature=1)
    with pytest.raises(ValueError, match="empty"):
        s.ask("   ")


def test_stop_from_another_thread_closes_the_stream_and_keeps_the_partial_text():
    s, llm = make(pieces=[f"w{i} " for i in range(200)], delay=0.02)
    sink = RecordingSink()
    threading.Timer(0.25, s.stop).start()
    t0 = time.monotonic()
    answer = s.ask("long", sink=sink)
    assert time.monotonic() - t0 < 3.0  # 200 pieces × 20 ms would take 4 s unstopped
    assert answer.stopped and answer.stop_reason == "stop"
    assert 0 < len(answer.text) < len("".join(llm.pieces))
    assert answer.text == "".join(sink.deltas)
    assert sink.ended == [answer]
    assert llm.closed == [True]
    assert s.history[-1].content == answer.text and s.history[-1].answer.stopped
    assert not s.busy


def test_keyboard_interrupt_while_waiting_stops_the_request_and_returns_the_partial_answer():
    s, _ = make(pieces=[f"w{i} " for i in range(100)], delay=0.02)

    class InterruptingSink(RecordingSink):
        def on_delta(self, text: str) -> None:
            super().on_delta(text)
            if len(self.deltas) == 3:
                raise KeyboardInterrupt

    sink = InterruptingSink()
    answer = s.ask("long", sink=sink)
    assert answer.stopped and answer.stop_reason == "interrupt"
    assert answer.text.startswith("w0 w1 w2 ")
    assert len(answer.text) < 100 * 3
    assert sink.ended == [answer]
    assert s.history[-1].answer is answer


def test_an_error_reaches_the_sink_keeps_partial_text_and_is_raised():
    s, _ = make(fail_after=2)
    sink = RecordingSink()
    with pytest.raises(RuntimeError, match="broke") as info:
        s.ask("hi", sink=sink)
    assert sink.errors == [info.value] and not sink.ended
    assert info.value.answer.text == "Hello, "  # type: ignore[attr-defined]
    assert s.history[-1].role == "assistant" and s.history[-1].content == "Hello, "


async def test_ask_async_streams_in_the_event_loop_and_can_be_stopped():
    s, llm = make(pieces=[f"w{i} " for i in range(100)], delay=0.01)
    sink = RecordingSink()
    asyncio.get_running_loop().call_later(0.15, s.stop)
    answer = await s.ask_async("long", sink=sink)
    assert answer.stopped and 0 < len(answer.text) < 300
    assert sink.threads == {threading.get_ident()}
    assert llm.closed == [True]
    full = await s.ask_async("again")
    assert full.text == "".join(llm.pieces)


def test_stop_with_nothing_in_flight_is_harmless():
    s, _ = make()
    assert s.stop() is False


def test_observers_see_model_history_and_busy_changes():
    s, _ = make()
    seen: list[str] = []
    s.observe(lambda change: seen.append(change["name"]), names=["model", "history", "busy"])
    s.model = "nvidia/nemotron-steerlm-8b"
    s.ask("hi")
    assert seen[0] == "model" and "history" in seen and seen.count("busy") == 2


def test_history_exports_as_markdown_and_langchain_messages(tmp_path):
    s, _ = make()
    s.system_prompt = "Be kind."
    s.ask("What is 2+2?")
    md = s.export_markdown(tmp_path / "chat.md")
    assert (tmp_path / "chat.md").read_text() == md
    assert "## You\n\nWhat is 2+2?" in md and "Hello, world." in md
    msgs = s.messages()
    assert [type(m).__name__ for m in msgs] == ["SystemMessage", "HumanMessage", "AIMessage"]
    s.clear_history()
    assert s.history == [] and s.last_answer is None


def png_bytes(size: tuple[int, int] = (40, 30), color: str = "red") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_attached_images_go_with_the_next_question_to_vision_models_then_are_cleared():
    s, llm = make()
    s.model = "meta/llama-3.2-11b-vision-instruct"
    att = s.attach_image(png_bytes(), "red.png")
    assert (att.width, att.height, att.mime) == (40, 30, "image/png")
    s.ask("What is this?")
    content = llm.calls[-1]["messages"][-1].content
    assert content[1]["image_url"]["url"] == att.data_uri
    assert s.images == []
    assert s.history[-2].images == (att.data_uri,)


def test_reprs_are_stable_and_carry_no_secrets():
    s = Session(api_key="nvapi-test-sentinel-key-0123456789")
    assert repr(s) == "<nvnb.Session model='meta/llama-3.1-8b-instruct' turns=0>"
    assert "nvapi" not in str(s.trait_values())
    a = Answer(text="x" * 100, model="m")
    assert repr(a) == f"Answer(model='m', text='{'x' * 59}…')"
    assert Turn("user", "hi").to_message() == HumanMessage("hi")


def test_the_default_session_is_one_per_process():
    import nvnb
    import nvnb.session

    assert nvnb.session() is nvnb.session()
    assert isinstance(nvnb.session(), nvnb.Session)


def test_a_continued_chat_sends_earlier_images_only_to_models_that_take_images():
    s, llm = make()
    s.model = "meta/llama-3.2-11b-vision-instruct"
    s.attach_image(png_bytes(), "red.png")
    s.ask("What is this?")
    s.ask("And now?", chat=True)
    assert isinstance(llm.calls[-1]["messages"][0].content, list)
    s.model = "meta/llama-3.1-8b-instruct"
    s.ask("Say more", chat=True)
    assert llm.calls[-1]["messages"][0].content == "What is this?"


# ------------------------------------------------------------ with ChatNVIDIA and the local server
def test_a_qa_model_answers_from_the_context_sent_as_a_context_turn(nvnb_server):
    s = Session("nvidia/nemotron-qa-8b", base_url=nvnb_server.base_url)
    answer = s.ask("What colour is the sky on Mars?", context="The sky on Mars is butterscotch.")
    assert "butterscotch" in answer.text
    sent = nvnb_server.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["context", "user"]


def test_stopping_a_real_stream_closes_it_and_keeps_the_text(nvnb_server):
    slow = {"X-NVNB-Fault": "chunk-delay-ms=20"}
    s = Session(base_url=nvnb_server.base_url, default_headers=slow)

    class StopSoon(RecordingSink):
        def on_delta(self, text: str) -> None:
            super().on_delta(text)
            if len(self.deltas) == 3:  # another thread presses Stop a little later
                threading.Timer(0.1, s.stop).start()

    sink = StopSoon()
    answer = s.ask("Tell me a long story about GPUs", max_tokens=500, sink=sink)
    assert answer.stopped and answer.request_id
    assert answer.text.startswith("This is") and answer.text == "".join(sink.deltas)
    assert len(sink.deltas) < 30
    assert s.history[-1].content == answer.text
    # the session works on after a stop
    assert s.ask("hi").text


async def test_ask_async_streams_from_the_local_server(nvnb_server):
    s = Session(base_url=nvnb_server.base_url)
    sink = RecordingSink()
    answer = await s.ask_async("Hello async", sink=sink)
    assert "Hello async" in answer.text and "".join(sink.deltas) == answer.text
    assert answer.usage["output_tokens"] == answer.stats.output_tokens


def test_a_dropped_connection_raises_with_the_partial_answer(nvnb_server):
    s = Session(
        base_url=nvnb_server.base_url,
        default_headers={"X-NVNB-Fault": "drop-after=5"},
        max_retries=0,
    )
    sink = RecordingSink()
    with pytest.raises(Exception, match=r"(?i)stream|connection") as info:
        s.ask("Tell me about GPUs", sink=sink)
    partial = info.value.answer  # type: ignore[attr-defined]
    assert partial.text and partial.text == "".join(sink.deltas)
    assert sink.errors == [info.value]
    assert s.history[-1].content == partial.text


def test_a_stop_right_after_asking_is_not_lost():
    s, _ = make(pieces=[f"w{i} " for i in range(50)], delay=0.01)

    class StopAtStart(RecordingSink):
        def on_start(self, answer: Answer) -> None:
            super().on_start(answer)
            s.stop()

    answer = s.ask("long", sink=StopAtStart())
    assert answer.stopped and len(answer.text) < 20


# --- model text shown as Markdown is inert; the text itself and the file export stay exact -------

HOSTILE_PIECES = ["Sure: <script>alert('s')</script> ", "<img src=x onerror=alert('i')> ", "`a<b`"]


def test_displayed_markdown_is_inert_while_the_text_and_the_file_export_stay_exact(tmp_path):
    s, _ = make(pieces=HOSTILE_PIECES)
    s.system_prompt = "<b onmouseover=alert(1)>kind</b>"
    answer = s.ask("Repeat <iframe src=javascript:alert(1)>")
    assert answer.text == "".join(HOSTILE_PIECES)  # exact
    shown = [answer._repr_markdown_(), answer.to_markdown(), s.to_markdown()]
    for markdown in shown:
        assert "<script" not in markdown and "<img" not in markdown and "<iframe" not in markdown
        assert "&lt;script>" in markdown or "&lt;iframe" in markdown
    assert "<b onmouseover" not in s.to_markdown()
    assert answer.to_markdown().endswith("</sub>\n")  # the footer's own markup is kept
    exported = s.export_markdown(tmp_path / "chat.md")  # a file, not rendered: exact texts
    assert (tmp_path / "chat.md").read_text() == exported
    assert "".join(HOSTILE_PIECES) in exported and "Repeat <iframe" in exported


# --- the API key is never in a plain attribute --------------------------------------------------

SENTINEL = "nvapi-SENTINEL-0123456789abcdef0123"


def test_a_session_keeps_no_raw_key_in_its_attributes(nvnb_server):
    import pickle

    session = Session(api_key=SENTINEL, base_url=nvnb_server.base_url)
    assert SENTINEL not in repr(vars(session))
    session.ask("hi")  # a ChatNVIDIA is made with the key
    assert session.llm_for().api_key.get_secret_value() == SENTINEL
    forms = [repr(vars(session)), repr(session), str(session.trait_values())]
    forms += [repr(vars(llm)) for llm in session._models.values()]
    assert not [form for form in forms if SENTINEL in form]
    try:
        pickled = pickle.dumps(session)
    except TypeError:  # a session holds a lock and an event loop: it does not pickle
        pass
    else:
        assert SENTINEL.encode() not in pickled


def test_the_key_may_be_given_by_its_chat_model_name_too():
    s = Session(nvidia_api_key=SENTINEL, base_url="http://127.0.0.1:9/v1")
    assert SENTINEL not in repr(vars(s))
    assert s.llm_for().api_key.get_secret_value() == SENTINEL


# --- streamed text is accumulated in linear time ------------------------------------------------


def test_a_long_streamed_answer_is_accumulated_in_linear_time():
    """4 000 pieces of 2 500 characters (10 MB): ``answer.text += piece`` copies ~20 GB (about
    4 s of CPU here); appending to a list takes about 0.5 s, mostly LangChain's own work."""
    piece = "x" * 2_500
    s, _ = make(pieces=[piece] * 4_000)
    started = time.process_time()
    answer = s.ask("long")
    assert time.process_time() - started < 2.0
    assert len(answer.text) == 10_000_000 and s.history[-1].content == answer.text


def test_an_answer_text_reads_and_compares_like_a_plain_string():
    import copy
    import dataclasses
    import pickle

    a = Answer(model="m")
    a._append("Hel")
    a._append("lo", reasoning="think")
    a._append(reasoning="ing")
    assert (a.text, a.reasoning, str(a)) == ("Hello", "thinking", "Hello")
    assert a == Answer(text="Hello", reasoning="thinking", model="m")
    a._settle()
    assert a.text == "Hello" and pickle.loads(pickle.dumps(a)) == a == copy.deepcopy(a)
    assert dataclasses.replace(a, text="Bye").text == "Bye" and a.text == "Hello"
    assert Answer().text == "" and Answer().reasoning == ""


def test_a_session_accumulates_a_long_answer_in_linear_time(nvnb_server):
    """A 5 MB answer through Session.ask: at most a few times the raw ChatNVIDIA stream."""
    from nvnb.chat import ChatNVIDIA

    headers = {"X-NVNB-Fault": "long=5000000"}
    model, prompt = "meta/llama-3.1-8b-instruct", "Tell me about GPUs"
    base_url = nvnb_server.base_url
    llm = ChatNVIDIA(model=model, base_url=base_url, timeout=60, default_headers=headers)
    started = time.monotonic()
    assert sum(len(str(c.content)) for c in llm.stream(prompt)) == 5_000_000
    raw = time.monotonic() - started
    session = Session(model, base_url=base_url, timeout=60, default_headers=headers)
    started = time.monotonic()
    assert len(session.ask(prompt).text) == 5_000_000
    assert time.monotonic() - started < 2 * raw + 2


# --- the default model ---------------------------------------------------------------------------


def test_a_new_session_starts_on_the_named_default_model():
    import nvnb.chat
    import nvnb.session as session_module

    assert Session().model == session_module.DEFAULT_MODEL == "meta/llama-3.1-8b-instruct"
    assert session_module.DEFAULT_MODEL != nvnb.chat.DEFAULT_MODEL  # said in Session's docstring


def test_a_request_that_fails_before_any_answer_leaves_no_unanswered_turn(nvnb_server):
    s = Session(base_url=nvnb_server.base_url, max_retries=0)
    s.ask("First question")
    s.ask("Second question", chat=True)
    assert len(s.history) == 4
    failing = Session(
        base_url=nvnb_server.base_url,
        default_headers={"X-NVNB-Fault": "status=500"},
        max_retries=0,
    )
    failing.history = list(s.history)
    with pytest.raises(Exception, match="500"):
        failing.ask("Lost question", chat=True)
    assert [t.content for t in failing.history] == [t.content for t in s.history]
    # The next chat turn sends the earlier conversation, not the unanswered question.
    s.history = failing.history
    s.ask("Third question", chat=True)
    sent = [m["content"] for m in nvnb_server.requests[-1].json["messages"] if m["role"] == "user"]
    assert sent == ["First question", "Second question", "Third question"]


def test_the_session_lists_the_models_its_service_serves(nvnb_server):
    s = Session(base_url=nvnb_server.base_url)
    listed = s.available_models()
    assert listed is not None and s.model in listed
    assert all(isinstance(model_id, str) for model_id in listed)
    offline, _ = make()  # a chat model with no /v1/models listing
    assert offline.available_models() is None


def test_the_session_says_where_its_requests_go(nvnb_server):
    assert Session(base_url=nvnb_server.base_url).base_url == nvnb_server.base_url
    own, _ = make()  # a chat model of one's own: nvnb cannot tell
    assert own.base_url == ""


def test_the_sessions_chat_models_are_the_catalogs_merge_of_its_listing(nvnb_server):
    s = Session(base_url=nvnb_server.base_url)  # loopback: a self-hosted server's list counts
    offered = s.chat_models()
    assert offered is not None and all(m.is_chat for m in offered)
    assert [m.id for m in offered] == [m.id for m in s.served_models()]
    assert {m.id for m in offered} <= set(s.available_models())
    offline, _ = make()
    assert offline.chat_models() is None
