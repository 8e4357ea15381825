"""ChatNVIDIA against the local server: the feature list of issue 3, one test each."""

from __future__ import annotations

import asyncio
import enum
import time
import warnings
from typing import Any, TypedDict

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.rate_limiters import InMemoryRateLimiter
from pydantic import BaseModel

from nvnb import ChatNVIDIA, images
from nvnb.errors import (
    AuthenticationError,
    InvalidInputError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamError,
    StreamInterrupted,
    UnknownModelError,
)
from nvnb.testing import AUTH_KEY

MODEL = "meta/llama-3.3-70b-instruct"


def _llm(server: Any, **kw: Any) -> ChatNVIDIA:
    return ChatNVIDIA(model=kw.pop("model", MODEL), base_url=server.base_url, **kw)


def _faulty(server: Any, fault: str, **kw: Any) -> ChatNVIDIA:
    return _llm(server, default_headers={"X-NVNB-Fault": fault}, max_retries=0, **kw)


def _posts(server: Any) -> list[Any]:
    return [r for r in server.requests if r.method == "POST"]


class Person(BaseModel):
    name: str
    age: int


class PersonDict(TypedDict):
    name: str
    age: int


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


# ---------------------------------------------------------------- fields and calls


def test_fields_and_aliases_follow_the_official_client(nvnb_server: Any) -> None:
    llm = ChatNVIDIA(
        model=MODEL,
        nvidia_base_url=nvnb_server.base_url,
        nvidia_api_key="nvapi-x",
        max_completion_tokens=12,
        top_k=5,
    )
    assert llm.base_url == nvnb_server.base_url and llm.max_tokens == 12
    assert llm.model_kwargs == {"top_k": 5}
    assert "nvapi-x" not in repr(llm)
    llm.invoke("Hi")
    sent = _posts(nvnb_server)[-1]
    assert sent.json["top_k"] == 5 and sent.json["max_tokens"] == 12 and sent.has_auth


def test_a_non_streamed_call_sends_stream_false(nvnb_server: Any) -> None:
    _llm(nvnb_server).invoke("Hi")
    assert _posts(nvnb_server)[-1].json["stream"] is False


def test_metadata_and_usage_when_invoking_and_streaming(nvnb_server: Any) -> None:
    llm = _llm(nvnb_server)
    msg = llm.invoke("Hi")
    assert msg.response_metadata["model_name"] == MODEL
    assert msg.response_metadata["finish_reason"] == "stop"
    assert msg.response_metadata["request_id"]
    full: AIMessageChunk | None = None
    for chunk in llm.stream("Hi"):
        full = chunk if full is None else full + chunk
    assert full is not None and full.content == msg.content
    assert full.usage_metadata == msg.usage_metadata
    assert full.response_metadata["request_id"] and full.response_metadata["finish_reason"]


def test_any_call_option_can_be_bound(nvnb_server: Any) -> None:
    _llm(nvnb_server).bind(temperature=0.2, seed=3, top_p=0.5).invoke("Hi")
    sent = _posts(nvnb_server)[-1].json
    assert (sent["temperature"], sent["seed"], sent["top_p"]) == (0.2, 3, 0.5)


def test_stop_and_max_tokens_shape_the_answer(nvnb_server: Any) -> None:
    llm = _llm(nvnb_server)
    assert "server" not in llm.invoke("Hi", stop=["server"]).content
    short = llm.invoke("Hi", max_tokens=3)
    assert short.response_metadata["finish_reason"] == "length"


def test_async_calls_are_native_and_honour_max_concurrency(nvnb_server: Any) -> None:
    llm = ChatNVIDIA(
        model=MODEL,
        base_url=nvnb_server.base_url,
        default_headers={"X-NVNB-Fault": "latency-ms=200"},
    )

    async def run() -> tuple[float, float]:
        await llm.ainvoke("warm up")  # first use: imports and connection
        start = time.perf_counter()
        await llm.abatch(["a", "b", "c", "d"], config={"max_concurrency": 4})
        parallel = time.perf_counter() - start
        start = time.perf_counter()
        await llm.abatch(["a", "b", "c", "d"], config={"max_concurrency": 1})
        return parallel, time.perf_counter() - start

    parallel, serial = asyncio.run(run())
    assert serial >= 0.8 and parallel < serial / 2


