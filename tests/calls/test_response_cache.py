"""The response cache: a repeat of a request costs no request (the server's recordings say so),
answers the same, streams in the same chunks; replay mode names what it lacks."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import nvnb
from nvnb import ChatNVIDIA, images
from nvnb.calls.cache import CacheMiss, ResponseCache, active_cache
from nvnb.calls.log import log
from nvnb.client import AsyncClient, Client

CHAT = "meta/llama-3.1-8b-instruct"


def body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": CHAT, "messages": [{"role": "user", "content": text}], **extra}


def api_requests(server: Any) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def test_a_repeated_request_is_answered_from_the_cache_without_a_request(
    nvnb_server: Any, tmp_path: Path
) -> None:
    llm = ChatNVIDIA(base_url=nvnb_server.base_url, model=CHAT)
    with nvnb.cache(tmp_path / "answers.sqlite"):
        first = llm.invoke("What is a cache?")
        second = llm.invoke("What is a cache?")
        other = llm.invoke("What is a log?")
    assert second.content == first.content and other.content != first.content
    assert len(api_requests(nvnb_server)) == 2
    assert second.response_metadata.get("request_id") == first.response_metadata.get("request_id")
    rows = log()
    assert [r["cached"] for r in rows] == [False, True, False]
    assert rows[1]["outcome"] == "cached" and rows[1]["text"] == first.content


def test_a_stream_is_replayed_in_the_chunks_it_first_arrived_in(
    nvnb_server: Any, tmp_path: Path
) -> None:
    client = Client(base_url=nvnb_server.base_url)
    request = body("Tell me a story", stream=True)
    with nvnb.cache(tmp_path / "answers.sqlite"):
        with client.stream_chat(request) as stream:
            live = [c["choices"][0]["delta"].get("content") for c in stream if c["choices"]]
        with client.stream_chat(request) as stream:
            replayed = [c["choices"][0]["delta"].get("content") for c in stream if c["choices"]]
    assert len(live) > 5 and replayed == live
    assert len(api_requests(nvnb_server)) == 1


def test_chat_nvidia_stream_async_and_batch_all_replay(nvnb_server: Any, tmp_path: Path) -> None:
    import asyncio

    llm = ChatNVIDIA(base_url=nvnb_server.base_url, model=CHAT)
    prompts = ["one", "two", "three"]

    def run() -> list[Any]:
        streamed = "".join(c.content for c in llm.stream("streamed"))
        batch = [m.content for m in llm.batch(prompts)]
        async_answer = asyncio.run(llm.ainvoke("async one")).content

        async def astream() -> str:
            return "".join([c.content async for c in llm.astream("async stream")])

        return [streamed, batch, async_answer, asyncio.run(astream())]

    with nvnb.cache(tmp_path / "answers.sqlite"):
        first = run()
        sent = len(api_requests(nvnb_server))
        second = run()
    assert sent == 6
    assert second == first
    assert len(api_requests(nvnb_server)) == sent


async def test_the_async_client_replays_too(nvnb_server: Any, tmp_path: Path) -> None:
    with nvnb.cache(tmp_path / "answers.sqlite"):
        async with AsyncClient(base_url=nvnb_server.base_url) as client:
            a = await client.chat(body("async"))
            b = await client.chat(body("async"))
    assert a == b and len(api_requests(nvnb_server)) == 1


def test_the_key_ignores_headers_and_the_host_but_not_parameters_labels_or_images(
    nvnb_server: Any, tmp_path: Path
) -> None:
    client = Client(base_url=nvnb_server.base_url)
    via_localhost = Client(base_url=nvnb_server.base_url.replace("127.0.0.1", "localhost"))
    uri = images.to_data_uri(_png((1, 2, 3)), "image/png")
    other_uri = images.to_data_uri(_png((9, 9, 9)), "image/png")

    def with_image(url: str) -> dict[str, Any]:
        part = [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": url}}]
        return {"model": CHAT, "messages": [{"role": "user", "content": part}]}

    with nvnb.cache(tmp_path / "answers.sqlite"):
        client.chat(body("same"))
        client.chat(body("same"), headers={"X-Trace": "other"})
        via_localhost.chat(body("same"))
        assert len(api_requests(nvnb_server)) == 1
        client.chat(body("same", temperature=0.5))
        labelled = body("same")
        labelled["messages"].append({"role": "assistant", "labels": {"creativity": 2}})
        client.chat(labelled)
        client.chat(with_image(uri))
        client.chat(with_image(uri))
        client.chat(with_image(other_uri))
    assert len(api_requests(nvnb_server)) == 5
    data = (tmp_path / "answers.sqlite").read_bytes()
    assert uri.split(",", 1)[1][:40].encode() not in data  # images are stored as hashes


def test_replay_mode_names_the_request_it_has_no_answer_for(
    nvnb_server: Any, tmp_path: Path
) -> None:
    llm = ChatNVIDIA(base_url=nvnb_server.base_url, model=CHAT)
    path = tmp_path / "answers.sqlite"
    with nvnb.cache(path):
        recorded = llm.invoke("recorded question").content
    with nvnb.cache(path, mode="replay"):
        assert llm.invoke("recorded question").content == recorded
        with pytest.raises(CacheMiss) as caught:
            llm.invoke("a question never asked")
    message = str(caught.value)
    assert "replay mode" in message and "a question never asked" in message
    assert CHAT in message and str(path) in message and "mode='auto'" in message
    assert len(api_requests(nvnb_server)) == 1


def test_record_mode_always_sends_and_keeps_the_newest_answer(
    nvnb_server: Any, tmp_path: Path
) -> None:
    client = Client(base_url=nvnb_server.base_url)
    path = tmp_path / "answers.sqlite"
    with nvnb.cache(path, mode="record"):
        client.chat(body("again"))
        client.chat(body("again"))
    assert len(api_requests(nvnb_server)) == 2
    assert ResponseCache(path).stats()["answers"] == 1


def test_errors_and_unfinished_streams_are_not_recorded(nvnb_server: Any, tmp_path: Path) -> None:
    client = Client(base_url=nvnb_server.base_url, max_retries=0)
    path = tmp_path / "answers.sqlite"
    with nvnb.cache(path):
        for _ in range(2):
            with pytest.raises(Exception, match="500"):
                client.chat(body("fails"), headers={"X-NVNB-Fault": "status=500"})
        with client.stream_chat(body("cut short", stream=True)) as stream:
            next(iter(stream))
    assert ResponseCache(path).stats()["answers"] == 0
    assert len(api_requests(nvnb_server)) == 3


def test_the_context_manager_scopes_the_cache_and_a_call_turns_it_on_for_the_process(
    nvnb_server: Any, tmp_path: Path
) -> None:
    client = Client(base_url=nvnb_server.base_url)
    assert active_cache() is None
    scope = nvnb.cache(tmp_path / "process.sqlite")
    assert active_cache().path == tmp_path / "process.sqlite"
    with nvnb.cache(tmp_path / "block.sqlite", mode="replay") as inner:
        assert active_cache() is inner and inner.mode == "replay"
    assert active_cache().path == tmp_path / "process.sqlite"
    client.chat(body("x"))
    client.chat(body("x"))
    assert len(api_requests(nvnb_server)) == 1
    assert "process.sqlite" in repr(scope)
    nvnb.cache(mode="off")
    client.chat(body("x"))
    assert len(api_requests(nvnb_server)) == 2
    with pytest.raises(ValueError, match="auto, record, replay, off"):
        nvnb.cache(tmp_path / "x.sqlite", mode="playback")  # type: ignore[arg-type]


def test_NVNB_CACHE_turns_it_on_from_the_environment(
    nvnb_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NVNB_CACHE", str(tmp_path / "env.sqlite"))
    client = Client(base_url=nvnb_server.base_url)
    client.chat(body("env"))
    client.chat(body("env"))
    assert len(api_requests(nvnb_server)) == 1
    monkeypatch.setenv("NVNB_CACHE_MODE", "replay")
    with pytest.raises(CacheMiss):
        client.chat(body("not there"))


_NOTEBOOK_CELL = textwrap.dedent(
    """
    import json, sys
    from nvnb import ChatNVIDIA
    llm = ChatNVIDIA(base_url=sys.argv[1], model="meta/llama-3.1-8b-instruct")
    answers = [llm.invoke("Summarise caching").content]
    answers.append("".join(c.content for c in llm.stream("Stream a haiku")))
    answers += [m.content for m in llm.batch(["a", "b"])]
    print(json.dumps(answers))
    """
)


def test_a_notebook_run_twice_costs_its_requests_once(nvnb_server: Any, tmp_path: Path) -> None:
    env = {**os.environ, "NVNB_CACHE": str(tmp_path / "answers.sqlite")}
    runs = []
    sent = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", _NOTEBOOK_CELL, nvnb_server.base_url],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout))
        sent.append(len(api_requests(nvnb_server)))
    assert sent == [4, 4]  # the second process sent nothing
    assert runs[0] == runs[1]


def test_two_processes_sharing_a_cache_file_keep_it_whole(nvnb_server: Any, tmp_path: Path) -> None:
    env = {**os.environ, "NVNB_CACHE": str(tmp_path / "shared.sqlite")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _NOTEBOOK_CELL, nvnb_server.base_url],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    assert [p.wait(120) for p in procs] == [0, 0]
    conn = sqlite3.connect(tmp_path / "shared.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 4


def test_nvnb_cache_stats_and_clear(nvnb_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "answers.sqlite"
    client = Client(base_url=nvnb_server.base_url)
    with nvnb.cache(path) as cache:
        client.chat(body("a"))
        client.chat(body("a"))
        client.chat(body("b"))
        cache.close()
    run = [sys.executable, "-m", "nvnb", "cache"]
    stats = json.loads(
        subprocess.run([*run, "stats", str(path), "--json"], capture_output=True, check=True).stdout
    )
    assert stats["answers"] == 2 and stats["replays"] == 1 and stats["models"] == {CHAT: 2}
    text = subprocess.run([*run, "stats", str(path)], capture_output=True, text=True).stdout
    assert "2 recorded, 1 replayed" in text
    cleared = subprocess.run([*run, "clear", str(path)], capture_output=True, text=True).stdout
    assert "2 recorded answer(s) removed" in cleared
    assert ResponseCache(path).stats()["answers"] == 0
    missing = subprocess.run([*run, "stats", str(tmp_path / "none.sqlite")], capture_output=True)
    assert missing.returncode != 0 and b"no cache file" in missing.stderr


def _png(colour: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_cache_file_that_cannot_be_opened_costs_one_notice_and_no_answer(
    nvnb_server: Any, tmp_path: Path
) -> None:
    import io
    from contextlib import redirect_stderr

    from nvnb import _notices as notices

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    notices.reset()
    client = Client(base_url=nvnb_server.base_url)
    err = io.StringIO()
    with redirect_stderr(err), nvnb.cache(blocker / "answers.sqlite"):
        for _ in range(2):
            assert client.chat(body("still answered"))["choices"]
    assert len(api_requests(nvnb_server)) == 2
    assert err.getvalue().count("could not log or cache") == 1


def test_a_session_asking_twice_sends_once(
    nvnb_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the ChatPanel and the magics do (Session.ask, streamed on its loop thread)."""
    from nvnb.session import Session

    monkeypatch.setenv("NVIDIA_BASE_URL", nvnb_server.base_url)
    session = Session(model=CHAT)
    with nvnb.cache(tmp_path / "answers.sqlite"):
        first = session.ask("same question")
        second = session.ask("same question")
    assert second.text == first.text and second.request_id == first.request_id
    assert len(api_requests(nvnb_server)) == 1
