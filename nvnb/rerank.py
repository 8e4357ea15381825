"""NVIDIARerank: NVIDIA's ranking models as a LangChain document compressor.

Wire: ``POST {base}/ranking`` (or the model's own endpoint) with
``{"model", "query": {"text"}, "passages": [{"text"}], "truncate"?}`` → ``{"rankings": [{"index",
"logit"}]}``. Documents go in batches; the rankings of all batches are merged and sorted by logit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Literal

from langchain_core.callbacks import Callbacks
from langchain_core.documents import Document
from langchain_core.documents.compressor import BaseDocumentCompressor
from pydantic import Field

from nvnb._retrieval import RetrievalEndpoint, batches, gather_bounded, malformed
from nvnb.errors import InvalidInputError

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_MODEL", "NVIDIARerank", "Ranking"]

DEFAULT_MODEL = "nvidia/llama-nemotron-rerank-1b-v2"
DEFAULT_BATCH_SIZE = 32

Ranking = tuple[int, float]  # (index in its batch, logit)


class NVIDIARerank(RetrievalEndpoint, BaseDocumentCompressor):
    """Reorders documents by relevance to a query; the score is ``metadata["relevance_score"]``.

    Example:
        ```python
        from langchain_core.documents import Document
        from nvnb import NVIDIARerank

        ranker = NVIDIARerank(model="nvidia/llama-nemotron-rerank-1b-v2", top_n=2)
        best = ranker.compress_documents(
            [Document(page_content=t) for t in ("H100 has 3 TB/s.", "Cats purr.")],
            query="GPU memory bandwidth",
        )
        ```

    More documents than ``max_batch_size`` go in several requests (concurrently in
    ``acompress_documents``); their logits are compared across batches. A document may carry an
    image for vision rankers in ``metadata["image"]`` (a data URI, URL, path or bytes).
    """

    _kind: ClassVar[str] = "ranking"
    _path: ClassVar[str] = "ranking"
    _default_model: ClassVar[str] = DEFAULT_MODEL

    top_n: int = Field(5, ge=0, description="How many documents to return")
    truncate: Literal["NONE", "END"] | None = Field(
        None,
        description="Passages longer than the model's limit: 'NONE' is an error, 'END' cuts the "
        "end off; unset leaves it to the model",
    )
    max_batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=1, description="Passages per request")

    # ------------------------------------------------------------------ compressor

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """The ``top_n`` documents most relevant to ``query``, best first, with their scores."""
        docs = _check(documents, query)
        if not docs or self.top_n < 1:
            return []
        groups = batches(docs, self.max_batch_size)
        rankings = [self._rank(query, list(group)) for group in groups]
        return self._merge(groups, rankings)

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Like :meth:`compress_documents`; the batches are sent concurrently."""
        docs = _check(documents, query)
        if not docs or self.top_n < 1:
            return []
        groups = batches(docs, self.max_batch_size)
        jobs = [partial(self._arank, query, list(group)) for group in groups]
        rankings = await gather_bounded(jobs, self.max_concurrency)
        return self._merge(groups, rankings)

    # ------------------------------------------------------------------ wire

    def payload(self, query: str, documents: Sequence[Document], model: str) -> dict[str, Any]:
        """The JSON body for ranking ``documents`` against ``query``."""
        body: dict[str, Any] = {
            "model": model,
            "query": {"text": query},
            "passages": [_passage(doc) for doc in documents],
        }
        if self.truncate is not None:
            body["truncate"] = self.truncate
        return body

    def _rank(self, query: str, documents: list[Document]) -> list[Ranking]:
        model, url = self._endpoint()
        answer = self._post(self.payload(query, documents, model), url)
        return _rankings(answer, len(documents), model=model, url=url)

    async def _arank(self, query: str, documents: list[Document]) -> list[Ranking]:
        model, url = await self._aendpoint()
        answer = await self._apost(self.payload(query, documents, model), url)
        return _rankings(answer, len(documents), model=model, url=url)

    def _merge(
        self, groups: Sequence[Sequence[Document]], rankings: Sequence[list[Ranking]]
    ) -> list[Document]:
        scored = [
            (logit, group[index])
            for group, ranked in zip(groups, rankings, strict=True)
            for index, logit in ranked
        ]
        scored.sort(key=lambda pair: pair[0], reverse=True)  # stable: ties keep input order
        return [
            doc.model_copy(update={"metadata": {**doc.metadata, "relevance_score": logit}})
            for logit, doc in scored[: self.top_n]
        ]


def _check(documents: Sequence[Document], query: str) -> list[Document]:
    if not isinstance(query, str):
        raise InvalidInputError(f"the query must be a string, not {type(query).__name__}")
    docs = list(documents)
    for position, doc in enumerate(docs):
        if not isinstance(doc, Document):
            raise InvalidInputError(
                f"documents[{position}] is a {type(doc).__name__}, not a langchain Document"
            )
    return docs


def _passage(doc: Document) -> dict[str, Any]:
    passage: dict[str, Any] = {"text": doc.page_content}
    image = doc.metadata.get("image")
    if image is not None:
        passage["image"] = _image(image)
    return passage


def _image(source: Any) -> str:
    """A passage image as the service takes it: a data URI (files and bytes are read here)."""
    from nvnb import images

    if isinstance(source, str) and (source.startswith("data:") or images.is_url(source)):
        return source
    return images.from_path(source)


def _rankings(answer: Mapping[str, Any], count: int, *, model: str, url: str) -> list[Ranking]:
    """(index, logit) pairs of a ranking answer, checked against the batch size."""
    ranked = answer.get("rankings")
    if not isinstance(ranked, list):
        raise malformed("no 'rankings' list in the ranking answer", url=url, model=model)
    out: list[Ranking] = []
    seen: set[int] = set()
    for position, item in enumerate(ranked):
        index = item.get("index") if isinstance(item, Mapping) else None
        logit = item.get("logit") if isinstance(item, Mapping) else None
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or not 0 <= index < count
            or index in seen
            or not isinstance(logit, int | float)
            or isinstance(logit, bool)
            or math.isnan(logit)
        ):
            raise malformed(
                f"rankings[{position}] = {item!r} is not {{index, logit}} for {count} passages",
                url=url,
                model=model,
            )
        seen.add(index)
        out.append((index, float(logit)))
    return out
