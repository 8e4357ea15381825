"""Faults on demand, per request (X-NVNB-Fault) and per server, reliable and counted."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from email.utils import format_datetime

import httpx
import pytest
from server_helpers import chat_body, stream_chunks

from nvnb.server import LocalServer
from nvnb.server.faults import parse
from nvnb.server.problems import Problem

CHAT = "/v1/chat/completions"


def fault(spec: str) -> dict:
    return {"X-NVNB-Fault": spec}


@pytest.mark.parametrize("code", [401, 403, 404, 422, 429, 500, 502, 503, 504])
def test_status_faults_answer_that_code_with_an_nvcf_body(http, code):
    response = http.post(CHAT, json=chat_body(), headers=fault(f"status={code}"))
    assert response.status_code == code
    body = response.json()
    assert body["status"] == code and "X-NVNB-Fault" in body["detail"]


def test_retry_after_is_sent_as_seconds_or_an_http_date(http):
    response = http.post(CHAT, json=chat_body(), headers=fault("status=429;retry-after=2"))
    assert response.headers["retry-after"] == "2"
    date = format_datetime(datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc), usegmt=True)
    response = http.post(CHAT, json=chat_body(), headers=fault(f"status=503;retry-after={date}"))
    assert response.headers["retry-after"] == date


def test_times_and_id_give_a_burst_then_success(http):
    codes = [
        http.post(CHAT, json=chat_body(), headers=fault("status=503;times=2;id=burst")).status_code
        for _ in range(4)
    ]
    assert codes == [503, 503, 200, 200]


def test_times_counters_are_exact_under_concurrency(nvnb_server):
    codes: list[int] = []
    lock = threading.Lock()

    def hit() -> None:
        response = httpx.post(
            f"{nvnb_server.base_url}/chat/completions",
            json=chat_body(),
            headers=fault("status=500;times=5;id=race"),
        )
        with lock:
            codes.append(response.status_code)

    threads = [threading.Thread(target=hit) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200] * 7 + [500] * 5


def test_error_bodies_can_be_html_plain_text_or_openai_style(http):
    html = http.post(CHAT, json=chat_body(), headers=fault("status=503;html"))
    assert html.headers["content-type"].startswith("text/html") and "<html>" in html.text
    text = http.post(CHAT, json=chat_body(), headers=fault("status=502;text"))
    assert text.headers["content-type"].startswith("text/plain") and text.text.startswith("502")
    openai = http.post(CHAT, json=chat_body(), headers=fault("status=429;style=openai"))
    assert openai.json()["error"]["type"] == "rate_limit_error"


def test_a_style_spec_alone_shapes_validation_errors_too(http):
    response = http.post(CHAT, json=chat_body(model="no/such"), headers=fault("style=openai"))
    assert response.status_code == 404 and "message" in response.json()["error"]


def test_drop_after_cuts_the_connection_mid_stream(http):
    received = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream(
            "POST", CHAT, json=chat_body(stream=True), headers=fault("drop-after=3")
        ) as response,
    ):
        for line in response.iter_lines():
            if line:
                received.append(line)
    assert len(received) == 3
    assert all(json.loads(line[6:])["choices"][0]["delta"].get("content") for line in received)


def test_drop_after_zero_drops_before_any_response(http):
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        http.post(CHAT, json=chat_body(), headers=fault("drop-after=0"))


def test_drop_after_n_on_a_json_answer_sends_only_n_bytes(http):
    with pytest.raises(httpx.RemoteProtocolError, match="received 10 bytes"):
        http.post(CHAT, json=chat_body(), headers=fault("drop-after=10"))


def test_the_server_keeps_serving_after_dropped_connections(http):
    for _ in range(3):
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(CHAT, json=chat_body(), headers=fault("drop-after=0"))
    assert http.post(CHAT, json=chat_body()).status_code == 200


def test_malformed_sse_sends_a_data_line_that_is_not_json(http):
    with http.stream(
        "POST", CHAT, json=chat_body(stream=True), headers=fault("malformed-sse=2")
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    bad = [line for line in lines[:-1] if not _is_json(line[6:])]
    assert len(bad) == 1 and lines.index(bad[0]) == 2


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_invalid_json_answers_200_with_a_body_that_does_not_parse(http):
    response = http.post(CHAT, json=chat_body(), headers=fault("invalid-json"))
    assert response.status_code == 200
    assert not _is_json(response.text)


def test_stream_error_sends_an_error_object_and_ends_the_stream(http):
    with http.stream(
        "POST", CHAT, json=chat_body(stream=True), headers=fault("stream-error=2")
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert len(lines) == 3
    error = json.loads(lines[-1][6:])["error"]
    assert error["object"] == "error" and error["type"] == "internal_error"


def test_stall_after_keeps_the_stream_open_until_the_client_gives_up(http):
    began = time.monotonic()
    received = []
    with (
        pytest.raises(httpx.ReadTimeout),
        http.stream(
            "POST",
            CHAT,
            json=chat_body(stream=True),
            headers=fault("stall-after=2"),
            timeout=httpx.Timeout(5, read=0.3),
        ) as response,
    ):
        for line in response.iter_lines():
            if line:
                received.append(line)
    assert len(received) == 2
    assert time.monotonic() - began < 3


def test_stall_on_a_json_request_sends_nothing(http):
    with pytest.raises(httpx.ReadTimeout):
        http.post(
            CHAT,
            json=chat_body(),
            headers=fault("stall-after=0"),
            timeout=httpx.Timeout(5, read=0.3),
        )


def test_latency_delays_the_answer(http):
    began = time.monotonic()
    assert http.post(CHAT, json=chat_body(), headers=fault("latency-ms=150")).status_code == 200
    assert time.monotonic() - began >= 0.15


def test_accepted_answers_202_then_the_result_after_n_polls(http):
    response = http.post(CHAT, json=chat_body(), headers=fault("accepted=2"))
    assert response.status_code == 202
    request_id = response.headers["nvcf-reqid"]
    polls = [http.get(f"/v2/nvcf/pexec/status/{request_id}") for _ in range(3)]
    assert [p.status_code for p in polls] == [202, 202, 200]
    assert all(p.headers["nvcf-reqid"] == request_id for p in polls)
    assert "local nvnb server" in polls[-1].json()["choices"][0]["message"]["content"]


def test_accepted_forever_never_finishes(http):
    request_id = http.post(CHAT, json=chat_body(), headers=fault("accepted=forever")).headers[
        "nvcf-reqid"
    ]
    assert {http.get(f"/v2/nvcf/pexec/status/{request_id}").status_code for _ in range(5)} == {202}


def test_pexec_honours_accepted_too(http):
    from nvnb.server.models import function_id

    response = http.post(
        f"/v2/nvcf/pexec/functions/{function_id('meta/llama-3.1-8b-instruct')}",
        json={"messages": [{"role": "user", "content": "Hi"}]},
        headers=fault("accepted=0"),
    )
    assert response.status_code == 202
    assert http.get(f"/v2/nvcf/pexec/status/{response.headers['nvcf-reqid']}").status_code == 200


def test_long_makes_a_streamed_answer_that_long_in_large_chunks(http):
    chunks = stream_chunks(http, chat_body(), headers=fault("long=300000"))
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert len(text) == 300_000 and len(chunks) < 200


def test_several_faults_combine_in_one_header(http):
    began = time.monotonic()
    response = http.post(
        CHAT, json=chat_body(), headers=fault("latency-ms=100, status=429;retry-after=1")
    )
    assert response.status_code == 429 and time.monotonic() - began >= 0.1


def test_a_server_wide_fault_applies_to_every_request():
    with LocalServer(fault="status=503;times=1") as server:
        url = f"{server.base_url}/chat/completions"
        assert httpx.post(url, json=chat_body()).status_code == 503
        assert httpx.post(url, json=chat_body()).status_code == 200


def test_server_options_delay_chunks_and_answers():
    with (
        LocalServer(chunk_delay_ms=30, latency_ms=100) as server,
        httpx.Client(base_url=server.origin) as client,
    ):
        began = time.monotonic()
        stream_chunks(client, chat_body(max_tokens=4))
        assert time.monotonic() - began >= 0.1 + 4 * 0.03


def test_clearing_the_server_resets_times_counters(nvnb_server, http):
    spec = fault("status=500;times=1;id=reset")
    assert http.post(CHAT, json=chat_body(), headers=spec).status_code == 500
    assert http.post(CHAT, json=chat_body(), headers=spec).status_code == 200
    nvnb_server.clear()
    assert http.post(CHAT, json=chat_body(), headers=spec).status_code == 500


@pytest.mark.parametrize(
    "spec",
    [
        "explode",
        "status",
        "status=abc",
        "drop-after=1;bogus=2",
        "status=500;times=x",
        "style=fancy",
        "accepted=soon",
    ],
)
def test_bad_fault_specs_are_400_saying_what_is_wrong(http, spec):
    response = http.post(CHAT, json=chat_body(), headers=fault(spec))
    assert response.status_code == 400
    assert "X-NVNB-Fault" in response.json()["detail"]


def test_fault_specs_split_on_commas_but_not_inside_http_dates():
    faults = parse("status=429;retry-after=Wed, 21 Oct 2015 07:28:00 GMT, latency-ms=5")
    assert [f.name for f in faults] == ["status", "latency-ms"]
    assert faults[0].params["retry-after"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    with pytest.raises(Problem):
        parse("nonsense=1")


def test_faults_and_clients_leaving_early_log_nothing(http, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="uvicorn")
    caplog.set_level(logging.DEBUG, logger="nvnb")
    for spec in ("drop-after=0", "drop-after=2", "drop-after=5"):
        body = chat_body(stream=spec != "drop-after=0")
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(CHAT, json=body, headers=fault(spec))
    with http.stream(
        "POST", CHAT, json=chat_body(stream=True), headers=fault("chunk-delay-ms=20")
    ) as response:
        next(response.iter_lines())  # then leave mid-stream
    time.sleep(0.2)
    assert http.post(CHAT, json=chat_body()).status_code == 200
    noisy = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith(("uvicorn", "nvnb"))
    ]
    assert noisy == []


def test_stopping_the_server_ends_a_stalled_stream_promptly():
    with LocalServer() as server:
        done = threading.Event()

        def stalled() -> None:
            try:
                with httpx.stream(
                    "POST",
                    f"{server.base_url}/chat/completions",
                    timeout=30,
                    json=chat_body(stream=True),
                    headers=fault("stall-after=1"),
                ) as response:
                    for _ in response.iter_lines():
                        pass
            except httpx.HTTPError:
                pass
            done.set()

        thread = threading.Thread(target=stalled)
        thread.start()
        time.sleep(0.3)
        began = time.monotonic()
    assert time.monotonic() - began < 3
    assert done.wait(5)
    thread.join()
