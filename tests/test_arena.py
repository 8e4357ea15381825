"""Arena rounds against nvnb serve: every model at once, labels and images only where taken,
one failure kept to its own column, Stop stops all, results as records."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import pytest

from nvnb.arena import DEFAULT_MODELS, ArenaRound, check_models
from nvnb.catalog import find_model
from nvnb.errors import InvalidInputError, UnknownModelError
from nvnb.session import Session

CHAT = "meta/llama-3.1-8b-instruct"
STEERLM = "nvidia/nemotron-steerlm-8b"
VISION = "google/gemma-3n-e4b-it"
OTHER = "meta/llama-3.3-70b-instruct"


def png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (10, 10), (200, 30, 30)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def session(nvnb_server: Any) -> Session:
    return Session(base_url=str(nvnb_server), max_retries=0)


def bodies_by_model(server: Any) -> dict[str, dict[str, Any]]:
    return {
        r.json["model"]: r.json
        for r in server.requests
        if r.method == "POST" and isinstance(r.json, dict) and "messages" in r.json
    }


def test_the_default_trio_is_three_current_chat_models() -> None:
    assert len(DEFAULT_MODELS) == 3
    for name in DEFAULT_MODELS:
        record = find_model(name)
        assert record is not None and record.is_chat and not record.deprecated
    assert check_models(None) == list(DEFAULT_MODELS)


def test_bad_model_lists_get_clear_errors() -> None:
    with pytest.raises(UnknownModelError) as unknown:
        check_models([CHAT, "meta/llama-3.3-70b-instrct"])
    assert "meta/llama-3.3-70b-instruct" in str(unknown.value)
    with pytest.raises(InvalidInputError, match="2 to 4 models; 1 given"):
        check_models([CHAT])
    with pytest.raises(InvalidInputError, match="2 to 4 models; 5 given"):
        check_models([CHAT, OTHER, STEERLM, VISION, "openai/gpt-oss-20b"])
    with pytest.raises(InvalidInputError, match="listed twice"):
        check_models([CHAT, CHAT])
    with pytest.raises(InvalidInputError, match="not a chat model"):
        check_models([CHAT, "nvidia/nv-embedqa-e5-v5"])
    with pytest.raises(InvalidInputError, match="not the string"):
        check_models(CHAT)


def test_one_prompt_reaches_every_model_with_labels_and_images_only_where_taken(
    session: Session, nvnb_server: Any
) -> None:
    session.system_prompt = "Answer in one line."
    round_ = ArenaRound(
        session,
        [CHAT, STEERLM, VISION],
        "What is in the picture?",
        images=[png()],
        labels={"creativity": 2, "verbosity": 1},
        max_tokens=40,
        seed=4,
    )
    results = round_.start().wait(timeout=30)
    assert [r.status for r in results] == ["done", "done", "done"]
    sent = bodies_by_model(nvnb_server)
    assert set(sent) == {CHAT, STEERLM, VISION}
    for body in sent.values():
        assert body["messages"][0] == {"role": "system", "content": "Answer in one line."}
        assert body["seed"] == 4 and body["max_tokens"] == 40
    assert sent[STEERLM]["messages"][-1] == {
        "role": "assistant",
        "labels": {"creativity": 2, "verbosity": 1},
    }
    assert "labels" not in str(sent[CHAT]) and "labels" not in str(sent[VISION])
    assert "image_url" in str(sent[VISION]) and "image_url" not in str(sent[CHAT])
    by_model = {r.model: r for r in results}
    assert by_model[CHAT].skipped == ("labels", "images")
    assert by_model[STEERLM].skipped == ("images",)
    assert by_model[VISION].skipped == ("labels",)
    for r in results:
        assert r.text and r.request_id and r.output_tokens > 0
        assert r.time_to_first_token is not None and r.request == sent[r.model]
    assert session.history == []  # a comparison is not a turn of the conversation


def test_the_models_answer_at_the_same_time(nvnb_server: Any) -> None:
    slow = Session(
        base_url=str(nvnb_server), max_retries=0, default_headers={"X-NVNB-Fault": "latency-ms=600"}
    )
    started = time.monotonic()
    results = ArenaRound(slow, [CHAT, OTHER, STEERLM], "Hi").start().wait(timeout=30)
    assert all(r.status == "done" for r in results)
    assert time.monotonic() - started < 1.5  # three 0.6 s answers, not 1.8 s one after another


def test_one_model_failing_keeps_its_error_in_its_column_and_the_others_answer(
    nvnb_server: Any,
) -> None:
    # The first request carrying this fault gets a 500; the other two are answered.
    faulty = Session(
        base_url=str(nvnb_server),
        max_retries=0,
        default_headers={"X-NVNB-Fault": "status=500;times=1;id=arena-one"},
    )
    results = ArenaRound(faulty, [CHAT, OTHER, STEERLM], "Hello").start().wait(timeout=30)
    statuses = sorted(r.status for r in results)
    assert statuses == ["done", "done", "error"]
    failed = next(r for r in results if r.status == "error")
    assert "500" in failed.error and failed.text == ""
    assert all(r.text for r in results if r.status == "done")


def test_stop_stops_every_column_and_keeps_the_text_so_far(nvnb_server: Any) -> None:
    slow = Session(
        base_url=str(nvnb_server),
        max_retries=0,
        default_headers={"X-NVNB-Fault": "chunk-delay-ms=150"},
    )
    round_ = ArenaRound(slow, [CHAT, OTHER], "Tell me a long story").start()
    deadline = time.monotonic() + 10
    while not all(r.text for r in round_.results) and time.monotonic() < deadline:
        time.sleep(0.05)
    round_.stop()
    results = round_.wait(timeout=10)
    assert [r.status for r in results] == ["stopped", "stopped"]
    assert all(r.text for r in results)


def test_the_widget_streams_marks_the_best_and_keeps_records(
    session: Session, nvnb_server: Any
) -> None:
    pytest.importorskip("anywidget")
    from nvnb.widgets.arena import Arena

    arena = Arena(models=[CHAT, STEERLM], session=session, max_tokens=30)
    sent: list[dict[str, Any]] = []
    arena.send = lambda msg, buffers=None: sent.append(msg)  # type: ignore[method-assign]
    arena.ask("Name a colour")
    arena.wait(timeout=30)
    assert arena.busy is False
    assert [c["status"] for c in arena.columns] == ["done", "done"]
    assert all(c["text"] and c["request_id"] for c in arena.columns)
    # Deltas are coalesced: far fewer messages than tokens, and they rebuild the exact text.
    deltas = [m for m in sent if m["type"] == "delta"]
    for i, column in enumerate(arena.columns):
        text = "".join(p["text"] for m in deltas for p in m["parts"] if p["i"] == i)
        assert text == column["text"]
    arena.mark_best(STEERLM)
    assert arena.best == 1
    records = arena.results
    assert [r.best for r in records] == [False, True]
    assert repr(arena) == f"Arena(models={[CHAT, STEERLM]!r})"
    try:
        import pandas as pd
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas"):
            arena.to_dataframe()
    else:
        frame = arena.to_dataframe()
        assert isinstance(frame, pd.DataFrame) and list(frame["model"]) == [CHAT, STEERLM]
        assert list(frame["best"]) == [False, True]


def test_the_code_view_of_a_column_shows_its_own_request(
    session: Session, nvnb_server: Any
) -> None:
    pytest.importorskip("anywidget")
    from nvnb.widgets.arena import Arena

    arena = Arena(models=[CHAT, STEERLM], session=session, labels={"creativity": 3})
    before = arena.code_for(1)
    assert '"creativity": 3' in before.body and "Your question" in before.body
    arena.ask("Hello there")
    arena.wait(timeout=30)
    arena.show_code(1)
    view = arena.code_view
    assert view["model"] == STEERLM and "ChatNVIDIA(" in view["python"]
    assert "--labels creativity=3" in view["nvchat"] and "curl -sS -N" in view["curl"]
    assert f"request id: {arena.columns[1]['request_id']}" in view["headers"]
    arena.show_code(0)
    assert "labels" not in arena.code_view["body"]


def test_a_round_without_a_prompt_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        ArenaRound(session, [CHAT, OTHER], "   ")


def test_the_key_is_in_no_trait_record_or_code_of_the_arena(nvnb_auth_server: Any) -> None:
    pytest.importorskip("anywidget")
    import json

    from nvnb.testing import AUTH_KEY
    from nvnb.widgets.arena import Arena

    keyed = Session(base_url=str(nvnb_auth_server), api_key=AUTH_KEY, max_retries=0)
    arena = Arena(models=[CHAT, OTHER], session=keyed)
    arena.ask("Hello with a key")
    results = arena.wait(timeout=30)
    assert [r.status for r in results] == ["done", "done"]
    arena.show_code(0)
    assert '"Authorization: Bearer $NVIDIA_API_KEY"' in arena.code_view["curl"]
    state = json.dumps(arena.get_state(), default=str)
    records = json.dumps([r.as_dict() for r in arena.results], default=str)
    for text in (state, records, repr(arena), arena._fallback_markdown()):
        assert AUTH_KEY not in text
