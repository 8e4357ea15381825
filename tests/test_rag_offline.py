"""A small RAG chain, offline: embed, retrieve, rerank, answer from ``context`` turns.

Everything runs against nvnb's local server, the way a notebook without a key would: the vector
store holds NVIDIAEmbeddings vectors, NVIDIARerank reorders what the store found, and a QA model
answers from the passages given to it as ``context`` messages.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatMessagePromptTemplate, ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

from nvnb import ChatNVIDIA, NVIDIAEmbeddings, NVIDIARerank

QA_MODEL = "nvidia/llama3-chatqa-1.5-8b"

CORPUS = [
    "The H100 GPU delivers 3 TB/s of memory bandwidth with HBM3.",
    "The A100 GPU was launched in 2020 with up to 80 GB of HBM2e memory.",
    "Grace is an Arm CPU that NVIDIA pairs with Hopper GPUs over NVLink-C2C.",
    "Jupyter notebooks mix code, prose and output in one document.",
    "LangChain retrievers return documents relevant to a query.",
    "A reranker scores each passage against the query and keeps the best ones.",
    "Tomatoes grow best in full sun and well-drained soil.",
    "Paris is the capital of France and sits on the Seine.",
    "Cats sleep between twelve and sixteen hours a day.",
    "Embedding models turn text into vectors so similar texts lie close together.",
]

QUESTIONS = [
    ("How much memory bandwidth does the H100 GPU have?", 0, "3 TB/s"),
    ("When was the A100 GPU launched?", 1, "2020"),
    ("How many hours a day do cats sleep?", 8, "twelve and sixteen hours"),
    ("What is the capital of France?", 7, "Paris"),
]


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(doc.page_content for doc in docs)


@pytest.fixture
def pieces(nvnb_server: Any) -> dict[str, Any]:
    """The RAG parts, all pointed at the local server."""
    base = nvnb_server.base_url
    embedder = NVIDIAEmbeddings(base_url=base, model="nvidia/nv-embedqa-e5-v5")
    store = InMemoryVectorStore(embedding=embedder)
    store.add_texts(CORPUS, metadatas=[{"source": i} for i in range(len(CORPUS))])
    retriever = store.as_retriever(search_kwargs={"k": 4})
    ranker = NVIDIARerank(base_url=base, model="nvidia/llama-nemotron-rerank-1b-v2", top_n=2)
    reranked = ContextualCompressionRetriever(base_compressor=ranker, base_retriever=retriever)
    prompt = ChatPromptTemplate.from_messages(
        [
            ChatMessagePromptTemplate.from_template("{context}", role="context"),
            ("user", "{question}"),
        ]
    )
    llm = ChatNVIDIA(base_url=base, model=QA_MODEL)
    chain: Runnable = (
        {"context": reranked | format_docs, "question": RunnablePassthrough()}
        | prompt
        | llm
        | StrOutputParser()
    )
    return {"store": store, "retriever": retriever, "reranked": reranked, "chain": chain}


def test_the_corpus_is_embedded_as_passages_in_one_batch(
    pieces: dict[str, Any], nvnb_server: Any
) -> None:
    [body] = [r.json for r in nvnb_server.requests if r.path == "/v1/embeddings"]
    assert body["input_type"] == "passage" and body["input"] == CORPUS


@pytest.mark.parametrize(("question", "source", "_fact"), QUESTIONS)
def test_retrieval_finds_the_relevant_passage(
    pieces: dict[str, Any], question: str, source: int, _fact: str
) -> None:
    found = pieces["retriever"].invoke(question)
    assert source in [d.metadata["source"] for d in found]


@pytest.mark.parametrize(("question", "source", "_fact"), QUESTIONS)
def test_reranking_puts_the_relevant_passage_first(
    pieces: dict[str, Any], question: str, source: int, _fact: str
) -> None:
    ranked = pieces["reranked"].invoke(question)
    assert len(ranked) == 2
    assert ranked[0].metadata["source"] == source
    assert ranked[0].metadata["relevance_score"] >= ranked[1].metadata["relevance_score"]


@pytest.mark.parametrize(("question", "source", "fact"), QUESTIONS)
def test_the_chain_answers_from_the_reranked_context(
    pieces: dict[str, Any], nvnb_server: Any, question: str, source: int, fact: str
) -> None:
    nvnb_server.clear()
    answer = pieces["chain"].invoke(question)
    assert fact in answer
    paths = [r.path for r in nvnb_server.requests]
    assert paths == ["/v1/embeddings", "/v1/ranking", "/v1/chat/completions"]
    query_body, rank_body, chat_body = (r.json for r in nvnb_server.requests)
    assert query_body["input_type"] == "query" and query_body["input"] == [question]
    assert rank_body["query"] == {"text": question} and len(rank_body["passages"]) == 4
    assert [m["role"] for m in chat_body["messages"]] == ["context", "user"]
    context = chat_body["messages"][0]["content"]
    assert context.startswith(CORPUS[source])
    assert chat_body["messages"][1]["content"] == question


async def test_the_chain_answers_the_same_asynchronously(pieces: dict[str, Any]) -> None:
    question, _, fact = QUESTIONS[0]
    answer = await pieces["chain"].ainvoke(question)
    assert fact in answer
    assert answer == pieces["chain"].invoke(question)
