"""NVIDIARerank against nvnb's local server: the wire, merging batches, scores, errors."""

from __future__ import annotations

import time
from typing import Any

import pytest
from langchain_core.documents import Document

from nvnb import NVIDIARerank
from nvnb.errors import (
    APIError,
    AuthenticationError,
    InvalidInputError,
    InvalidRequestError,
    NotFoundError,
    ServerError,
)
from nvnb.rerank import DEFAULT_BATCH_SIZE, DEFAULT_MODEL, _rankings
from nvnb.testing import AUTH_KEY

MODEL = "nvidia/llama-nemotron-rerank-1b-v2"
QUERY = "What is the memory bandwidth of the H100 GPU?"
TEXTS = [
    "Cats sleep for most of the day.",
    "The H100 GPU delivers 3 TB/s of memory bandwidth.",
    "Paris is the capital of France.",
    "GPU memory bandwidth decides how fast a model reads its weights.",
    "Tomatoes grow best in full sun.",
    "The A100 GPU offers 2 TB/s of memory bandwidth.",
]


def docs(texts: list[str] = TEXTS) -> list[Document]:
    return [Document(page_content=t, metadata={"n": i}) for i, t in enumerate(texts)]


def ranker(server: Any, **kwargs: Any) -> NVIDIARerank:
    kwargs.setdefault("model", MODEL)
    return NVIDIARerank(base_url=server.base_url, **kwargs)


def bodies(server: Any) -> list[dict[str, Any]]:
    return [r.json for r in server.requests if r.path.endswith(("/ranking", "/reranking"))]