def test_astream_yields_chunks(nvnb_server: Any) -> None:
    async def run() -> list[AIMessageChunk]:
        return [c async for c in _llm(nvnb_server).astream("Hello")]

    chunks = asyncio.run(run())
    assert len(chunks) > 3 and chunks[-1].chunk_position == "last"


def test_the_rate_limiter_spaces_requests(nvnb_server: Any) -> None:
    limiter = InMemoryRateLimiter(
        requests_per_second=10, check_every_n_seconds=0.01, max_bucket_size=1
    )
    llm = _llm(nvnb_server, rate_limiter=limiter)
    start = time.perf_counter()
    for _ in range(3):
        llm.invoke("Hi")
    assert time.perf_counter() - start >= 0.18


def test_model_override_per_call_goes_to_that_model(nvnb_server: Any) -> None:
    msg = _llm(nvnb_server).invoke("Hi", model="meta/llama-3.1-8b-instruct")
    assert _posts(nvnb_server)[-1].json["model"] == "meta/llama-3.1-8b-instruct"
    assert msg.response_metadata["model_name"] == "meta/llama-3.1-8b-instruct"


def test_aliases_resolve_to_todays_ids(nvnb_server: Any) -> None:
    assert _llm(nvnb_server, model="playground_mixtral_8x7b").model == (
        "mistralai/mixtral-8x7b-instruct-v0.1"
    )


