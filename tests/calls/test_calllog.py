"""The call log: every request through a real client to the local server lands in a real SQLite
file, with the facts a person asks about later, and never the key."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest

from nvnb import ChatNVIDIA, NVIDIAEmbeddings, NVIDIARerank, _notices, images
from nvnb.calls import log as calllog
from nvnb.calls.log import log, log_path
from nvnb.calls.record import last_call
from nvnb.client import AsyncClient, Client
from nvnb.testing import AUTH_KEY

CHAT = "meta/llama-3.1-8b-instruct"
STEER = "nvidia/nemotron-steerlm-8b"


def fault(spec: str) -> dict[str, str]:
    return {"X-NVNB-Fault": spec}


def png() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    return images.to_data_uri(buffer.getvalue(), "image/png")


def test_the_log_goes_where_NVNB_LOG_says(call_log_in_tmp: Path) -> None:
    assert log_path() == call_log_in_tmp


def test_a_chat_answer_is_one_row_with_model_tokens_timing_request_id_and_text(
    nvnb_server: Any,
) -> None:
    llm = ChatNVIDIA(base_url=nvnb_server.base_url, model=CHAT, temperature=0.2)
    answer = llm.invoke("Name a colour")
    [row] = log()
    assert row["model"] == CHAT
    assert row["endpoint"] == "/v1/chat/completions"
    assert row["status"] == 200 and row["outcome"] == "ok"
    assert row["text"] == answer.content
    assert row["request_id"] and row["request_id"] == last_call().request_id
    assert row["tokens_in"] == answer.usage_metadata["input_tokens"]
    assert row["tokens_out"] == answer.usage_metadata["output_tokens"]
    assert row["parameters"]["temperature"] == 0.2 and row["stream"] is False
    assert row["message_count"] == 1
    assert 0 < row["total_s"] < 30 and row["retries"] == 0
    assert row["pid"] == os.getpid()


def test_a_stream_row_has_its_first_token_time_before_its_total_and_the_whole_text(
    nvnb_server: Any,
) -> None:
    client = Client(base_url=nvnb_server.base_url)
    body = {"model": CHAT, "messages": [{"role": "user", "content": "Count"}], "stream": True}
    body["stream_options"] = {"include_usage": True}
    with client.stream_chat(body, headers=fault("chunk-delay-ms=20")) as stream:
        text = "".join(
            c["choices"][0]["delta"].get("content") or "" for c in stream if c["choices"]
        )
    [row] = log()
    assert row["stream"] is True and row["text"] == text
    assert row["first_token_s"] is not None and row["first_token_s"] < row["total_s"]
    assert row["total_s"] >= 0.1  # many chunks, 20 ms apart
    assert row["tokens_out"] and row["tokens_in"]


def test_labels_images_and_message_count_are_logged_and_images_only_as_hashes(
    nvnb_server: Any, call_log_in_tmp: Path
) -> None:
    uri = png()
    client = Client(base_url=nvnb_server.base_url)
    client.chat(
        {
            "model": STEER,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": uri}},
                    ],
                },
                {"role": "assistant", "labels": {"creativity": 3, "verbosity": 1}},
            ],
        }
    )
    [row] = log()
    assert row["labels"] == {"creativity": 3, "verbosity": 1}
    assert row["message_count"] == 3
    [digest] = row["image_hashes"]
    assert digest.startswith("sha256:") and len(digest) == 7 + 64
    calllog.flush_all()
    encoded = uri.split(",", 1)[1]
    assert encoded[:40].encode() not in _db_bytes(call_log_in_tmp)


def test_embeddings_and_ranking_are_logged_with_their_endpoint(nvnb_server: Any) -> None:
    NVIDIAEmbeddings(
        base_url=nvnb_server.base_url, model="nvidia/nv-embedqa-e5-v5"
    ).embed_documents(["a", "b", "c"])
    NVIDIARerank(
        base_url=nvnb_server.base_url, model="nvidia/llama-nemotron-rerank-1b-v2"
    ).compress_documents(
        documents=_docs(["red apples", "blue sky"]), query="what colour is the sky"
    )
    rows = log()
    assert [r["endpoint"].rsplit("/", 1)[-1] for r in rows] == ["embeddings", "ranking"]
    assert rows[0]["message_count"] == 3 and rows[0]["text"] == "3 embedding(s)"
    assert rows[1]["text"].startswith("rankings:")


async def test_async_requests_are_logged_too(nvnb_server: Any) -> None:
    async with AsyncClient(base_url=nvnb_server.base_url) as client:
        await client.chat({"model": CHAT, "messages": [{"role": "user", "content": "hi"}]})
        chunks = [
            c
            async for c in client.stream_chat(
                {"model": CHAT, "messages": [{"role": "user", "content": "yo"}], "stream": True}
            )
        ]
    assert chunks
    rows = log()
    assert [r["stream"] for r in rows] == [False, True]
    assert all(r["status"] == 200 and r["text"] for r in rows)


def test_429s_waited_out_are_one_row_counting_the_retries_and_the_wait(nvnb_server: Any) -> None:
    client = Client(base_url=nvnb_server.base_url)
    client.chat(
        {"model": CHAT, "messages": [{"role": "user", "content": "hi"}]},
        headers=fault("status=429;retry-after=0.05;times=2;id=log-429"),
    )
    assert len(nvnb_server.requests) == 3
    [row] = log()
    assert row["status"] == 200
    assert row["retries"] == 2 and row["rate_limited"] == 2
    assert row["waited_s"] == pytest.approx(0.1, abs=0.01)
    assert last_call().retries == 2


def test_an_error_answer_is_logged_with_its_status_and_the_services_words(
    nvnb_server: Any,
) -> None:
    client = Client(base_url=nvnb_server.base_url, max_retries=0)
    with pytest.raises(Exception, match="404"):
        client.chat(
            {"model": CHAT, "messages": [{"role": "user", "content": "hi"}]},
            headers=fault("status=404"),
        )
    [row] = log()
    assert row["status"] == 404 and row["outcome"] == "http error" and row["error"]


def test_a_stream_stopped_early_is_logged_as_interrupted_with_its_partial_text(
    nvnb_server: Any,
) -> None:
    client = Client(base_url=nvnb_server.base_url)
    body = {"model": CHAT, "messages": [{"role": "user", "content": "go"}], "stream": True}
    with client.stream_chat(body, headers=fault("chunk-delay-ms=5")) as stream:
        first = next(iter(stream))
    assert first
    [row] = log()
    assert row["outcome"] == "interrupted" and row["text"]


def test_a_refused_connection_is_logged_as_an_error(call_log_in_tmp: Path) -> None:
    client = Client(base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(Exception, match="connect"):
        client.chat({"model": CHAT, "messages": [{"role": "user", "content": "x"}]})
    [row] = log()
    assert row["outcome"] == "error" and "ConnectError" in row["error"] and row["status"] is None


def test_last_call_keeps_the_exact_body_sent_and_the_request_id(nvnb_server: Any) -> None:
    client = Client(base_url=nvnb_server.base_url)
    answer = client.chat({"model": CHAT, "messages": [{"role": "user", "content": "exact"}]})
    call = last_call()
    assert call.request_json == nvnb_server.requests[-1].json
    assert call.request_id == answer.request_id
    shown = call.show()
    assert '"exact"' in shown and answer.request_id in shown


# ------------------------------------------------------------------------ settings


def test_NVNB_LOG_off_logs_nothing(nvnb_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVNB_LOG", "off")
    assert log_path() is None
    Client(base_url=nvnb_server.base_url).chat(
        {"model": CHAT, "messages": [{"role": "user", "content": "x"}]}
    )
    assert log() == []


def test_set_path_moves_the_log_and_reset_path_goes_back(
    nvnb_server: Any, tmp_path: Path, call_log_in_tmp: Path
) -> None:
    moved = tmp_path / "elsewhere" / "calls.sqlite"
    calllog.set_path(moved)
    Client(base_url=nvnb_server.base_url).chat(
        {"model": CHAT, "messages": [{"role": "user", "content": "x"}]}
    )
    assert len(log()) == 1 and moved.exists()
    calllog.reset_path()
    assert log_path() == call_log_in_tmp and log() == []


def test_the_default_log_is_in_the_users_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("NVNB_LOG")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert log_path() == tmp_path / "nvnb" / "calls.sqlite"


def test_a_log_that_cannot_be_written_costs_one_notice_and_no_request(
    nvnb_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NVNB_LOG", str(blocker / "calls.sqlite"))
    _notices.reset()
    client = Client(base_url=nvnb_server.base_url)
    err = io.StringIO()
    with redirect_stderr(err):
        for _ in range(3):
            answer = client.chat({"model": CHAT, "messages": [{"role": "user", "content": "x"}]})
            assert answer["choices"]
        calllog.flush_all()
    assert err.getvalue().count("cannot be written") == 1
    assert "NVNB_LOG" in err.getvalue()


def test_filters_by_model_time_and_limit(nvnb_server: Any) -> None:
    client = Client(base_url=nvnb_server.base_url)
    for model in (CHAT, STEER, CHAT):
        client.chat({"model": model, "messages": [{"role": "user", "content": "x"}]})
    assert len(log()) == 3
    assert [r["model"] for r in log(model="steerlm")] == [STEER]
    assert len(log(limit=2)) == 2
    assert log(since="1h") == log() and log(since=time.time() + 60) == []
    assert log(until="2000-01-01") == []
    with pytest.raises(ValueError, match="30m"):
        log(since="yesterday-ish")


def test_rows_become_a_dataframe(nvnb_server: Any) -> None:
    pd = pytest.importorskip("pandas")
    Client(base_url=nvnb_server.base_url).chat(
        {"model": CHAT, "messages": [{"role": "user", "content": "x"}]}
    )
    frame = log().to_dataframe()
    assert list(frame["model"]) == [CHAT]
    assert isinstance(frame["time"].iloc[0], pd.Timestamp)


def test_the_table_shows_one_line_per_call(nvnb_server: Any) -> None:
    Client(base_url=nvnb_server.base_url).chat(
        {"model": CHAT, "messages": [{"role": "user", "content": "x"}]}
    )
    lines = log().table().splitlines()
    assert lines[0].split()[:3] == ["time", "model", "endpoint"]
    assert CHAT in lines[1] and "chat/completions" in lines[1]


# ------------------------------------------------------------------------ secrets


def test_the_key_is_in_no_byte_of_the_log_or_the_cache(
    nvnb_auth_server: Any, call_log_in_tmp: Path, tmp_path: Path
) -> None:
    import nvnb

    cache_file = tmp_path / "answers.sqlite"
    with nvnb.cache(cache_file):
        llm = ChatNVIDIA(base_url=nvnb_auth_server.base_url, model=CHAT, api_key=AUTH_KEY)
        llm.invoke("hello")
        "".join(c.content for c in llm.stream("hello stream"))
        NVIDIAEmbeddings(
            base_url=nvnb_auth_server.base_url, model="nvidia/nv-embedqa-e5-v5", api_key=AUTH_KEY
        ).embed_query("q")
        wrong = ChatNVIDIA(
            base_url=nvnb_auth_server.base_url, model=CHAT, api_key=AUTH_KEY[:-1] + "X"
        )
        with pytest.raises(Exception, match="401"):
            wrong.invoke("bad key")
    rows = log()
    assert len(rows) == 4 and rows[-1]["status"] == 401
    assert AUTH_KEY not in repr(last_call()) and AUTH_KEY not in last_call().show()
    calllog.flush_all()
    for path in (call_log_in_tmp, cache_file):
        data = _db_bytes(path)
        assert data, path
        for secret in (AUTH_KEY, AUTH_KEY[:-1] + "X", AUTH_KEY[6:]):
            assert secret.encode() not in data


# ------------------------------------------------------------------ concurrent kernels

_WRITER = textwrap.dedent(
    """
    import sys, time
    from nvnb.calls import log as calllog
    tag, count = sys.argv[1], int(sys.argv[2])
    while time.time() < float(sys.argv[3]):
        time.sleep(0.001)
    for i in range(count):
        row = {"time": time.time(), "model": tag, "endpoint": "/v1/x", "text": str(i) * 50}
        calllog.record(row)
    calllog.flush_all(60)
    """
)


def test_two_processes_writing_at_once_lose_no_row(call_log_in_tmp: Path) -> None:
    start = time.time() + 2.0  # both start their writes at the same moment
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, tag, "400", str(start)])
        for tag in ("kernel-a", "kernel-b")
    ]
    assert [p.wait(60) for p in procs] == [0, 0]
    rows = log()
    assert len(rows) == 800
    assert {r["model"] for r in rows} == {"kernel-a", "kernel-b"}
    assert len({r["pid"] for r in rows}) == 2
    conn = sqlite3.connect(call_log_in_tmp)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


_HAMMER = textwrap.dedent(
    """
    import sys, time
    from nvnb.calls import log as calllog
    conn = calllog.connect(sys.argv[1])
    print("ready", flush=True)
    i = 0
    while True:
        row = {"time": time.time(), "model": "doomed", "text": "x" * 2000}
        calllog.insert_rows(conn, [row] * 50)
        i += 1
    """
)


def test_a_process_killed_mid_write_leaves_a_usable_log(call_log_in_tmp: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HAMMER, str(call_log_in_tmp)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)  # in the middle of a stream of transactions
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    conn = sqlite3.connect(call_log_in_tmp)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    written = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    conn.close()
    assert written > 0 and written % 50 == 0  # whole transactions only
    calllog.record({"time": time.time(), "model": "after", "text": "still fine"})
    assert log(model="after")[0]["text"] == "still fine"
    assert len(log()) == written + 1


# ------------------------------------------------------------------------ the CLI


def test_nvnb_log_prints_a_table_and_json_filtered_by_model(
    nvnb_server: Any, call_log_in_tmp: Path
) -> None:
    client = Client(base_url=nvnb_server.base_url)
    for model in (CHAT, STEER):
        client.chat({"model": model, "messages": [{"role": "user", "content": "x"}]})
    calllog.flush_all()
    run = [sys.executable, "-m", "nvnb", "log"]
    table = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert CHAT in table and STEER in table and table.startswith("time")
    out = subprocess.run(
        [*run, "--json", "--model", "steerlm", "--since", "1h"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = json.loads(out)
    assert [r["model"] for r in rows] == [STEER]
    assert rows[0]["request_id"]


def test_nvnb_log_says_where_the_log_is_and_when_it_is_off(
    monkeypatch: pytest.MonkeyPatch, call_log_in_tmp: Path
) -> None:
    run = [sys.executable, "-m", "nvnb", "log", "--path"]
    out = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(call_log_in_tmp)
    monkeypatch.setenv("NVNB_LOG", "off")
    done = subprocess.run(run[:-1], capture_output=True, text=True)
    assert done.returncode == 0 and "off" in done.stdout


# ------------------------------------------------------------------------ helpers


def _docs(texts: list[str]) -> list[Any]:
    from langchain_core.documents import Document

    return [Document(page_content=t) for t in texts]


def _db_bytes(path: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
    )


def test_a_sessions_question_is_logged_with_its_labels_and_image(
    nvnb_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The widgets and the magics ask through the session; its rows carry what they set."""
    from nvnb.session import Session

    monkeypatch.setenv("NVIDIA_BASE_URL", nvnb_server.base_url)
    session = Session(model=STEER)
    session.labels = {"creativity": 2, "verbosity": 7}
    answer = session.ask("Describe the picture", images=[png()])
    # a session on a self-hosted server first lists what it serves: that call is logged too
    listing, row = log()
    assert listing["endpoint"] == "/v1/models"
    assert row["model"] == STEER and row["stream"] is True
    assert row["labels"] == {"creativity": 2, "verbosity": 7}
    assert len(row["image_hashes"]) == 1
    assert row["text"] == answer.text and row["request_id"] == answer.request_id


