"""nvnb.answers: an answer, its stats, a conversation turn, and the partial text of an answer
that an error cut short."""

from __future__ import annotations

from nvnb.answers import Answer, Stats, partial_text
from nvnb.errors import StreamInterrupted


def test_an_answer_streams_in_pieces_and_reads_as_one_text() -> None:
    answer = Answer(model="m")
    for piece in ("Hel", "lo", " there"):
        answer._append(piece)
    answer._append(reasoning="thinking")
    assert answer.text == "Hello there" and str(answer) == "Hello there"
    answer._settle()
    assert answer.text == "Hello there" and answer.reasoning == "thinking"


def test_stats_summarise_in_one_line() -> None:
    stats = Stats(time_to_first_token=0.21, elapsed=2.0, output_tokens=120, tokens_per_second=48.3)
    assert stats.summary() == "first token 0.21 s · 48.3 tok/s · 120 tokens"
    assert Stats().summary() == "0 tokens"


def test_the_partial_text_of_an_interrupted_answer_is_read_in_one_place() -> None:
    # An error the session raised carries the partial answer itself.
    from_session = StreamInterrupted("the stream broke off", partial_text="Hel")
    from_session.answer = Answer(text="Hello")  # type: ignore[attr-defined]
    assert partial_text(from_session) == "Hello"
    # An error a chat model raised directly carries the text it had received.
    assert partial_text(StreamInterrupted("the stream broke off", partial_text="Hel")) == "Hel"
    assert partial_text(ValueError("before any text")) == ""


def test_an_error_line_is_the_first_line_with_the_request_id_once() -> None:
    from nvnb.answers import error_line
    from nvnb.errors import APIError

    exc = APIError("Upstream said no\nand more detail", status=500, request_id="req-7")
    line = error_line(exc)
    assert line == "500: Upstream said no (request id: req-7)"  # the id from the last line
    assert line.count("req-7") == 1
    assert error_line(RuntimeError()) == "RuntimeError"
    said = RuntimeError("failed (request id: r-1)")
    said.request_id = "r-1"  # type: ignore[attr-defined]
    assert error_line(said) == "failed (request id: r-1)"
