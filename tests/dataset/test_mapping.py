"""nvnb.map end to end against the local server: outcomes in input order, faults, pace, resume."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import time
from collections import Counter
from typing import Literal

import pandas as pd
import pytest
from PIL import Image
from pydantic import BaseModel, field_validator

import nvnb
from nvnb.dataset.outcomes import Cancelled, SchemaMismatch
from nvnb.errors import InvalidInputError, RateLimitError, ServerError
from nvnb.server import LocalServer
from tests.dataset.conftest import SendLog, client_for, interrupt_when, sent_prompts


def reviews(n: int) -> list[dict]:
    return [{"id": i, "review": f"review number {i}"} for i in range(n)]


def test_every_row_gets_its_outcome_in_input_order(nvnb_server: LocalServer) -> None:
    rows = reviews(40)
    result = nvnb.map(rows, "Label: {review}", client=client_for(nvnb_server), concurrency=8)
    assert len(result) == 40 and result.ok
    assert [o.index for o in result] == list(range(40))
    assert all(o.text and o.error is None and o.request_id for o in result)
    assert all(o.prompt_tokens > 0 and o.completion_tokens > 0 and o.latency > 0 for o in result)
    assert sorted(sent_prompts(nvnb_server)) == sorted(
        f"Label: review number {i}" for i in range(40)
    )
    # the local server answers from the prompt: each outcome belongs to its own row
    assert all(f"review number {o.index}" in o.text for o in result)


def test_a_dataframe_keeps_its_index_and_gains_the_answer_columns(nvnb_server) -> None:
    frame = pd.DataFrame(reviews(6), index=[f"r{i}" for i in range(6)])
    result = nvnb.map(frame, "Label: {review}", client=client_for(nvnb_server), max_tokens=12)
    out = result.to_dataframe()
    assert list(out.index) == list(frame.index)
    assert list(out.columns[:2]) == ["id", "review"]
    for column in ("text", "error", "prompt_tokens", "completion_tokens", "latency_s"):
        assert column in out.columns
    assert out["error"].isna().all()
    assert out["completion_tokens"].dtype == "int64"
    assert (out["completion_tokens"] <= 12).all()
    bodies = [r.json for r in nvnb_server.requests]
    assert all(b["max_tokens"] == 12 and b["stream"] is False for b in bodies)


def test_a_generator_is_read_lazily_and_joined_back_by_column(nvnb_server) -> None:
    pulled = []

    def rows():
        for row in reviews(10):
            pulled.append(row["id"])
            yield row

    gen = rows()
    result = nvnb.map(gen, "Label: {review}", client=client_for(nvnb_server), concurrency=2)
    assert pulled == list(range(10)) and len(result) == 10
    assert list(result.to_dataframe()["id"]) == list(range(10))


def test_a_template_naming_a_missing_column_is_refused_before_anything_is_sent(
    nvnb_server,
) -> None:
    with pytest.raises(InvalidInputError) as info:
        nvnb.map(reviews(3), "Label: {reveiw}", client=client_for(nvnb_server))
    assert "{reveiw}" in str(info.value) and "review" in str(info.value)
    assert nvnb_server.requests == []


def test_braces_that_are_not_columns_are_sent_as_written(nvnb_server) -> None:
    template = 'Answer as JSON like {"label": "x"} for {review}; {{review}} stays literal'
    nvnb.map(reviews(1), template, client=client_for(nvnb_server))
    assert sent_prompts(nvnb_server) == [
        'Answer as JSON like {"label": "x"} for review number 0; {review} stays literal'
    ]


def test_a_callable_template_builds_the_messages(nvnb_server) -> None:
    def messages(row):
        return [
            {"role": "system", "content": "You label reviews."},
            {"role": "user", "content": f"Review {row['id']}: {row['review']}"},
        ]

    result = nvnb.map(reviews(3), messages, client=client_for(nvnb_server))
    assert result.ok
    assert [r.json["messages"][0]["role"] for r in nvnb_server.requests] == ["system"] * 3


def test_a_bad_row_is_that_rows_error_and_the_run_goes_on(nvnb_server) -> None:
    rows = [*reviews(2), "not a row", {"id": 3}, *reviews(2)]
    result = nvnb.map(rows, "Label: {review}", client=client_for(nvnb_server))
    assert len(result) == 6
    assert [o.ok for o in result] == [True, True, False, False, True, True]
    assert "row 2 is a str" in str(result[2].error)
    assert isinstance(result[3].error, InvalidInputError)
    assert "no 'review' column" in str(result[3].error)
    assert len(nvnb_server.requests) == 4


def test_429s_pause_the_whole_run_not_just_the_row(nvnb_server) -> None:
    log = SendLog()
    client = client_for(nvnb_server, "status=429;retry-after=1;times=1;id=pause", payload_fn=log)
    t0 = time.monotonic()
    result = nvnb.map(reviews(30), "Label: {review}", client=client, concurrency=2)
    assert result.ok and result.stats.throttled == 1
    assert time.monotonic() - t0 >= 1.0
    first = log.sends[0][0]
    # Only the request already in flight beside the refused one may start within the pause.
    early = [t for t, _ in log.sends[1:] if t - first < 0.9]
    assert len(early) <= 2, [round(t - first, 3) for t, _ in log.sends]
    assert len(log.sends) == 31  # the refused row once more, nobody else twice


def test_503_bursts_and_dropped_answers_are_sent_again_and_every_row_is_accounted_for(
    nvnb_server,
) -> None:
    for fault in ("status=503;times=6;id=burst", "drop-after=20;times=4;id=drop"):
        nvnb_server.clear()
        result = nvnb.map(reviews(20), "Label: {review}", client=client_for(nvnb_server, fault))
        assert len(result) == 20 and result.ok, result.errors
        assert result.stats.retried >= 4
        assert Counter(sent_prompts(nvnb_server)).total() == 20 + result.stats.retried


def test_a_row_still_failing_after_its_retries_keeps_its_error_with_the_request_id(
    nvnb_server,
) -> None:
    result = nvnb.map(
        reviews(3), "Label: {review}", client=client_for(nvnb_server, "status=503"), retries=1
    )
    assert len(result) == 3 and not result.ok
    assert all(isinstance(o.error, ServerError) and o.error.request_id for o in result)
    assert "503" in str(result[0].error)
    assert result.to_dataframe()["error"].str.contains("503").all()


def test_rows_are_retried_by_the_clients_retry_plan_count_and_time_budget(nvnb_server) -> None:
    from nvnb.settings import RetryPolicy

    patient = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.01, budget=10.0)
    hurried = RetryPolicy(max_retries=5, backoff_base=0.5, backoff_max=0.5, budget=0.1)
    for policy, sends in ((patient, 3), (hurried, 1)):
        nvnb_server.clear()
        client = client_for(nvnb_server, "status=503", retry=policy)
        t0 = time.monotonic()
        result = nvnb.map(reviews(1), "Label: {review}", client=client)
        assert isinstance(result[0].error, ServerError)
        assert len(sent_prompts(nvnb_server)) == sends  # 1 + max_retries, or none past budget
        assert result.stats.retried == sends - 1
        assert time.monotonic() - t0 < 5


def test_a_row_answered_429_again_and_again_fails_alone(nvnb_server) -> None:
    result = nvnb.map(
        reviews(1),
        "Label: {review}",
        client=client_for(nvnb_server, "status=429;retry-after=0"),
    )
    assert isinstance(result[0].error, RateLimitError)


def test_rpm_paces_the_requests_evenly(nvnb_server) -> None:
    log = SendLog()
    result = nvnb.map(
        reviews(9),
        "Label: {review}",
        client=client_for(nvnb_server, payload_fn=log),
        rpm=1200,
        concurrency=8,
    )
    assert result.ok
    times = [t for t, _ in log.sends]
    # 1 200/min is one request every 50 ms: the k-th never goes before k slots have passed
    # (a late one is not made up for by a burst beyond its slot)
    early = [k for k, t in enumerate(times) if t - times[0] < k * 0.05 - 0.01]
    assert not early, [round(t - times[0], 3) for t in times]
    assert 0.38 <= times[-1] - times[0] <= 0.6


def test_the_hosted_service_is_paced_at_the_free_tier_rate_by_default(nvnb_server) -> None:
    log = SendLog()
    hosted = nvnb.AsyncClient(
        api_key="nvapi-" + "x" * 60, hosted_origin=nvnb_server.origin, payload_fn=log
    )
    assert hosted.settings.is_hosted
    result = nvnb.map(reviews(2), "Label: {review}", client=hosted)
    assert result.ok
    assert log.sends[1][0] - log.sends[0][0] >= 1.4  # 40 per minute: 1.5 s apart


class Review(BaseModel):
    sentiment: Literal["positive", "negative"]
    score: int

    @field_validator("score")
    @classmethod
    def at_most_five(cls, value: int) -> int:
        if value > 5:
            raise ValueError("score must be 1-5")
        return value


def test_a_schema_gives_values_and_a_bad_answer_is_that_rows_error(nvnb_server) -> None:
    rows = [
        {"text": "sentiment=positive score=4"},
        {"text": "sentiment=negative score=9"},
        {"text": "sentiment=negative score=2"},
    ]
    result = nvnb.map(rows, "Review: {text}", schema=Review, client=client_for(nvnb_server))
    assert result[0].value == Review(sentiment="positive", score=4)
    assert result[2].value == Review(sentiment="negative", score=2)
    bad = result[1]
    assert isinstance(bad.error, SchemaMismatch) and bad.value is None
    assert "score must be 1-5" in str(bad.error) and bad.error.request_id == bad.request_id
    assert '"score":9' in bad.text.replace(" ", "")
    body = nvnb_server.requests[0].json
    assert body["response_format"]["json_schema"]["name"] == "Review"
    frame = result.to_dataframe()
    assert list(frame["sentiment"]) == ["positive", None, "negative"]
    assert list(frame["score"]) == [4, None, 2]


def test_a_json_schema_is_validated_too(nvnb_server) -> None:
    schema = {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": ["spam", "ham"]}},
        "required": ["label"],
    }
    result = nvnb.map([{"t": "label=spam"}], "{t}", schema=schema, client=client_for(nvnb_server))
    assert result[0].value == {"label": "spam"}


def test_an_image_column_sends_each_rows_image(nvnb_server, tmp_path) -> None:
    paths = []
    for i, colour in enumerate(("red", "blue")):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", (8 + i, 6), colour).save(path)
        paths.append(str(path))
    rows = [{"photo": p, "q": "What is this?"} for p in paths]
    result = nvnb.map(
        rows,
        "{q}",
        images="photo",
        model="microsoft/phi-3.5-vision-instruct",
        client=client_for(nvnb_server),
    )
    assert result.ok, result.errors
    assert "8×6" in result[0].text or "8x6" in result[0].text
    content = nvnb_server.requests[0].json["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is this?"}
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_an_unreadable_image_path_is_that_rows_error(nvnb_server, tmp_path) -> None:
    good = tmp_path / "ok.png"
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    good.write_bytes(buffer.getvalue())
    rows = [{"photo": str(good)}, {"photo": str(tmp_path / "missing.png")}]
    result = nvnb.map(rows, "Describe", images="photo", client=client_for(nvnb_server))
    assert result[0].ok and not result[1].ok
    assert "missing.png" in str(result[1].error)


def test_a_stopped_run_keeps_what_finished_and_a_resume_sends_only_the_rest(
    nvnb_server, tmp_path
) -> None:
    cache = tmp_path / "labels.sqlite"
    rows = reviews(60)
    client = client_for(nvnb_server, "latency-ms=20")
    disarm = interrupt_when(lambda: len(nvnb_server.requests) >= 15)
    try:
        first = nvnb.map(rows, "Label: {review}", client=client, concurrency=4, cache=cache)
    finally:
        disarm()
    assert first.stopped
    done = {o.index for o in first if o.ok}
    assert 10 <= len(done) < 60
    assert all(isinstance(o.error, Cancelled) for o in first if not o.ok)
    assert len(first) + 0 <= 60

    nvnb_server.clear()
    second = nvnb.map(rows, "Label: {review}", client=client, concurrency=4, cache=cache)
    assert second.ok and len(second) == 60 and not second.stopped
    sent = sent_prompts(nvnb_server)
    assert Counter(sent).most_common(1)[0][1] == 1  # none sent twice
    assert set(sent) == {f"Label: review number {i}" for i in range(60) if i not in done}
    assert {o.index for o in second if o.cached} == done
    assert [o.text for o in second if o.index in done] == [o.text for o in first if o.index in done]
    with sqlite3.connect(cache) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM finished").fetchone()[0] == 60

    nvnb_server.clear()
    third = nvnb.map(rows, "Label: {review}", client=client, cache=cache)
    assert third.ok and nvnb_server.requests == [] and third.stats.cached == 60


def test_a_resume_after_faults_sends_no_finished_row_again(nvnb_server, tmp_path) -> None:
    cache = tmp_path / "run.sqlite"
    rows = reviews(30)
    first = nvnb.map(
        rows,
        "Label: {review}",
        client=client_for(nvnb_server, "status=503", retry=None),
        retries=0,
        cache=cache,
        concurrency=3,
    )
    assert not first.ok
    nvnb_server.clear()
    flaky = client_for(nvnb_server, "status=503;times=5;id=f, drop-after=10;times=3;id=d")
    second = nvnb.map(rows, "Label: {review}", client=flaky, cache=cache, concurrency=3)
    assert second.ok, second.errors
    nvnb_server.clear()
    third = nvnb.map(rows, "Label: {review}", client=flaky, cache=cache)
    assert third.ok and sent_prompts(nvnb_server) == []


def test_a_changed_template_or_model_is_a_different_request(nvnb_server, tmp_path) -> None:
    cache = tmp_path / "run.sqlite"
    client = client_for(nvnb_server)
    nvnb.map(reviews(3), "Label: {review}", client=client, cache=cache)
    nvnb_server.clear()
    nvnb.map(reviews(3), "Label briefly: {review}", client=client, cache=cache)
    nvnb.map(
        reviews(3),
        "Label: {review}",
        client=client,
        cache=cache,
        model="mistralai/mistral-7b-instruct-v0.3",
    )
    assert len(nvnb_server.requests) == 6


async def test_amap_runs_on_the_callers_loop(nvnb_server) -> None:
    result = await nvnb.amap(reviews(5), "Label: {review}", client=client_for(nvnb_server))
    assert result.ok and len(result) == 5


async def test_cancelling_amap_cancels_the_requests_in_flight(nvnb_server, tmp_path) -> None:
    cache = tmp_path / "run.sqlite"
    task = asyncio.ensure_future(
        nvnb.amap(
            reviews(20),
            "Label: {review}",
            client=client_for(nvnb_server, "latency-ms=5000"),
            cache=cache,
        )
    )
    await asyncio.sleep(0.5)
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - t0 < 2.0


def test_map_works_while_an_event_loop_is_running(nvnb_server) -> None:
    async def inside_a_loop():
        return nvnb.map(reviews(3), "Label: {review}", client=client_for(nvnb_server))

    assert asyncio.run(inside_a_loop()).ok


def test_rows_must_be_many_rows_and_counts_whole_numbers(nvnb_server) -> None:
    client = client_for(nvnb_server)
    with pytest.raises(InvalidInputError, match="pass \\[row\\]"):
        nvnb.map({"review": "one"}, "{review}", client=client)
    with pytest.raises(InvalidInputError, match="concurrency"):
        nvnb.map(reviews(1), "{review}", concurrency=0, client=client)
    with pytest.raises(InvalidInputError, match="template"):
        nvnb.map(reviews(1), 42, client=client)
    assert nvnb_server.requests == []
