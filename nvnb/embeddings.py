"""NVIDIAEmbeddings: NVIDIA's embedding models as a LangChain ``Embeddings``.

Wire: ``POST {base}/embeddings`` (or the model's own endpoint) with
``{"input", "model", "encoding_format": "float", "input_type", "truncate", "dimensions"?}``;
the answer's ``data[].embedding`` come back in ``data[].index`` order.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Literal

from langchain_core.embeddings import Embeddings
from pydantic import Field

from nvnb._retrieval import RetrievalEndpoint, batches, gather_bounded, malformed
from nvnb.errors import InvalidInputError

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_MODEL", "NVIDIAEmbeddings"]

DEFAULT_MODEL = "nvidia/llama-nemotron-embed-1b-v2"
DEFAULT_BATCH_SIZE = 50

InputType = Literal["query", "passage"]
_LEGACY_TRUNCATE_END = ("nvolveqa_40k", "playground_nvolveqa_40k")


class NVIDIAEmbeddings(RetrievalEndpoint, Embeddings):
    """Embeddings from NVIDIA's API catalog, a self-hosted NIM, or nvnb's local server.

    Example:
        ```python
        from nvnb import NVIDIAEmbeddings

        embedder = NVIDIAEmbeddings(model="nvidia/nv-embedqa-e5-v5", truncate="END")
        vectors = embedder.embed_documents(["GPUs are fast.", "Cats sleep a lot."])
        query = embedder.embed_query("What is fast?")
        ```

    ``embed_query`` sends ``input_type="query"`` and ``embed_documents`` ``"passage"`` (retrieval
    models embed the two differently). Documents go in batches of ``max_batch_size``; the async
    methods send up to ``max_concurrency`` batches at once.
    """

    _kind: ClassVar[str] = "embedding"
    _path: ClassVar[str] = "embeddings"
    _default_model: ClassVar[str] = DEFAULT_MODEL

    truncate: Literal["NONE", "START", "END"] = Field(
        "NONE",
        description="Inputs longer than the model's limit: 'NONE' is an error, 'START'/'END' cut "
        "that end off",
    )
    dimensions: int | None = Field(
        None, gt=0, description="Shorter vectors, for models that support it"
    )
    max_batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=1, description="Texts per request")
    model_type: InputType | None = Field(
        None,
        description="Legacy (0.0.x): force this input_type for queries and documents alike",
    )

    def _connect(self) -> None:
        asked = self.model
        super()._connect()
        # 0.0.x compatibility: the old nvolveqa_40k name always truncated at the end.
        if asked in _LEGACY_TRUNCATE_END and "truncate" not in self.model_fields_set:
            self.truncate = "END"

    # ------------------------------------------------------------------ Embeddings

    def embed_query(self, text: str) -> list[float]:
        """The vector of one search query."""
        _check_texts([text], "text")
        return self._embed([text], self.model_type or "query")[0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """The vectors of documents, in order (sent in batches of ``max_batch_size``)."""
        _check_texts(texts, "texts")
        vectors: list[list[float]] = []
        for batch in batches(texts, self.max_batch_size):
            vectors.extend(self._embed(list(batch), self.model_type or "passage"))
        return vectors

    async def aembed_query(self, text: str) -> list[float]:
        """The vector of one search query."""
        _check_texts([text], "text")
        return (await self._aembed([text], self.model_type or "query"))[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """The vectors of documents, in order; the batches are sent concurrently."""
        _check_texts(texts, "texts")
        if not texts:
            return []
        input_type = self.model_type or "passage"
        jobs = [
            partial(self._aembed, list(b), input_type) for b in batches(texts, self.max_batch_size)
        ]
        results = await gather_bounded(jobs, self.max_concurrency)
        return [vector for result in results for vector in result]

    # ------------------------------------------------------------------ wire

    def payload(self, texts: list[str], input_type: InputType, model: str) -> dict[str, Any]:
        """The JSON body for embedding ``texts``."""
        body: dict[str, Any] = {
            "input": texts,
            "model": model,
            "encoding_format": "float",
            "input_type": input_type,
            "truncate": self.truncate,
        }
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        return body

    def _embed(self, texts: list[str], input_type: InputType) -> list[list[float]]:
        model, url = self._endpoint()
        answer = self._post(self.payload(texts, input_type, model), url)
        return _vectors(answer, len(texts), model=model, url=url)

    async def _aembed(self, texts: list[str], input_type: InputType) -> list[list[float]]:
        model, url = await self._aendpoint()
        answer = await self._apost(self.payload(texts, input_type, model), url)
        return _vectors(answer, len(texts), model=model, url=url)


def _check_texts(texts: Any, name: str) -> None:
    if isinstance(texts, list) and all(isinstance(t, str) for t in texts):
        return
    wanted = "a string" if name == "text" else "a list of strings"
    given = texts[0] if name == "text" and isinstance(texts, list) else texts
    raise InvalidInputError(f"`{name}` must be {wanted}, not {_short(given)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _vectors(
    answer: Mapping[str, Any], expected: int, *, model: str, url: str
) -> list[list[float]]:
    """The vectors of an embeddings answer, in input order (``data`` sorted by ``index``)."""
    data = answer.get("data")
    if not isinstance(data, list):
        raise malformed("no 'data' list in the embeddings answer", url=url, model=model)
    indexed: list[tuple[int, list[float]]] = []
    for position, item in enumerate(data):
        if not isinstance(item, Mapping) or "embedding" not in item:
            raise malformed(f"data[{position}] has no 'embedding'", url=url, model=model)
        index = item.get("index", position)
        vector = item["embedding"]
        if isinstance(vector, str):  # encoding_format "base64": little-endian float32
            vector = _from_base64(vector)
        if not isinstance(index, int) or not isinstance(vector, list):
            raise malformed(f"data[{position}] is not {{index, embedding}}", url=url, model=model)
        indexed.append((index, [float(x) for x in vector]))
    indexed.sort(key=lambda pair: pair[0])
    if [i for i, _ in indexed] != list(range(expected)):
        raise malformed(
            f"{len(indexed)} embeddings with indexes {[i for i, _ in indexed][:8]} for "
            f"{expected} inputs",
            url=url,
            model=model,
        )
    return [vector for _, vector in indexed]


def _from_base64(text: str) -> list[float]:
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))
