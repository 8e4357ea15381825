"""StreamPane: coalesced deltas, exact final text, stop, resync, errors, static fallback."""

from __future__ import annotations

import threading
import time

import pytest

from nvnb.errors import NVNBError
from nvnb.session import Session
from nvnb.widgets import StreamPane


def test_a_5000_token_answer_arrives_exact_in_few_coalesced_messages(nvnb_server, sent):
    session = Session(base_url=nvnb_server.base_url, default_headers={"X-NVNB-Fault": "long=25000"})
    pane = StreamPane(session=session)
    front = sent(pane)
    t0 = time.monotonic()
    answer = session.ask("Write a long essay", sink=pane)
    elapsed = time.monotonic() - t0
    assert len(answer.text) == 25000
    assert answer.stats.output_tokens >= 4000
    assert pane.text == answer.text and pane.status == "done"
    # What a front end rebuilt from the deltas is the model's text, gap-free.
    assert front.text == answer.text[: len(front.text)]
    deltas = len(front.of("delta"))
    assert deltas <= 30 * elapsed + 3, (deltas, elapsed)
    assert pane.messages_sent == deltas + 1  # + the start message
    assert pane.stats["output_tokens"] == answer.stats.output_tokens
    assert pane.request_id == answer.request_id


def test_a_slow_stream_is_flushed_by_the_timer_without_waiting_for_the_next_token(sent):
    pane = StreamPane(session=Session())
    front = sent(pane)
    pane.on_start(None)
    pane.on_delta("one ")  # flushed at once
    pane.on_delta("two ")  # too soon: buffered, a timer flushes it
    assert front.text == "one "
    time.sleep(0.12)
    assert front.text == "one two "
    assert pane.text == ""  # the trait is set only at the end


def test_the_rate_limit_holds_for_a_burst_of_single_characters(sent):
    pane = StreamPane(session=Session(), max_rate=20)
    front = sent(pane)
    pane.on_start(None)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.5:
        pane.on_delta("x")
    time.sleep(0.1)
    assert len(front.of("delta")) <= 20 * 0.6 + 2
    assert front.text == "x" * pane._pieces


def test_stop_from_the_front_end_keeps_the_partial_text(nvnb_server, sent):
    session = Session(
        base_url=nvnb_server.base_url, default_headers={"X-NVNB-Fault": "chunk-delay-ms=30"}
    )
    pane = StreamPane(session=session)
    front = sent(pane)

    def stop_once_text_arrives() -> None:  # as a person clicks Stop on a growing answer
        deadline = time.monotonic() + 30
        while len(front.text) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        pane._on_front_end_msg(pane, {"type": "stop"}, [])

    threading.Thread(target=stop_once_text_arrives, daemon=True).start()
    answer = session.ask("Tell me a long story about GPUs", max_tokens=400, sink=pane)
    assert answer.stopped
    assert pane.status == "stopped" and pane.text == answer.text and answer.text
    assert front.text == answer.text[: len(front.text)]
    assert pane._fallback_markdown().endswith("*(stopped)*")


def test_a_view_opened_mid_stream_gets_the_text_so_far_on_resync(sent):
    pane = StreamPane(session=Session())
    front = sent(pane)
    pane.on_start(None)
    pane.on_delta("Hello ")
    pane.on_delta("world")
    pane._on_front_end_msg(pane, {"type": "resync"}, [])
    assert front.of("reset")[-1]["text"] == "Hello world"
    pane.on_delta("!")
    time.sleep(0.1)
    assert front.text == "Hello world!"


def test_reasoning_streams_beside_the_answer(sent):
    pane = StreamPane(session=Session())
    front = sent(pane)
    pane.on_start(None)
    pane.on_reasoning("thinking ")
    time.sleep(0.05)
    pane.on_delta("answer")
    time.sleep(0.1)
    assert (front.reasoning, front.text) == ("thinking ", "answer")


def test_an_error_shows_a_short_banner_with_the_request_id(nvnb_server):
    session = Session(
        base_url=nvnb_server.base_url,
        default_headers={"X-NVNB-Fault": "status=500"},
        max_retries=0,
    )
    pane = StreamPane(session=session)
    with pytest.raises(NVNBError) as info:
        session.ask("hi", sink=pane)
    error = info.value
    assert pane.status == "error"
    assert "\n" not in pane.error and len(pane.error) < 300
    assert error.request_id and error.request_id in pane.error
    assert pane._repr_mimebundle_()[0]["text/markdown"].startswith("**Error:**")


def test_a_stream_error_keeps_the_partial_text(nvnb_server):
    session = Session(
        base_url=nvnb_server.base_url,
        default_headers={"X-NVNB-Fault": "drop-after=5"},
        max_retries=0,
    )
    pane = StreamPane(session=session)
    with pytest.raises(NVNBError):
        session.ask("Tell me about GPUs", sink=pane)
    assert pane.status == "error" and pane.text


def test_the_pane_has_a_stable_repr_and_a_readable_fallback(nvnb_server):
    pane = StreamPane(session=Session(base_url=nvnb_server.base_url))
    assert repr(pane) == "StreamPane(status='idle', chars=0)"
    pane.session.ask("hi", sink=pane)
    data, _ = pane._repr_mimebundle_()
    assert data["text/plain"] == f"StreamPane(status='done', chars={len(pane.text)})"
    assert data["text/markdown"] == pane.text
    assert "application/vnd.jupyter.widget-view+json" in data


def test_the_fallback_is_inert_markdown_and_the_text_stays_exact():
    pane = StreamPane(session=Session())
    pane.on_start(None)
    hostile = "<script>alert(1)</script> <img src=x onerror=alert(2)> **bold**"
    pane.on_delta(hostile)
    pane.on_end(None)
    assert pane.text == hostile
    markdown = pane._repr_mimebundle_()[0]["text/markdown"]
    assert "<script" not in markdown and "<img" not in markdown and "**bold**" in markdown
    pane.on_error(RuntimeError("<img src=x onerror=alert(3)>"))  # an error may quote a server
    assert "<img" not in pane._repr_mimebundle_()[0]["text/markdown"]


def test_a_long_stream_is_accumulated_in_linear_time(sent):
    """4 000 deltas of 2 500 characters (10 MB): ``self._text += delta`` copies ~20 GB (about 3 s
    of CPU here); keeping the pieces takes a few hundredths of a second."""
    pane = StreamPane(session=Session())
    front = sent(pane)
    pane.on_start(None)
    piece = "x" * 2_500
    started = time.process_time()
    for _ in range(4_000):
        pane.on_delta(piece)
    pane.on_end(None)
    assert time.process_time() - started < 0.5
    assert pane.text == piece * 4_000 and front.text == pane.text[: len(front.text)]