@pytest.fixture
def hosted_on_local(nvnb_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Hosted-mode settings whose hosted URLs land on the local server."""
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-test-not-a-real-key-000000000000")
    monkeypatch.delenv("NVIDIA_BASE_URL", raising=False)
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", nvnb_server.origin)
    return nvnb_server


# ---------------------------------------------------------------------------- the wire


def test_a_ranking_request_carries_model_query_and_passages(nvnb_server: Any) -> None:
    ranker(nvnb_server).compress_documents(docs(TEXTS[:2]), QUERY)
    assert bodies(nvnb_server) == [
        {
            "model": MODEL,
            "query": {"text": QUERY},
            "passages": [{"text": TEXTS[0]}, {"text": TEXTS[1]}],
        }
    ]
    assert nvnb_server.requests[-1].path == "/v1/ranking"


def test_truncate_is_sent_only_when_set(nvnb_server: Any) -> None:
    ranker(nvnb_server, truncate="END").compress_documents(docs(), QUERY)
    assert bodies(nvnb_server)[0]["truncate"] == "END"


def test_the_defaults_match_the_official_client() -> None:
    r = NVIDIARerank(base_url="http://127.0.0.1:9/v1", model=MODEL)
    assert (r.top_n, r.truncate, r.max_batch_size) == (5, None, 32) and DEFAULT_BATCH_SIZE == 32
    assert DEFAULT_MODEL == MODEL


# ---------------------------------------------------------------------------- results


def test_the_relevant_passages_come_first_with_their_scores(nvnb_server: Any) -> None:
    ranked = ranker(nvnb_server, top_n=3).compress_documents(docs(), QUERY)
    assert len(ranked) == 3
    assert ranked[0].page_content == TEXTS[1]
    assert {d.page_content for d in ranked} <= {TEXTS[1], TEXTS[3], TEXTS[5]}
    scores = [d.metadata["relevance_score"] for d in ranked]
    assert scores == sorted(scores, reverse=True)


def test_metadata_is_kept_and_the_input_documents_are_not_changed(nvnb_server: Any) -> None:
    given = docs()
    ranked = ranker(nvnb_server).compress_documents(given, QUERY)
    assert all("relevance_score" not in d.metadata for d in given)
    assert all(d.metadata["n"] == TEXTS.index(d.page_content) for d in ranked)


def test_top_n_bounds_the_results(nvnb_server: Any) -> None:
    assert len(ranker(nvnb_server, top_n=2).compress_documents(docs(), QUERY)) == 2
    assert len(ranker(nvnb_server, top_n=50).compress_documents(docs(), QUERY)) == len(TEXTS)


def test_nothing_to_rank_sends_nothing(nvnb_server: Any) -> None:
    assert ranker(nvnb_server).compress_documents([], QUERY) == []
    assert ranker(nvnb_server, top_n=0).compress_documents(docs(), QUERY) == []
    assert bodies(nvnb_server) == []


def test_batches_are_merged_and_sorted_by_logit_across_batches(nvnb_server: Any) -> None:
    whole = ranker(nvnb_server, top_n=6).compress_documents(docs(), QUERY)
    nvnb_server.clear()
    batched = ranker(nvnb_server, top_n=6, max_batch_size=2).compress_documents(docs(), QUERY)
    assert [b["passages"] for b in bodies(nvnb_server)] == [
        [{"text": t} for t in TEXTS[i : i + 2]] for i in (0, 2, 4)
    ]
    assert [(d.page_content, d.metadata) for d in batched] == [
        (d.page_content, d.metadata) for d in whole
    ]


def test_a_compression_retriever_can_use_it(nvnb_server: Any) -> None:
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_core.retrievers import BaseRetriever

    class Everything(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
            return docs()

    retriever = ContextualCompressionRetriever(
        base_compressor=ranker(nvnb_server, top_n=1), base_retriever=Everything()
    )
    assert [d.page_content for d in retriever.invoke(QUERY)] == [TEXTS[1]]


def test_an_answer_with_an_index_out_of_range_is_a_typed_error() -> None:
    with pytest.raises(APIError, match="rankings"):
        _rankings({"rankings": [{"index": 3, "logit": 1.0}]}, 2, model=MODEL, url="u")
    with pytest.raises(APIError, match="no 'rankings'"):
        _rankings({"data": []}, 2, model=MODEL, url="u")


# ---------------------------------------------------------------------------- async


async def test_async_ranking_gives_the_same_documents(nvnb_server: Any) -> None:
    r = ranker(nvnb_server, top_n=4, max_batch_size=2)
    expected = r.compress_documents(docs(), QUERY)
    assert await r.acompress_documents(docs(), QUERY) == expected


async def test_async_batches_run_concurrently(nvnb_server: Any) -> None:
    delay, batches = 0.4, 3

    async def timed(concurrency: int) -> float:
        r = ranker(
            nvnb_server,
            max_batch_size=2,
            max_concurrency=concurrency,
            default_headers={"X-NVNB-Fault": f"latency-ms={int(delay * 1000)}"},
        )
        started = time.perf_counter()
        ranked = await r.acompress_documents(docs(), QUERY)
        assert ranked[0].page_content == TEXTS[1]
        return time.perf_counter() - started

    one_by_one, together = await timed(1), await timed(batches)
    assert len(bodies(nvnb_server)) == 2 * batches
    # Overlapping the waits saves (batches - 1) × delay; ask for at least one delay saved.
    assert together < one_by_one - delay, f"{together:.2f}s vs {one_by_one:.2f}s one by one"


# ---------------------------------------------------------------------------- endpoints


def test_a_hosted_ranking_model_is_called_on_its_own_endpoint(hosted_on_local: Any) -> None:
    NVIDIARerank(model=MODEL).compress_documents(docs(), QUERY)
    assert [r.path for r in hosted_on_local.requests] == [
        "/v1/retrieval/nvidia/llama-nemotron-rerank-1b-v2/reranking"
    ]


def test_the_legacy_alias_reaches_the_old_reranking_endpoint(hosted_on_local: Any) -> None:
    r = NVIDIARerank(model="ai-rerank-qa-mistral-4b")
    assert r.model == "nv-rerank-qa-mistral-4b:1"
    r.compress_documents(docs(), QUERY)
    assert [q.path for q in hosted_on_local.requests] == ["/v1/retrieval/nvidia/reranking"]
    assert bodies(hosted_on_local)[0]["model"] == "nv-rerank-qa-mistral-4b:1"


def test_a_self_hosted_nim_always_gets_base_url_ranking(nvnb_server: Any) -> None:
    ranker(nvnb_server).compress_documents(docs(), QUERY)
    assert [r.path for r in nvnb_server.requests] == ["/v1/ranking"]


def test_an_embedding_model_is_refused_as_a_ranker() -> None:
    with pytest.raises(InvalidInputError, match="embedding model"):
        NVIDIARerank(base_url="http://127.0.0.1:9/v1", model="nvidia/nv-embedqa-e5-v5")


def test_available_models_are_the_ranking_models(nvnb_server: Any) -> None:
    models = ranker(nvnb_server).available_models
    assert models and all(m.type == "ranking" for m in models)
    assert MODEL in {m.id for m in models}


# ---------------------------------------------------------------------------- errors


def test_an_unknown_model_is_a_not_found_error(nvnb_server: Any) -> None:
    with pytest.raises(NotFoundError):
        ranker(nvnb_server, model="no-such/ranker").compress_documents(docs(), QUERY)


def test_a_missing_key_is_an_authentication_error(nvnb_auth_server: Any) -> None:
    with pytest.raises(AuthenticationError):
        NVIDIARerank(base_url=nvnb_auth_server.base_url, model=MODEL).compress_documents(
            docs(), QUERY
        )
    r = NVIDIARerank(base_url=nvnb_auth_server.base_url, model=MODEL, api_key=AUTH_KEY)
    assert r.compress_documents(docs(), QUERY)


def test_the_key_never_shows_in_text_forms(nvnb_server: Any) -> None:
    secret = "nvapi-super-secret-0123456789abcdef"
    r = ranker(nvnb_server, api_key=secret)
    forms = [repr(r), str(r), repr(r.model_dump()), str(r.model_dump()), r.model_dump_json()]
    assert not [form for form in forms if secret in form]
    assert r.api_key is not None and r.api_key.get_secret_value() == secret


def test_a_pickled_ranker_carries_no_key_and_takes_the_one_where_it_is_unpickled(
    nvnb_auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    r = NVIDIARerank(base_url=nvnb_auth_server.base_url, model=MODEL, api_key=AUTH_KEY, top_n=2)
    pickled = pickle.dumps(r)
    assert AUTH_KEY.encode() not in pickled
    assert r.api_key is not None and r.api_key.get_secret_value() == AUTH_KEY  # kept here
    keyless = pickle.loads(pickled)
    assert keyless.api_key is None
    assert (keyless.model, keyless.base_url, keyless.top_n) == (MODEL, r.base_url, 2)
    with pytest.raises(AuthenticationError):
        keyless.compress_documents(docs(), QUERY)
    monkeypatch.setenv("NVIDIA_API_KEY", AUTH_KEY)  # the key of the process that unpickles
    expected = r.compress_documents(docs(), QUERY)
    assert pickle.loads(pickled).compress_documents(docs(), QUERY) == expected


def test_copies_in_the_same_process_keep_the_key(nvnb_auth_server: Any) -> None:
    import copy

    r = NVIDIARerank(base_url=nvnb_auth_server.base_url, model=MODEL, api_key=AUTH_KEY)
    for duplicate in (copy.copy(r), copy.deepcopy(r)):
        assert duplicate.compress_documents(docs(), QUERY) == r.compress_documents(docs(), QUERY)


@pytest.mark.parametrize(
    ("fault", "error"), [("status=422", InvalidRequestError), ("status=502", ServerError)]
)
def test_service_failures_are_typed_errors(nvnb_server: Any, fault: str, error: type) -> None:
    r = ranker(nvnb_server, max_retries=0, default_headers={"X-NVNB-Fault": fault})
    with pytest.raises(error):
        r.compress_documents(docs(), QUERY)


def test_things_that_are_not_documents_are_refused(nvnb_server: Any) -> None:
    with pytest.raises(InvalidInputError):
        ranker(nvnb_server).compress_documents(["plain string"], QUERY)  # type: ignore[list-item]
    assert bodies(nvnb_server) == []


def test_a_passage_image_is_sent_as_a_data_uri(nvnb_server: Any, tmp_path: Any) -> None:
    from PIL import Image

    path = tmp_path / "red.png"
    Image.new("RGB", (8, 8), "red").save(path)
    doc = Document(page_content="a red square", metadata={"image": str(path)})
    ranker(nvnb_server).compress_documents([doc], "red")
    [passage] = bodies(nvnb_server)[0]["passages"]
    assert passage["text"] == "a red square"
    assert passage["image"].startswith("data:image/png;base64,")


def test_without_a_key_the_embedded_local_server_answers_on_the_models_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL", "NVNB_HOSTED_ORIGIN", "NVNB_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    r = NVIDIARerank(top_n=1)
    assert r.model == DEFAULT_MODEL and r.base_url is None
    [best] = r.compress_documents(docs(), QUERY)
    assert best.page_content == TEXTS[1]
    _, url = r._endpoint()
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/v1/retrieval/nvidia/llama-nemotron-rerank-1b-v2/reranking")