def test_unknown_models_on_the_hosted_service_suggest_close_names(
    nvnb_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", nvnb_server.origin)
    llm = ChatNVIDIA(model="llama-3.3-70b-instruct", api_key="nvapi-hosted-0123456789")
    with pytest.raises(UnknownModelError) as info:
        llm.invoke("Hi")
    assert "meta/llama-3.3-70b-instruct" in info.value.suggestions
    assert not _posts(nvnb_server)


def test_self_hosted_models_are_not_second_guessed(nvnb_server: Any) -> None:
    llm = _llm(nvnb_server, model="my-org/finetune-7b")  # a NIM's own id: the NIM decides
    with pytest.raises(NotFoundError, match="finetune-7b"):
        llm.invoke("Hi")
    assert _posts(nvnb_server)[-1].json["model"] == "my-org/finetune-7b"


# ---------------------------------------------------------------- models


def test_available_models_are_catalog_records(nvnb_server: Any) -> None:
    models = ChatNVIDIA.get_available_models(base_url=nvnb_server.base_url)
    assert models and all(m.is_chat for m in models)
    llm = _llm(nvnb_server)
    assert {m.id for m in llm.available_models} == {m.id for m in models}


def test_thinking_mode_follows_the_catalog(nvnb_server: Any) -> None:
    llm = _llm(nvnb_server, model="deepseek-ai/deepseek-v3.1")
    llm.with_thinking_mode(enabled=False).invoke("Hi")
    assert _posts(nvnb_server)[-1].json["chat_template_kwargs"] == {"enable_thinking": False}
    prefixed = _llm(nvnb_server, model="nvidia/llama-3.3-nemotron-super-49b-v1")
    prefixed.with_thinking_mode(enabled=True).invoke([SystemMessage("Be kind."), "Hi"])
    assert _posts(nvnb_server)[-1].json["messages"][0]["content"] == (
        "Be kind.\ndetailed thinking on"
    )


# ---------------------------------------------------------------- roles and labels


def test_qa_models_refuse_other_roles_before_any_request(nvnb_server: Any) -> None:
    llm = _llm(nvnb_server, model="nemotron_qa_8b")
    with pytest.raises(InvalidInputError, match="only 'user' and 'context'"):
        llm.invoke([SystemMessage("x"), HumanMessage("y")])
    assert not _posts(nvnb_server)


def test_bad_labels_fail_before_any_request(nvnb_server: Any) -> None:
    llm = _llm(nvnb_server, model="nemotron_steerlm_8b")
    with pytest.raises(InvalidInputError, match="0 to 9"):
        llm.invoke("Hi", labels={"creativity": 12})
    with pytest.raises(InvalidInputError, match="integer"):
        llm.bind(labels={"verbosity": "high"}).invoke("Hi")
    with pytest.raises(ValueError, match="unknown label 'mood'"):  # pydantic wraps it
        ChatNVIDIA(model="nemotron_steerlm_8b", base_url=nvnb_server.base_url, labels={"mood": 3})
    assert not _posts(nvnb_server)


def test_labels_on_the_model_and_per_call_merge(nvnb_server: Any) -> None:
    llm = _llm(nvnb_server, model="nemotron_steerlm_8b", labels={"creativity": 2})
    llm.invoke("Hi", labels={"verbosity": 7})
    assert _posts(nvnb_server)[-1].json["messages"][-1] == {
        "role": "assistant",
        "labels": {"creativity": 2, "verbosity": 7},
    }


def test_labels_to_an_unmarked_model_are_not_sent_and_it_says_so_once(
    nvnb_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from nvnb import _notices as notices

    llm = _llm(nvnb_server)
    notices.reset(f"labels-dropped:{llm.model}")
    llm.invoke("Hi", labels={"creativity": 3})
    llm.invoke("Hi again", labels={"creativity": 3})
    assert all("labels" not in m for p in _posts(nvnb_server) for m in p.json["messages"])
    err = capsys.readouterr().err
    assert err.count("labels are not sent") == 1 and "force_labels=True" in err


def test_forced_labels_are_sent_to_an_unmarked_model(nvnb_server: Any) -> None:
    _llm(nvnb_server, force_labels=True).invoke("Hi", labels={"creativity": 3})
    assert _posts(nvnb_server)[-1].json["messages"][-1]["labels"] == {"creativity": 3}
    _llm(nvnb_server).invoke("Hi", labels={"verbosity": 1}, force_labels=True)
    assert _posts(nvnb_server)[-1].json["messages"][-1]["labels"] == {"verbosity": 1}


# ---------------------------------------------------------------- images


def _big_png() -> str:
    import io
    import os

    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (400, 400), os.urandom(400 * 400 * 3)).save(buffer, format="PNG")
    return images.to_data_uri(buffer.getvalue(), "image/png")


def _image_message(url: str) -> list[HumanMessage]:
    return [
        HumanMessage(
            [{"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": {"url": url}}]
        )
    ]


def test_large_images_are_shrunk_when_uploads_are_off(nvnb_server: Any) -> None:
    llm = _llm(nvnb_server, model="meta/llama-3.2-11b-vision-instruct", asset_upload="never")
    assert llm.invoke(_image_message(_big_png())).content
    part = _posts(nvnb_server)[-1].json["messages"][0]["content"][1]
    assert part["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_large_images_are_uploaded_as_assets_on_hosted_endpoints(
    nvnb_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", nvnb_server.origin)
    llm = ChatNVIDIA(model="playground_neva_22b", api_key="nvapi-hosted-0123456789")
    assert llm.invoke(_image_message(_big_png())).content
    paths = [r.path for r in nvnb_server.requests]
    assert "/v2/nvcf/assets" in paths and any(p.startswith("/_nvnb/upload/") for p in paths)
    sent = _posts(nvnb_server)[-1]
    assert sent.path == "/v1/vlm/nvidia/neva-22b"
    asset_id = sent.headers["nvcf-input-asset-references"]
    assert f";asset_id,{asset_id}" in sent.json["messages"][0]["content"][1]["text"]


def test_local_paths_in_messages_are_refused_with_the_helper_named(nvnb_server: Any) -> None:
    with pytest.raises(images.ImageError, match="from_path"):
        _llm(nvnb_server).invoke(_image_message("/home/me/cat.png"))


# ---------------------------------------------------------------- tools


def test_bind_tools_maps_tool_choice_and_checks_names(nvnb_server: Any) -> None:
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "sunny"

    llm = _llm(nvnb_server)
    msg = llm.bind_tools([get_weather], tool_choice="any").invoke("weather in Paris")
    assert _posts(nvnb_server)[-1].json["tool_choice"] == "required"
    assert msg.tool_calls and msg.tool_calls[0]["name"] == "get_weather"
    llm.bind_tools([get_weather], tool_choice="get_weather").invoke("Paris")
    assert _posts(nvnb_server)[-1].json["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }
    with pytest.raises(InvalidInputError, match="not one of the bound tools"):
        llm.bind_tools([get_weather], tool_choice="get_time")


def test_streamed_tool_calls_are_assembled(nvnb_server: Any) -> None:
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    full: Any = None
    for chunk in _llm(nvnb_server).bind_tools([add], tool_choice=True).stream("add(2, 3)"):
        full = chunk if full is None else full + chunk
    assert full.tool_calls[0]["name"] == "add"
    assert set(full.tool_calls[0]["args"]) == {"a", "b"}


# ---------------------------------------------------------------- structured output


@pytest.mark.parametrize("schema", [Person, PersonDict, Person.model_json_schema()])
def test_structured_output_in_one_request(nvnb_server: Any, schema: Any) -> None:
    result = _llm(nvnb_server).with_structured_output(schema).invoke("name=Ada age=36")
    value = result if isinstance(result, dict) else result.model_dump()
    assert value == {"name": "Ada", "age": 36}
    assert len(_posts(nvnb_server)) == 1


def test_structured_output_with_an_enum(nvnb_server: Any) -> None:
    assert _llm(nvnb_server).with_structured_output(Mood).invoke("choice=sad") is Mood.SAD


def test_structured_output_include_raw(nvnb_server: Any) -> None:
    out = _llm(nvnb_server).with_structured_output(Person, include_raw=True).invoke("name=Bo")
    assert set(out) == {"raw", "parsed", "parsing_error"}
    assert out["parsed"].name == "Bo" and out["parsing_error"] is None


def test_structured_output_fails_clearly_instead_of_returning_none(nvnb_server: Any) -> None:
    llm = _llm(nvnb_server)
    parser = llm.with_structured_output(Person).last  # type: ignore[attr-defined]
    with pytest.raises(OutputParserException, match="not valid JSON"):
        (llm | parser).invoke("Hello")  # no response_format: the answer is prose


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("status=429;retry-after=7", RateLimitError),
        ("status=503", ServerError),
        ("status=422", InvalidRequestError),
    ],
)
def test_service_errors_are_typed_with_request_id_sync_async_and_streaming(
    nvnb_server: Any,
    fault: str,
    error: type[Exception],
) -> None:
    llm = _faulty(nvnb_server, fault)
    with pytest.raises(error) as sync:
        llm.invoke("Hi")
    with pytest.raises(error) as streamed:
        list(llm.stream("Hi"))
    with pytest.raises(error) as async_:
        asyncio.run(llm.ainvoke("Hi"))

    async def astream() -> None:
        async for _ in llm.astream("Hi"):
            pass

    with pytest.raises(error) as async_streamed:
        asyncio.run(astream())
    for info in (sync, streamed, async_, async_streamed):
        assert info.value.request_id  # type: ignore[attr-defined]


def test_a_wrong_key_is_an_authentication_error(nvnb_auth_server: Any) -> None:
    llm = ChatNVIDIA(model=MODEL, base_url=nvnb_auth_server.base_url, api_key="nvapi-wrong")
    with pytest.raises(AuthenticationError) as info:
        llm.invoke("Hi")
    assert info.value.request_id and "nvapi-wrong" not in str(info.value)
    good = ChatNVIDIA(model=MODEL, base_url=nvnb_auth_server.base_url, api_key=AUTH_KEY)
    assert good.invoke("Hi").content


def test_errors_mid_stream_keep_the_partial_text(nvnb_server: Any) -> None:
    for fault, error in (("stream-error=5", StreamError), ("drop-after=5", StreamInterrupted)):
        seen = ""
        with pytest.raises(error) as info:
            for chunk in _faulty(nvnb_server, fault).stream("Hi"):
                seen += chunk.text
        assert seen and info.value.partial_text.startswith(seen[:5])  # type: ignore[attr-defined]


def test_a_model_that_cannot_stream_is_sent_no_stream_field_and_streams_one_chunk(
    nvnb_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", nvnb_server.origin)
    # the catalog: kosmos-2 "streaming": false; the service refuses the "stream" field itself
    kosmos = ChatNVIDIA(model="kosmos_2", api_key="nvapi-hosted-0123456789")
    message = _image_message(f"{nvnb_server.origin}/_nvnb/samples/red-circle.png")
    chunks = list(kosmos.stream(message))
    bodies = [r.json for r in nvnb_server.requests if isinstance(r.json, dict)]
    assert bodies and all("stream" not in b for b in bodies if "messages" in b)
    assert len(chunks) == 1 and chunks[0].content
    assert asyncio.run(kosmos.ainvoke(message)).content


def test_no_warnings_on_ordinary_use(nvnb_server: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _llm(nvnb_server).invoke("Hi")


# --- the key stays out of pickles and dumps ----------------------------------------------------


def test_a_pickled_chat_model_does_not_carry_the_key(
    nvnb_auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    llm = ChatNVIDIA(model=MODEL, api_key=AUTH_KEY, base_url=nvnb_auth_server.base_url)
    pickled = pickle.dumps(llm)
    assert AUTH_KEY.encode() not in pickled
    assert llm.api_key is not None and llm.api_key.get_secret_value() == AUTH_KEY  # kept here
    keyless = pickle.loads(pickled)
    assert keyless.api_key is None and keyless.model == MODEL
    with pytest.raises(AuthenticationError):
        keyless.invoke("hi")
    monkeypatch.setenv("NVIDIA_API_KEY", AUTH_KEY)  # the key of the process that unpickles
    assert keyless.base_url == llm.base_url
    assert pickle.loads(pickled).invoke("hi").content


def test_no_text_form_of_a_chat_model_shows_the_key(nvnb_server: Any) -> None:
    from langchain_core.load import dumpd, dumps

    secret = "nvapi-SENTINEL-not-shown"
    llm = _llm(nvnb_server, api_key=secret)
    forms = [repr(llm), str(llm), repr(llm.model_dump()), llm.model_dump_json()]
    forms += [repr(dumpd(llm)), repr(llm.to_json()), dumps(llm)]
    assert not [form for form in forms if secret in form]
    assert llm.lc_secrets == {"api_key": "NVIDIA_API_KEY"}

    class Serializable(ChatNVIDIA):
        @classmethod
        def is_lc_serializable(cls) -> bool:
            return True

    dumped = dumpd(Serializable(model=MODEL, api_key=secret, base_url=nvnb_server.base_url))
    assert secret not in repr(dumped)
    assert dumped["kwargs"]["api_key"] == {"lc": 1, "type": "secret", "id": ["NVIDIA_API_KEY"]}


# --- time limits ------------------------------------------------------------------------------


def test_timeout_takes_seconds_or_timeouts_and_poll_deadline_bounds_202_polling(
    nvnb_server: Any,
) -> None:
    from nvnb.errors import RequestTimeout
    from nvnb.settings import Timeouts

    assert _llm(nvnb_server, timeout=7)._client.settings.timeout == Timeouts(7, 7, 7, 7)
    limits = Timeouts(connect=2, read=9, poll_deadline=4)
    assert _llm(nvnb_server, timeout=limits)._client.settings.timeout == limits
    both = _llm(nvnb_server, timeout=limits, poll_deadline=0.2)._client.settings.timeout
    assert (both.read, both.poll_deadline) == (9, 0.2)

    llm = _faulty(nvnb_server, "accepted=forever", poll_deadline=0.2)
    for call in (lambda: llm.invoke("hi"), lambda: asyncio.run(llm.ainvoke("hi"))):
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            call()
        assert time.monotonic() - started < 3  # not the default 300 s
    assert _faulty(nvnb_server, "accepted=2", poll_deadline=5).invoke("hi").content
