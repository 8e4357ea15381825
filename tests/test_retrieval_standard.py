"""LangChain's standard embeddings suites, and wire parity with the official classes.

Parity: the official ``langchain_nvidia_ai_endpoints`` 1.5.0 classes and ours are pointed at the
same local server; the request bodies it records, and the results, must be the same.

Intended differences (not compared here):
- Headers: we send ``User-Agent: nvnb/…`` and ``Authorization`` only when a key is set; the official
  client sends ``Authorization: Bearer **********`` (a literal placeholder) without a key, and an
  ``X-BILLING-SOURCE`` header of its own.
- Async: our batches are sent concurrently (``max_concurrency``), the official ones one after
  another, so the order of the requests differs (the bodies do not).
- Ranking: we merge every batch's rankings and sort them by logit; the official client keeps the
  server's order when there is one batch and cuts each batch to ``top_n`` first. Same documents,
  same scores, in the same order.
- A malformed answer (a ranking index out of range, missing embeddings) is an
  ``nvnb.errors.APIError`` rather than an ``AssertionError``/``KeyError``; ``embed_query`` refuses
  a non-string up front.
- Passage images (``metadata["image"]``): URLs are passed on as they are; the official client
  downloads them and sends base64.
- No model on a self-hosted NIM: we take the first listed model of the right kind (the official
  client takes the first listed model, whatever its kind).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_nvidia_ai_endpoints import NVIDIAEmbeddings as OfficialEmbeddings
from langchain_nvidia_ai_endpoints import NVIDIARerank as OfficialRerank
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from nvnb import NVIDIAEmbeddings, NVIDIARerank

EMBED_MODEL = "nvidia/nv-embedqa-e5-v5"
RANK_MODEL = "nvidia/llama-nemotron-rerank-1b-v2"
TEXTS = [
    "The H100 GPU delivers 3 TB/s of memory bandwidth.",
    "Cats sleep for most of the day.",
    "GPU memory bandwidth decides how fast weights are read.",
    "Paris is the capital of France.",
    "The A100 GPU offers 2 TB/s of memory bandwidth.",
]
QUERY = "Which GPU has the most memory bandwidth?"


# ---------------------------------------------------------------------------- standard suites


class TestNVIDIAEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[NVIDIAEmbeddings]:
        return NVIDIAEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": EMBED_MODEL, "base_url": "http://127.0.0.1:8000/v1"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {
                "NVIDIA_API_KEY": "nvapi-from-the-environment-0123456789",
                "NVIDIA_BASE_URL": "http://127.0.0.1:8000",
            },
            {"model": EMBED_MODEL},
            {
                "api_key": "nvapi-from-the-environment-0123456789",
                "base_url": "http://127.0.0.1:8000/v1",
                "model": EMBED_MODEL,
            },
        )


class TestNVIDIAEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[NVIDIAEmbeddings]:
        return NVIDIAEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": EMBED_MODEL}

    @pytest.fixture
    def model(self, nvnb_server: Any) -> NVIDIAEmbeddings:
        return NVIDIAEmbeddings(base_url=nvnb_server.base_url, **self.embedding_model_params)


# ---------------------------------------------------------------------------- parity


def recorded(server: Any) -> list[dict[str, Any]]:
    bodies = [r.json for r in server.requests if r.method == "POST"]
    server.clear()
    return bodies


def official(cls: type, server: Any, **kwargs: Any) -> Any:
    return cls(base_url=server.base_url, usage_telemetry_enabled=False, **kwargs)


@pytest.mark.parametrize(
    "options",
    [{}, {"truncate": "END"}, {"truncate": "START", "dimensions": 32}, {"max_batch_size": 2}],
)
def test_embedding_bodies_and_vectors_match_the_official_client(
    nvnb_server: Any, options: dict[str, Any]
) -> None:
    theirs = official(OfficialEmbeddings, nvnb_server, model=EMBED_MODEL, **options)
    ours = NVIDIAEmbeddings(base_url=nvnb_server.base_url, model=EMBED_MODEL, **options)
    results = []
    for embedder in (theirs, ours):
        vectors = embedder.embed_documents(TEXTS), embedder.embed_query(QUERY)
        results.append((vectors, recorded(nvnb_server)))
    (their_vectors, their_bodies), (our_vectors, our_bodies) = results
    assert our_bodies == their_bodies
    assert our_vectors == their_vectors


def test_async_embedding_bodies_match_the_official_client(nvnb_server: Any) -> None:
    theirs = official(OfficialEmbeddings, nvnb_server, model=EMBED_MODEL, max_batch_size=2)
    ours = NVIDIAEmbeddings(base_url=nvnb_server.base_url, model=EMBED_MODEL, max_batch_size=2)

    async def run(embedder: Any) -> Any:
        return await embedder.aembed_documents(TEXTS), await embedder.aembed_query(QUERY)

    their_vectors, their_bodies = asyncio.run(run(theirs)), recorded(nvnb_server)
    our_vectors, our_bodies = asyncio.run(run(ours)), recorded(nvnb_server)
    assert our_vectors == their_vectors
    key = repr  # our batches are concurrent: compare the bodies, not their order
    assert sorted(our_bodies, key=key) == sorted(their_bodies, key=key)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"top_n": 2},
        {"truncate": "END"},
        {"max_batch_size": 2, "top_n": 4},
        {"max_batch_size": 1, "top_n": 5},
    ],
)
def test_ranking_bodies_and_results_match_the_official_client(
    nvnb_server: Any, options: dict[str, Any]
) -> None:
    documents = [Document(page_content=t, metadata={"source": i}) for i, t in enumerate(TEXTS)]
    theirs = official(OfficialRerank, nvnb_server, model=RANK_MODEL, **options)
    ours = NVIDIARerank(base_url=nvnb_server.base_url, model=RANK_MODEL, **options)
    their_docs, their_bodies = theirs.compress_documents(documents, QUERY), recorded(nvnb_server)
    our_docs, our_bodies = ours.compress_documents(documents, QUERY), recorded(nvnb_server)
    assert our_bodies == their_bodies
    assert [(d.page_content, d.metadata) for d in our_docs] == [
        (d.page_content, d.metadata) for d in their_docs
    ]


def test_async_ranking_matches_the_official_client(nvnb_server: Any) -> None:
    documents = [Document(page_content=t) for t in TEXTS]
    theirs = official(OfficialRerank, nvnb_server, model=RANK_MODEL, max_batch_size=2)
    ours = NVIDIARerank(base_url=nvnb_server.base_url, model=RANK_MODEL, max_batch_size=2)
    their_docs = asyncio.run(theirs.acompress_documents(documents, QUERY))
    their_bodies = recorded(nvnb_server)
    our_docs = asyncio.run(ours.acompress_documents(documents, QUERY))
    assert sorted(recorded(nvnb_server), key=repr) == sorted(their_bodies, key=repr)
    assert our_docs == their_docs


def test_field_names_and_defaults_match_the_official_classes() -> None:
    url = "http://127.0.0.1:8000/v1"
    for ours, theirs, fields in (
        (
            NVIDIAEmbeddings(base_url=url, model=EMBED_MODEL),
            OfficialEmbeddings(base_url=url, model=EMBED_MODEL, usage_telemetry_enabled=False),
            ("model", "base_url", "truncate", "dimensions", "max_batch_size", "default_headers"),
        ),
        (
            NVIDIARerank(base_url=url, model=RANK_MODEL),
            OfficialRerank(base_url=url, model=RANK_MODEL, usage_telemetry_enabled=False),
            ("model", "base_url", "top_n", "truncate", "max_batch_size", "default_headers"),
        ),
    ):
        assert {f: getattr(ours, f) for f in fields} == {f: getattr(theirs, f) for f in fields}
