"""Embeddings and ranking routes (``/v1/embeddings``, ``/v1/ranking`` and their endpoint forms)."""

from __future__ import annotations

import asyncio
from typing import Any

from nvnb.server import tokens, validation, vectors
from nvnb.server.front import Call, api
from nvnb.server.problems import Problem


@api
async def embeddings(call: Call, **_: str) -> Any:
    body = call.require_body()
    model = validation.resolve(body.get("model"), {"embedding"})
    inputs = body.get("input")
    inputs = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
        raise validation.invalid("body -> input: a string or a non-empty list of strings")
    if body.get("input_type", "query") not in ("query", "passage"):
        raise validation.invalid("body -> input_type: should be 'query' or 'passage'")
    truncate = _truncate(body)
    dims = body.get("dimensions", vectors.DIMENSIONS)
    if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
        raise validation.invalid("body -> dimensions: a positive integer")
    if dims > vectors.DIMENSIONS:
        raise Problem(
            400,
            f"dimensions={dims} is more than {model.id} has "
            f"({vectors.DIMENSIONS} on the local nvnb server).",
        )
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise validation.invalid("body -> encoding_format: should be 'float' or 'base64'")
    texts = [_fit(text, truncate, f"input {i}") for i, text in enumerate(inputs)]
    used = sum(tokens.count(text) for text in texts)
    found = (
        await asyncio.to_thread(vectors.embed_many, texts, dims)
        if _model_installed()
        else vectors.embed_many(texts, dims)
    )
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": vectors.encode_base64(v) if encoding == "base64" else v,
        }
        for i, v in enumerate(found)
    ]
    return call.reply(
        {
            "object": "list",
            "data": data,
            "model": model.id,
            "usage": {"prompt_tokens": used, "total_tokens": used},
        }
    )


@api
async def ranking(call: Call, **_: str) -> Any:
    body = call.require_body()
    validation.resolve(body.get("model"), {"ranking"})
    query = body.get("query")
    if not isinstance(query, dict) or not isinstance(query.get("text"), str):
        raise validation.invalid("body -> query -> text: Field required")
    passages = body.get("passages")
    if (
        not isinstance(passages, list)
        or not passages
        or not all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in passages)
    ):
        raise validation.invalid('body -> passages: a non-empty list of {"text": ...}')
    truncate = _truncate(body)
    texts = [_fit(p["text"], truncate, f"passage {i}") for i, p in enumerate(passages)]
    query_text = _fit(query["text"], truncate, "query")
    if _model_installed():  # a real model takes a while: keep the event loop free
        return call.reply({"rankings": await asyncio.to_thread(vectors.rank, query_text, texts)})
    return call.reply({"rankings": vectors.rank(query_text, texts)})


def _model_installed() -> bool:
    from nvnb.server import minilm

    return minilm.available()


def _truncate(body: dict) -> str:
    truncate = body.get("truncate", "NONE")
    if truncate not in ("NONE", "START", "END"):
        raise validation.invalid("body -> truncate: should be 'NONE', 'START' or 'END'")
    return truncate


def _fit(text: str, truncate: str, what: str) -> str:
    pieces, limit = tokens.pieces(text), vectors.MAX_INPUT_TOKENS
    if len(pieces) <= limit:
        return text
    if truncate == "NONE":
        raise Problem(
            400,
            f"Input length of {what} is {len(pieces)} tokens, more than the "
            f"maximum of {limit}; send truncate='END' or 'START'.",
        )
    kept = pieces[:limit] if truncate == "END" else pieces[-limit:]
    return "".join(kept)
