"""Embeddings and ranking: stable hashed bag-of-words vectors, similar texts close."""

from __future__ import annotations

import base64
import math
import struct

import pytest

EMBED = "nvidia/nv-embedqa-e5-v5"


@pytest.fixture(autouse=True)
def hashed_vectors(monkeypatch):
    """These tests are about the hashed vectors, even where the optional model is installed."""
    monkeypatch.setenv("NVNB_EMBEDDER", "hash")


RERANK = "nvidia/llama-3.2-nv-rerankqa-1b-v1"


def embed(http, inputs, **extra) -> dict:
    response = http.post(
        "/v1/embeddings", json={"model": EMBED, "input": inputs, "input_type": "query", **extra}
    )
    assert response.status_code == 200, response.text
    return response.json()


def cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_are_unit_vectors_of_384_in_input_order(http):
    data = embed(http, ["first text", "second text"])
    assert [d["index"] for d in data["data"]] == [0, 1]
    assert all(d["object"] == "embedding" for d in data["data"])
    for item in data["data"]:
        assert len(item["embedding"]) == 384
        assert math.isclose(math.sqrt(sum(v * v for v in item["embedding"])), 1.0, rel_tol=1e-9)
    assert data["usage"]["prompt_tokens"] == 4 == data["usage"]["total_tokens"]


def test_the_same_text_always_gets_the_same_vector(http):
    assert embed(http, "GPUs are fast")["data"] == embed(http, "GPUs are fast")["data"]


def test_similar_texts_are_closer_than_unrelated_ones(http):
    vectors = [
        d["embedding"]
        for d in embed(
            http,
            ["The cat sat on the mat", "A cat was sitting on a mat", "Stock markets fell sharply"],
        )["data"]
    ]
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.3


def test_dimensions_and_base64_encoding_are_honoured(http):
    data = embed(http, "hello", dimensions=64, encoding_format="base64")["data"][0]
    values = struct.unpack("<64f", base64.b64decode(data["embedding"]))
    assert math.isclose(sum(v * v for v in values), 1.0, rel_tol=1e-5)


def test_shortened_vectors_are_the_first_components_renormalised(http):
    full = embed(http, "shorter vectors")["data"][0]["embedding"]
    short = embed(http, "shorter vectors", dimensions=32)["data"][0]["embedding"]
    norm = math.sqrt(sum(v * v for v in full[:32]))
    assert short == pytest.approx([v / norm for v in full[:32]])


def test_more_dimensions_than_the_model_has_is_400(http):
    response = http.post("/v1/embeddings", json={"model": EMBED, "input": "x", "dimensions": 4096})
    assert response.status_code == 400 and "dimensions" in response.json()["detail"]


def test_long_inputs_need_truncate_and_are_cut_when_asked(http):
    long = " ".join(["word"] * 600)
    response = http.post("/v1/embeddings", json={"model": EMBED, "input": long})
    assert response.status_code == 400 and "truncate" in response.json()["detail"]
    assert embed(http, long, truncate="END")["usage"]["prompt_tokens"] == 512


@pytest.mark.parametrize(
    "extra",
    [
        {"input": []},
        {"input": 3},
        {"input_type": "document"},
        {"truncate": "MIDDLE"},
        {"dimensions": 0},
        {"dimensions": "8"},
        {"encoding_format": "hex"},
    ],
)
def test_malformed_embedding_requests_are_422(http, extra):
    body = {"model": EMBED, "input": "x", **extra}
    assert http.post("/v1/embeddings", json=body).status_code == 422


def test_a_chat_model_is_not_an_embedding_model(http):
    body = {"model": "meta/llama-3.1-8b-instruct", "input": "x"}
    assert http.post("/v1/embeddings", json=body).status_code == 400


def test_the_retrieval_endpoint_form_serves_embeddings(http):
    response = http.post(
        "/v1/retrieval/nvidia/embeddings",
        json={"model": "NV-Embed-QA", "input": ["x"], "input_type": "passage"},
    )
    assert response.status_code == 200 and len(response.json()["data"]) == 1


def test_ranking_puts_the_relevant_passage_first_sorted_by_logit(http):
    passages = [
        "Paris is the capital of France.",
        "Bananas are yellow fruit.",
        "The capital city of Germany is Berlin.",
    ]
    response = http.post(
        "/v1/ranking",
        json={
            "model": RERANK,
            "query": {"text": "What is the capital of France?"},
            "passages": [{"text": p} for p in passages],
        },
    )
    rankings = response.json()["rankings"]
    assert rankings[0]["index"] == 0
    assert [r["logit"] for r in rankings] == sorted((r["logit"] for r in rankings), reverse=True)
    assert rankings[-1]["index"] == 1


def test_ranking_answers_on_the_models_own_endpoint(http):
    response = http.post(
        "/v1/retrieval/nvidia/llama-3_2-nv-rerankqa-1b-v1/reranking",
        json={"model": RERANK, "query": {"text": "q"}, "passages": [{"text": "a"}, {"text": "q"}]},
    )
    assert response.json()["rankings"][0]["index"] == 1


def test_malformed_ranking_requests_are_422(http):
    for body in (
        {"model": RERANK, "query": "q", "passages": [{"text": "a"}]},
        {"model": RERANK, "query": {"text": "q"}, "passages": []},
    ):
        assert http.post("/v1/ranking", json=body).status_code == 422
