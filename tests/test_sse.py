"""SSE: event-stream rules, chat chunks, in-stream errors; any chunking gives the same result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvnb.client.sse import ChatStreamDecoder, ServerSentEvent, SSEParser, chunk_text
from nvnb.errors import NVNBError, StreamError, StreamInterrupted


def parse_all(data: bytes, cuts: list[int] | None = None) -> list[ServerSentEvent]:
    parser = SSEParser()
    events = []
    start = 0
    for cut in sorted(cuts or []):
        events += parser.feed(data[start:cut])
        start = cut
    events += parser.feed(data[start:])
    events += parser.finish()
    return events


def chunk(text: str, **extra: object) -> dict:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
        **extra,
    }


def sse(*objects: object, done: bool = True, eol: str = "\n") -> bytes:
    out = "".join(f"data: {json.dumps(o)}{eol}{eol}" for o in objects)
    if done:
        out += f"data: [DONE]{eol}{eol}"
    return out.encode()


def decode_all(data: bytes, cuts: list[int] | None = None) -> list[object]:
    dec = ChatStreamDecoder()
    items: list[object] = []
    start = 0
    for cut in [*sorted(cuts or []), len(data)]:
        items += dec.feed(data[start:cut])
        start = cut
    items += dec.finish()
    for item in items:
        if isinstance(item, dict):
            dec.delivered(item)
    return items


# --- the event-stream rules --------------------------------------------------------------


def test_data_lines_become_events() -> None:
    events = parse_all(b"data: one\n\ndata: two\n\n")
    assert [e.data for e in events] == ["one", "two"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert parse_all(b"data: a\ndata: b\ndata:c\n\n")[0].data == "a\nb\nc"


def test_comments_and_keep_alives_are_ignored() -> None:
    events = parse_all(b": keep-alive\n\n:\n\ndata: x\n: mid-event comment\n\n")
    assert [e.data for e in events] == ["x"]


def test_event_id_and_retry_fields_are_kept() -> None:
    (event,) = parse_all(b"event: message\nid: 7\nretry: 1000\ndata: x\n\n")
    assert (event.event, event.id, event.retry, event.data) == ("message", "7", 1000, "x")


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_every_line_ending_works(eol: str) -> None:
    data = f"data: a{eol}{eol}data: b{eol}data: c{eol}{eol}".encode()
    assert [e.data for e in parse_all(data)] == ["a", "b\nc"]


def test_a_crlf_split_between_chunks_is_one_line_end() -> None:
    data = b"data: a\r\n\r\ndata: b\r\n\r\n"
    for cut in range(len(data) + 1):
        assert [e.data for e in parse_all(data, [cut])] == ["a", "b"], cut


def test_utf8_split_inside_a_character_is_reassembled() -> None:
    data = "data: héllo wörld ✓ 🙂\n\n".encode()
    for cut in range(len(data) + 1):
        assert parse_all(data, [cut])[0].data == "héllo wörld ✓ 🙂"


def test_reads_cut_anywhere_decode_as_the_whole_stream_does() -> None:
    # whole characters, characters cut between reads, invalid bytes and a BOM, in every pair
    # of cuts: each read decoded on its own or through the incremental decoder, one result
    data = b"\xef\xbb\xbfdata: h\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x99\x82 \xff end\n\ndata: \xc3\n\n"
    whole = [e.data for e in parse_all(data)]
    assert whole == ["hé ✓ 🙂 \ufffd end", "\ufffd"]
    for a in range(len(data) + 1):
        for b in range(a, len(data) + 1, 3):
            assert [e.data for e in parse_all(data, [a, b])] == whole, (a, b)


def test_a_leading_byte_order_mark_is_ignored() -> None:
    assert parse_all(b"\xef\xbb\xbfdata: x\n\n")[0].data == "x"


def test_a_last_event_without_a_blank_line_is_discarded() -> None:
    # "If the file ends in the middle of an event, before the final empty line, the incomplete
    # event is not dispatched."
    assert [e.data for e in parse_all(b"data: x\n\ndata: [DONE]")] == ["x"]
    assert [e.data for e in parse_all(b"data: x\n\ndata: [DONE]\n")] == ["x"]


def test_a_line_that_is_no_sse_field_is_ignored() -> None:
    assert [e.data for e in parse_all(b"data: x\n\n<html>oops</html>\n\ndata: y\n\n")] == [
        "x",
        "y",
    ]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert parse_all(b"data: \xff\xfe\n\n")[0].data == "\ufffd\ufffd"


def test_an_endless_line_is_cut_off() -> None:
    parser = SSEParser(max_line_chars=1000)
    with pytest.raises(StreamInterrupted):
        for _ in range(20):
            parser.feed(b"data: " + b"x" * 100)


# --- chat chunks -------------------------------------------------------------------------


def test_chunks_end_at_done_and_text_is_tracked() -> None:
    usage = {"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    items = decode_all(sse(chunk("Hel"), chunk("lo"), usage) + b"data: ignored-after-done\n\n")
    assert items[:2] == [chunk("Hel"), chunk("lo")]
    assert items[2]["usage"]["completion_tokens"] == 2 and items[2]["choices"] == []
    assert len(items) == 3


def test_a_stream_without_done_is_interrupted() -> None:
    items = decode_all(sse(chunk("a"), done=False))
    assert items[0] == chunk("a")
    assert isinstance(items[1], StreamInterrupted)


@pytest.mark.parametrize(
    "bad",
    [
        b"<html>502 Bad Gateway</html>\n",  # ignored as SSE; then the bytes end before [DONE]
        b"data: \xff\xfe\n\n",  # U+FFFD U+FFFD: not JSON
        b"x" * 40 + b"\n",
        b"data: {not json\n\n",
    ],
)
def test_chunks_before_a_broken_line_are_delivered_whatever_the_chunking(bad: bytes) -> None:
    data = sse(chunk("kept"), done=False) + bad
    for cuts in ([], list(range(len(data))), [len(data) - 3]):
        items = decode_all(data, cuts)  # a stream stops at the first error
        assert items[0] == chunk("kept"), cuts
        assert isinstance(items[1], StreamInterrupted), cuts


def test_a_bad_data_line_is_reported_by_the_read_that_brought_it() -> None:
    data = sse(chunk("kept"), done=False) + b"data: {not json\n\n"
    items = ChatStreamDecoder().feed(data)  # one read: the chunk, then the error
    assert items[0] == chunk("kept") and isinstance(items[1], StreamInterrupted)


def test_a_broken_line_after_done_is_ignored() -> None:
    assert decode_all(sse(chunk("a")) + b"<html>oops</html>\n") == [chunk("a")]


def test_the_parser_returns_events_before_an_overlong_line_with_the_error() -> None:
    parser = SSEParser(max_line_chars=50)
    with pytest.raises(StreamInterrupted, match="longer than 50"):
        parser.feed(b"data: x\n\ndata: " + b"y" * 60)
    events, error = SSEParser(max_line_chars=50).feed_events(b"data: x\n\n" + b"z" * 60)
    assert [e.data for e in events] == ["x"] and isinstance(error, StreamInterrupted)
    parser = SSEParser()
    assert parser.feed_events(b"data: y\n\ndata: \xe2\x82") == ([ServerSentEvent("y")], None)
    assert parser.finish_events() == ([], None)  # the unfinished event is discarded


def test_an_error_object_in_the_stream_is_a_stream_error() -> None:
    error = {"error": {"object": "error", "message": "GPU fell over", "type": "internal_error"}}
    dec = ChatStreamDecoder()
    items = dec.feed(sse(chunk("par"), chunk("tial"), error))
    for item in items[:2]:
        dec.delivered(item)
    err = items[2]
    assert isinstance(err, StreamError)
    dec.annotate(err)
    assert err.partial_text == "partial" and err.chunks_received == 2
    assert "GPU fell over" in str(err) and "internal_error" in str(err)


def test_an_error_event_type_is_a_stream_error() -> None:
    items = decode_all(b'event: error\ndata: {"message": "nope"}\n\n')
    assert isinstance(items[0], StreamError)


def test_data_that_is_not_a_json_object_is_malformed() -> None:
    for bad in (
        b"data: {not json\n\n",
        b"data: [1, 2]\n\n",
        b"data: 42\n\n",
        b'data: {"a": 1} {"b": 2}\n\n',  # one object, then more: not one JSON text
        b'data: {"a": 1}x\n\n',
        b"data: \n\n",
    ):
        # the first item: the malformed data's own error, not the missing [DONE]'s
        items = decode_all(bad + b"data: [DONE]\n\n")
        assert isinstance(items[0], StreamInterrupted), bad
        assert "malformed stream data" in str(items[0]), bad


def test_chunk_text_reads_the_first_choice_delta() -> None:
    assert chunk_text(chunk("x")) == "x"
    assert chunk_text({"choices": []}) == ""
    assert chunk_text({"choices": [{"delta": {"content": None}}]}) == ""
    assert chunk_text({"choices": ["junk"]}) == ""


def test_chunk_text_of_interleaved_choices_is_the_first_choices_alone() -> None:
    # n > 1: the service interleaves one chunk per choice; the partial text follows index 0
    stream = [
        {"choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"choices": [{"index": 1, "delta": {"content": "Bon"}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
        {"choices": [{"index": 1, "delta": {"content": "jour"}}]},
    ]
    assert "".join(chunk_text(c) for c in stream) == "Hello"


# --- properties --------------------------------------------------------------------------

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
eols = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def valid_streams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    pieces = draw(st.lists(texts, max_size=8))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    comments = draw(st.booleans())
    out = ": hello\n\n" if comments else ""
    for piece in pieces:
        out += f"data: {json.dumps(chunk(piece), ensure_ascii=draw(st.booleans()))}{eol}{eol}"
        if comments:
            out += f":keep-alive{eol}"
    out += f"data: [DONE]{eol}{eol}"
    data = out.encode()
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=12))
    return data, cuts


@given(valid_streams())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_chunking_of_a_valid_stream_gives_the_same_chunks(
    case: tuple[bytes, list[int]],
) -> None:
    data, cuts = case
    whole = decode_all(data)
    assert all(isinstance(item, dict) for item in whole)
    assert decode_all(data, cuts) == whole
    byte_by_byte = decode_all(data, list(range(len(data))))
    assert byte_by_byte == whole


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6))
@settings(max_examples=300)
def test_garbage_only_ever_raises_our_typed_errors(data: bytes, cuts: list[int]) -> None:
    cuts = [c for c in cuts if c <= len(data)]
    for item in decode_all(data, cuts):
        assert isinstance(item, dict | NVNBError)


@given(
    st.lists(
        st.sampled_from(
            [
                b"data: ",
                b"data:",
                b"{",
                b"}",
                b"[DONE]",
                b"\n",
                b"\r",
                b":",
                b"event: error",
                b'"error"',
                b'{"choices": []}',
                b"\xc3",
                b"\xa9",
                b"id: 1",
                b"retry: x",
            ]
        ),
        max_size=40,
    )
)
@settings(max_examples=300)
def test_near_miss_streams_only_ever_raise_our_typed_errors(parts: list[bytes]) -> None:
    for item in decode_all(b"".join(parts), list(range(0, 40, 3))):
        assert isinstance(item, dict | NVNBError)


# --- others' vectors: the WHATWG standard's examples, web-platform-tests' format tests ----------

VECTORS = Path(__file__).parent / "data" / "sse"


def _vectors() -> list[Any]:
    cases = []
    for name in ("whatwg_spec_examples", "wpt_eventsource_format"):
        for vector in json.loads((VECTORS / f"{name}.json").read_text("utf-8"))["vectors"]:
            cases.append(pytest.param(vector, id=f"{name}: {vector['name']}"))
    return cases


def _stream_bytes(vector: dict[str, Any]) -> bytes:
    if "stream_hex" in vector:
        return bytes.fromhex(vector["stream_hex"])
    return vector["stream"].encode("utf-8")


def _parse_in_pieces(data: bytes, cuts: list[int]) -> tuple[list[dict[str, str]], int | None]:
    parser = SSEParser()
    events, start = [], 0
    for cut in [*cuts, len(data)]:
        events += parser.feed(data[start:cut])
        start = cut
    events += parser.finish()
    seen = [{"type": e.event, "data": e.data, "id": e.id} for e in events]
    return seen, parser.reconnection_time


@pytest.mark.parametrize("vector", _vectors())
def test_published_vectors_in_every_chunking(vector: dict[str, Any]) -> None:
    data = _stream_bytes(vector)
    expected = (vector["events"], vector["reconnection_time"])
    assert _parse_in_pieces(data, []) == expected
    assert _parse_in_pieces(data, list(range(1, len(data)))) == expected  # byte by byte
    for cut in range(len(data) + 1):  # every split point: inside characters, between CR and LF
        assert _parse_in_pieces(data, [cut]) == expected, cut
    if len(data) <= 120:
        for a in range(len(data) + 1):
            for b in range(a, len(data) + 1):
                assert _parse_in_pieces(data, [a, b]) == expected, (a, b)


def test_the_vectors_exercise_what_the_standard_asks() -> None:
    joined = b"".join(_stream_bytes(v) for v in _raw_vectors())
    needles = (b"\r\n", b"\r:", b"\xef\xbb\xbf", b"\x00", b"\xff", b"\xe2\x82", b"id\n", b"data\n")
    for needle in needles:
        assert needle in joined, needle


def _raw_vectors() -> list[dict[str, Any]]:
    return [
        vector
        for name in ("whatwg_spec_examples", "wpt_eventsource_format")
        for vector in json.loads((VECTORS / f"{name}.json").read_text("utf-8"))["vectors"]
    ]
