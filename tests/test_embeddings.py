"""NVIDIAEmbeddings against nvnb's local server: the wire, batches, order, errors."""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from nvnb import NVIDIAEmbeddings
from nvnb.embeddings import DEFAULT_BATCH_SIZE, DEFAULT_MODEL, _vectors
from nvnb.errors import (
    APIError,
    AuthenticationError,
    InvalidInputError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnknownModelError,
)
from nvnb.testing import AUTH_KEY

MODEL = "nvidia/nv-embedqa-e5-v5"


def embedder(server: Any, **kwargs: Any) -> NVIDIAEmbeddings:
    kwargs.setdefault("model", MODEL)
    return NVIDIAEmbeddings(base_url=server.base_url, **kwargs)


def bodies(server: Any, path: str = "/v1/embeddings") -> list[dict[str, Any]]:
    return [r.json for r in server.requests if r.path == path]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


@pytest.fixture
def hosted_on_local(nvnb_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Hosted-mode settings whose hosted URLs land on the local server."""
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-test-not-a-real-key-000000000000")
    monkeypatch.delenv("NVIDIA_BASE_URL", raising=False)
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", nvnb_server.origin)
    return nvnb_server


# ---------------------------------------------------------------------------- the wire


def test_embed_query_sends_one_query_input_with_the_documented_fields(nvnb_server: Any) -> None:
    vector = embedder(nvnb_server).embed_query("What is a GPU?")
    assert bodies(nvnb_server) == [
        {
            "input": ["What is a GPU?"],
            "model": MODEL,
            "encoding_format": "float",
            "input_type": "query",
            "truncate": "NONE",
        }
    ]
    assert vector and all(isinstance(x, float) for x in vector)


def test_embed_documents_sends_passages_and_returns_one_vector_per_text(nvnb_server: Any) -> None:
    texts = ["GPUs are fast.", "Cats sleep a lot.", "H100 memory bandwidth."]
    vectors = embedder(nvnb_server).embed_documents(texts)
    assert len(vectors) == 3 and len({len(v) for v in vectors}) == 1
    [body] = bodies(nvnb_server)
    assert body["input_type"] == "passage" and body["input"] == texts


def test_truncate_and_dimensions_are_sent_and_dimensions_shorten_the_vector(
    nvnb_server: Any,
) -> None:
    vector = embedder(nvnb_server, truncate="END", dimensions=64).embed_query("short")
    [body] = bodies(nvnb_server)
    assert body["truncate"] == "END" and body["dimensions"] == 64
    assert len(vector) == 64


def test_documents_go_in_batches_of_max_batch_size_and_keep_their_order(nvnb_server: Any) -> None:
    texts = [f"document number {i} about topic {i % 3}" for i in range(7)]
    batched = embedder(nvnb_server, max_batch_size=3).embed_documents(texts)
    assert [b["input"] for b in bodies(nvnb_server)] == [texts[0:3], texts[3:6], texts[6:7]]
    nvnb_server.clear()
    whole = embedder(nvnb_server).embed_documents(texts)
    assert len(bodies(nvnb_server)) == 1
    assert batched == whole


def test_the_default_batch_size_matches_the_official_client() -> None:
    assert DEFAULT_BATCH_SIZE == 50
    assert NVIDIAEmbeddings(base_url="http://127.0.0.1:9/v1", model=MODEL).max_batch_size == 50


def test_similar_texts_get_closer_vectors_than_unrelated_ones(nvnb_server: Any) -> None:
    e = embedder(nvnb_server)
    query = e.embed_query("GPU memory bandwidth")
    near, far = e.embed_documents(["The H100 GPU has high memory bandwidth.", "Cats purr."])
    assert cosine(query, near) > cosine(query, far)


def test_the_same_text_always_gets_the_same_vector(nvnb_server: Any) -> None:
    e = embedder(nvnb_server)
    assert e.embed_query("stable") == e.embed_query("stable")


def test_an_empty_list_of_documents_sends_nothing(nvnb_server: Any) -> None:
    assert embedder(nvnb_server).embed_documents([]) == []
    assert bodies(nvnb_server) == []


def test_answers_are_put_back_in_input_order_by_index() -> None:
    answer = {
        "data": [
            {"index": 2, "embedding": [2.0]},
            {"index": 0, "embedding": [0.0]},
            {"index": 1, "embedding": [1.0]},
        ]
    }
    assert _vectors(answer, 3, model=MODEL, url="u") == [[0.0], [1.0], [2.0]]


def test_base64_answers_are_decoded_to_the_same_floats(nvnb_server: Any) -> None:
    e = embedder(nvnb_server)
    floats = e.embed_query("bandwidth")
    e.client.payload_fn = lambda body: {**body, "encoding_format": "base64"}
    decoded = e.embed_query("bandwidth")
    assert bodies(nvnb_server)[-1]["encoding_format"] == "base64"
    assert decoded == pytest.approx(floats, abs=1e-6)


def test_an_answer_missing_an_embedding_is_a_typed_error() -> None:
    with pytest.raises(APIError, match="2 embeddings"):
        _vectors(
            {"data": [{"index": 0, "embedding": [1.0]}, {"index": 2, "embedding": [1.0]}]},
            3,
            model=MODEL,
            url="u",
        )
    with pytest.raises(APIError, match="no 'data'"):
        _vectors({"rankings": []}, 1, model=MODEL, url="u")


def test_payload_fn_and_default_headers_apply_to_embedding_requests(nvnb_server: Any) -> None:
    e = embedder(nvnb_server, default_headers={"X-Team": "rag"})
    e.client.payload_fn = lambda body: {**body, "user": "notebook"}
    e.embed_query("hello")
    [request] = [r for r in nvnb_server.requests if r.path == "/v1/embeddings"]
    assert request.json["user"] == "notebook"
    assert {k.lower(): v for k, v in request.headers.items()}["x-team"] == "rag"


# ---------------------------------------------------------------------------- async


async def test_async_methods_send_the_same_bodies_as_the_sync_ones(nvnb_server: Any) -> None:
    e = embedder(nvnb_server, max_batch_size=2)
    texts = ["alpha text", "beta text", "gamma text"]
    sync_vectors, sync_query = e.embed_documents(texts), e.embed_query("alpha")
    sync_bodies = bodies(nvnb_server)
    nvnb_server.clear()
    assert await e.aembed_documents(texts) == sync_vectors
    assert await e.aembed_query("alpha") == sync_query
    key = lambda b: (b["input_type"], b["input"])  # noqa: E731 - concurrent batches may reorder
    assert sorted(bodies(nvnb_server), key=key) == sorted(sync_bodies, key=key)


async def test_async_batches_run_concurrently_up_to_max_concurrency(nvnb_server: Any) -> None:
    delay, texts = 0.4, ["one", "two", "three", "four"]

    async def timed(concurrency: int) -> tuple[float, list[list[float]]]:
        e = embedder(
            nvnb_server,
            max_batch_size=1,
            max_concurrency=concurrency,
            default_headers={"X-NVNB-Fault": f"latency-ms={int(delay * 1000)}"},
        )
        started = time.perf_counter()
        vectors = await e.aembed_documents(texts)
        return time.perf_counter() - started, vectors

    (one_by_one, first), (together, second) = await timed(1), await timed(4)
    assert one_by_one >= len(texts) * delay
    # Overlapping the waits saves 3 × delay; ask for at least two delays saved.
    assert together < one_by_one - 2 * delay, f"{together:.2f}s vs {one_by_one:.2f}s one by one"
    assert first == second == embedder(nvnb_server).embed_documents(texts)  # in input order


async def test_an_async_batch_failure_raises_the_typed_error(nvnb_server: Any) -> None:
    e = embedder(
        nvnb_server, max_batch_size=1, max_retries=0, default_headers={"X-NVNB-Fault": "status=422"}
    )
    with pytest.raises(InvalidRequestError):
        await e.aembed_documents(["a", "b", "c"])


# ---------------------------------------------------------------------------- models


def test_the_default_model_is_the_official_default(nvnb_server: Any) -> None:
    assert DEFAULT_MODEL == "nvidia/llama-nemotron-embed-1b-v2"
    assert NVIDIAEmbeddings(api_key="nvapi-x" * 3).model == DEFAULT_MODEL


def test_a_legacy_alias_resolves_to_todays_id(nvnb_server: Any) -> None:
    e = embedder(nvnb_server, model="ai-embed-qa-4")
    assert e.model == "NV-Embed-QA"
    e.embed_query("legacy alias probe")
    # Pick this test's request by its text: the session-wide server may still receive a stray
    # request that an earlier test cancelled.
    (mine,) = [b for b in bodies(nvnb_server) if "legacy alias probe" in json.dumps(b["input"])]
    assert mine["model"] == "NV-Embed-QA"


def test_the_0_0_x_nvolveqa_name_keeps_its_end_truncation(nvnb_server: Any) -> None:
    assert embedder(nvnb_server, model="playground_nvolveqa_40k").truncate == "END"
    assert embedder(nvnb_server, model="nvolveqa_40k", truncate="NONE").truncate == "NONE"


def test_legacy_model_type_forces_the_input_type(nvnb_server: Any) -> None:
    e = embedder(nvnb_server, model_type="passage")
    e.embed_query("q")
    assert bodies(nvnb_server)[0]["input_type"] == "passage"


def test_a_model_with_its_own_endpoint_is_called_there_on_the_hosted_service(
    hosted_on_local: Any,
) -> None:
    NVIDIAEmbeddings(model="NV-Embed-QA").embed_query("x")
    assert [r.path for r in hosted_on_local.requests] == ["/v1/retrieval/nvidia/embeddings"]


def test_other_hosted_models_use_base_url_embeddings(hosted_on_local: Any) -> None:
    e = NVIDIAEmbeddings(model=MODEL)
    assert e.base_url == hosted_on_local.base_url
    e.embed_query("x")
    assert [r.path for r in hosted_on_local.requests] == ["/v1/embeddings"]
    assert hosted_on_local.requests[0].has_auth


def test_a_self_hosted_nim_always_gets_base_url_embeddings(nvnb_server: Any) -> None:
    embedder(nvnb_server, model="NV-Embed-QA").embed_query("x")
    assert [r.path for r in nvnb_server.requests] == ["/v1/embeddings"]


def test_without_a_model_a_self_hosted_nim_uses_the_embedding_model_it_lists(
    nvnb_server: Any,
) -> None:
    e = NVIDIAEmbeddings(base_url=nvnb_server.base_url)
    assert e.model is None  # nothing asked yet
    e.embed_query("x")
    assert e.record is not None and e.record.type == "embedding"
    assert bodies(nvnb_server)[0]["model"] == e.model


def test_a_chat_model_is_refused_with_the_embedding_models_named() -> None:
    with pytest.raises(InvalidInputError, match="chat model") as info:
        NVIDIAEmbeddings(base_url="http://127.0.0.1:9/v1", model="meta/llama3-70b-instruct")
    assert MODEL in (info.value.hint or "")


def test_an_unknown_hosted_model_raises_unknown_model_with_suggestions(
    hosted_on_local: Any,
) -> None:
    e = NVIDIAEmbeddings(model="nvidia/nv-embedqa-e5-v6")
    with pytest.raises(UnknownModelError) as info:
        e.embed_query("x")
    assert MODEL in info.value.suggestions


def test_available_models_are_the_embedding_models(nvnb_server: Any) -> None:
    models = NVIDIAEmbeddings.get_available_models(base_url=nvnb_server.base_url, model=MODEL)
    assert models and all(m.type == "embedding" for m in models)
    assert MODEL in {m.id for m in models}


# ---------------------------------------------------------------------------- errors


def test_a_model_the_server_does_not_know_is_a_not_found_error(nvnb_server: Any) -> None:
    with pytest.raises(NotFoundError, match="no-such/embedder") as info:
        embedder(nvnb_server, model="no-such/embedder").embed_query("x")
    assert info.value.status == 404 and info.value.model == "no-such/embedder"
    assert info.value.request_id and info.value.url == f"{nvnb_server.base_url}/embeddings"


def test_a_wrong_key_is_an_authentication_error_without_the_key(nvnb_auth_server: Any) -> None:
    secret = "nvapi-wrong-key-1234567890abcdef"
    e = NVIDIAEmbeddings(base_url=nvnb_auth_server.base_url, model=MODEL, api_key=secret)
    with pytest.raises(AuthenticationError) as info:
        e.embed_query("x")
    assert secret not in str(info.value) and secret not in repr(e)


def test_the_right_key_is_sent_as_a_bearer_token(nvnb_auth_server: Any) -> None:
    e = NVIDIAEmbeddings(base_url=nvnb_auth_server.base_url, model=MODEL, api_key=AUTH_KEY)
    assert e.embed_query("x")
    assert nvnb_auth_server.requests[-1].has_auth


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("status=422", InvalidRequestError),
        ("status=500", ServerError),
        ("status=429;retry-after=7", RateLimitError),
        ("invalid-json", APIError),
    ],
)
def test_service_failures_are_typed_errors(nvnb_server: Any, fault: str, error: type) -> None:
    e = embedder(nvnb_server, max_retries=0, default_headers={"X-NVNB-Fault": fault})
    with pytest.raises(error) as info:
        e.embed_documents(["x"])
    if error is RateLimitError:
        assert info.value.retry_after == 7


def test_a_long_input_without_truncation_is_rejected_by_the_service(nvnb_server: Any) -> None:
    with pytest.raises(InvalidRequestError):
        embedder(nvnb_server).embed_query("nvidia " * 2000)
    assert embedder(nvnb_server, truncate="END").embed_query("nvidia " * 2000)


def test_transient_errors_are_retried(nvnb_server: Any) -> None:
    e = embedder(nvnb_server, default_headers={"X-NVNB-Fault": "status=503;times=1;id=emb-retry"})
    assert e.embed_query("x")
    assert len(bodies(nvnb_server)) == 2


@pytest.mark.parametrize("bad", [["ok", 2], "not a list", [None]])
def test_documents_that_are_not_strings_are_refused_before_sending(
    nvnb_server: Any, bad: Any
) -> None:
    with pytest.raises(InvalidInputError):
        embedder(nvnb_server).embed_documents(bad)
    assert bodies(nvnb_server) == []


def test_a_query_that_is_not_a_string_is_refused(nvnb_server: Any) -> None:
    with pytest.raises(InvalidInputError):
        embedder(nvnb_server).embed_query(["a list"])  # type: ignore[arg-type]


def test_the_key_never_shows_in_repr(nvnb_server: Any) -> None:
    secret = "nvapi-super-secret-0123456789abcdef"
    e = embedder(nvnb_server, api_key=secret)
    forms = [repr(e), str(e), repr(e.model_dump()), str(e.model_dump()), e.model_dump_json()]
    assert not [form for form in forms if secret in form]
    assert e.api_key is not None and e.api_key.get_secret_value() == secret


def test_sync_calls_from_many_threads_share_one_object_safely(nvnb_server: Any) -> None:
    e = embedder(nvnb_server)
    with ThreadPoolExecutor(4) as pool:
        vectors = list(pool.map(e.embed_query, [f"text {i}" for i in range(6)]))
    assert vectors == [e.embed_query(f"text {i}") for i in range(6)]


def test_a_pickled_embedder_carries_no_key_and_takes_the_one_where_it_is_unpickled(
    nvnb_auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    e = NVIDIAEmbeddings(base_url=nvnb_auth_server.base_url, model=MODEL, api_key=AUTH_KEY)
    pickled = pickle.dumps(e)
    assert AUTH_KEY.encode() not in pickled
    assert e.api_key is not None and e.api_key.get_secret_value() == AUTH_KEY  # kept here
    keyless = pickle.loads(pickled)
    assert keyless.api_key is None
    assert (keyless.model, keyless.base_url, keyless.truncate) == (MODEL, e.base_url, e.truncate)
    with pytest.raises(AuthenticationError):
        keyless.embed_query("x")
    monkeypatch.setenv("NVIDIA_API_KEY", AUTH_KEY)  # the key of the process that unpickles
    assert pickle.loads(pickled).embed_query("x") == e.embed_query("x")


def test_copies_in_the_same_process_keep_the_key(nvnb_auth_server: Any) -> None:
    import copy

    e = NVIDIAEmbeddings(base_url=nvnb_auth_server.base_url, model=MODEL, api_key=AUTH_KEY)
    for duplicate in (copy.copy(e), copy.deepcopy(e)):
        assert duplicate.embed_query("x") == e.embed_query("x")