def test_last_call_is_kept_even_with_the_log_off(
    nvnb_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NVNB_LOG", "off")
    Client(base_url=nvnb_server.base_url).chat(
        {"model": CHAT, "messages": [{"role": "user", "content": "remember me"}]}
    )
    assert last_call().request_json["messages"][0]["content"] == "remember me"
    assert last_call().text


def test_a_gzip_answer_is_read_for_its_text_and_usage() -> None:
    import gzip

    import httpx

    from nvnb.calls.digest import digest_request
    from nvnb.calls.record import AnswerReader, CallRecord

    body = json.dumps(
        {
            "choices": [{"message": {"content": "zipped hello"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        }
    ).encode()
    packed = gzip.compress(body)
    record = CallRecord.start(
        digest_request("POST", "http://h/v1/chat/completions", b"{}"), "", b""
    )
    record.status = 200
    headers = httpx.Headers({"content-encoding": "gzip", "content-type": "application/json"})
    reader = AnswerReader(record, headers, time.monotonic())
    for i in range(0, len(packed), 7):  # in pieces, as a network would deliver it
        reader.feed(packed[i : i + 7])
    reader.finish("ok").settle()
    assert record.text == "zipped hello" and (record.tokens_in, record.tokens_out) == (3, 2)


def _read_sse(raw: bytes, step: int) -> Any:
    import httpx

    from nvnb.calls.digest import digest_request
    from nvnb.calls.record import AnswerReader, CallRecord

    record = CallRecord.start(
        digest_request("POST", "http://h/v1/chat/completions", b"{}"), "", b""
    )
    record.status = 200
    reader = AnswerReader(record, httpx.Headers({"content-type": "text/event-stream"}), 0.0)
    for i in range(0, len(raw), step):
        reader.feed(raw[i : i + step])
    return reader.finish("ok").settle()


def test_a_streamed_answer_is_read_the_same_whatever_its_line_ends_and_reads() -> None:
    # the log reads the kept bytes line by line; LF, CRLF and CR end lines alike, a character
    # cut between reads or a line is whole again, a BOM or comment line is no data line
    events = [
        {"choices": [{"index": 0, "delta": {"content": piece}}]}
        for piece in ("héllo", " wörld ✓", " 🙂", "")
    ] + [{"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3}}]
    for eol in ("\n", "\r\n", "\r"):
        raw = ("\ufeff: comment" + eol).encode() + b"".join(
            f"data: {json.dumps(e, ensure_ascii=False)}{eol}{eol}".encode() for e in events
        )
        raw += f"data: [DONE]{eol}{eol}".encode()
        for step in (1, 3, 64, len(raw)):
            record = _read_sse(raw, step)
            assert record.text == "héllo wörld ✓ 🙂", (eol, step)
            assert (record.tokens_in, record.tokens_out) == (4, 3), (eol, step)


def test_a_long_streamed_answer_is_kept_to_the_text_limit() -> None:
    from nvnb.calls import record as record_module

    piece = "x" * 1000
    event = f'data: {{"choices": [{{"delta": {{"content": "{piece}"}}}}]}}\n\n'.encode()
    raw = event * (record_module._MAX_TEXT // 1000 + 50) + b"data: [DONE]\n\n"
    assert _read_sse(raw, 4096).text == "x" * record_module._MAX_TEXT


def _raw_sse_server(events: bytes) -> tuple[Any, int]:
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        conn.sendall(head + b"Content-Length: %d\r\n\r\n" % len(events) + events)
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    return server, server.getsockname()[1]


@pytest.mark.parametrize("surface", ["sync", "async"])
def test_a_stream_row_has_the_text_the_stream_decoded_even_from_multi_line_events(
    surface: str, call_log_in_tmp: Path
) -> None:
    # an event's data may span several data: lines (joined by LF, as the SSE standard says);
    # the stream decodes it so, and hands the log what it decoded: the row's text and usage
    # are the stream's, not a second reading of the bytes line by line (which cannot join them)
    events = (
        b'data: {"choices": [{"index": 0,\ndata:  "delta": {"content": "joined "}}]}\n\n'
        b'data: {"choices": [{"index": 0, "delta": {"content": "lines"}}]}\n\n'
        b'data: {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}\n\n'
        b"data: [DONE]\n\n"
    )
    server, port = _raw_sse_server(events)
    body = {"model": CHAT, "messages": [{"role": "user", "content": "hi"}]}
    url = f"http://127.0.0.1:{port}/v1"
    if surface == "sync":
        with Client(api_key="nvapi-test", base_url=url) as client:
            texts = [
                c["choices"][0]["delta"]["content"]
                for c in client.stream_chat(body)
                if c["choices"]
            ]
    else:

        async def go() -> list[str]:
            async with AsyncClient(api_key="nvapi-test", base_url=url) as client:
                return [
                    c["choices"][0]["delta"]["content"]
                    async for c in client.stream_chat(body)
                    if c["choices"]
                ]

        texts = asyncio.run(go())
    server.close()
    assert texts == ["joined ", "lines"]
    [row] = log()
    assert row["text"] == "joined lines" and (row["tokens_in"], row["tokens_out"]) == (5, 2)
