"""What NVIDIAEmbeddings and NVIDIARerank share: settings, model resolution, the endpoint, batches.

Both talk to one JSON endpoint per model: ``{base}/embeddings`` or ``{base}/ranking`` on a
self-hosted NIM, or the model's own hosted URL when the catalog gives one (rewritten onto the
local server's origin in local mode). Requests go through :class:`nvnb.client.Client`, so keys,
retries, ``payload_fn`` and error mapping are the same as for chat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from nvnb import catalog
from nvnb.catalog import Model, served
from nvnb.errors import APIError, ConfigurationError, InvalidInputError

T = TypeVar("T")


class RetrievalEndpoint(BaseModel):
    """Connection fields and model resolution for one embedding or ranking model."""

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    # Set by each subclass.
    _kind: ClassVar[str]  # the catalog type: "embedding" | "ranking"
    _path: ClassVar[str]  # the path under the base URL: "embeddings" | "ranking"
    _default_model: ClassVar[str]

    model: str | None = Field(None, description="Model id or alias; resolved to today's id")
    base_url: str | None = Field(None, alias="nvidia_base_url", description="Base URL (/v1)")
    api_key: SecretStr | None = Field(None, alias="nvidia_api_key", description="NVIDIA API key")
    timeout: float | None = Field(None, gt=0, description="Seconds for connect/read/write")
    max_retries: int = Field(3, ge=0, description="Retries on 429/5xx and connection errors")
    verify_ssl: bool | str = True
    default_headers: dict[str, str] = Field(default_factory=dict)
    max_concurrency: int = Field(
        4, ge=1, description="Batches in flight at once in the async methods"
    )

    _client: Any = PrivateAttr(default=None)
    _record: Model | None = PrivateAttr(default=None)
    _resolved: str | None = PrivateAttr(default=None)  # the model name _record was resolved for

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        # Here rather than in a validator, so that nvnb's errors reach the caller unwrapped.
        self._connect()

    # A pickle (joblib, multiprocessing, caches, a saved notebook state) carries no key: it is
    # read again where the object is unpickled, from NVIDIA_API_KEY, as for a new instance.
    # copy.copy/deepcopy stay in this process and keep it.
    def __getstate__(self) -> dict[Any, Any]:
        """The pickled state: no key, no connection pool."""
        state = super().__getstate__()
        state["__dict__"] = {**state["__dict__"], "api_key": None}
        private = state.get("__pydantic_private__") or {}
        state["__pydantic_private__"] = {**private, "_client": None}
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """Connect again; the key comes from ``NVIDIA_API_KEY`` here, as for a new instance."""
        super().__setstate__(state)
        self._connect()

    def _connect(self) -> None:
        from nvnb.client import Client

        self._client = Client(
            api_key=self.api_key.get_secret_value() if self.api_key else None,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
            verify_ssl=self.verify_ssl,
            default_headers=dict(self.default_headers),
            shared_pool=True,
        )
        settings = self._client.settings
        if self.api_key is None and settings.api_key is not None:
            self.api_key = SecretStr(settings.api_key.get_secret_value())
        if self.base_url is None and settings.mode != "local":
            self.base_url = settings.base_url
        if self.model is None and not settings.is_self_hosted:
            self.model = self._default_model
        if self.model is not None and catalog.find_model(self.model) is not None:
            self._record = self._checked(catalog.resolve_model(self.model))
            self.model = self._resolved = self._record.id

    # ------------------------------------------------------------------ public surface

    @property
    def client(self) -> Any:
        """The :class:`nvnb.client.Client` behind this object (``.payload_fn`` applies here too)."""
        return self._client

    @property
    def record(self) -> Model | None:
        """The catalog record of the model, when the catalog knows it."""
        return self._record

    @property
    def available_models(self) -> list[Model]:
        """Models of this kind: the catalog's and the live listing's (on a NIM, only those it
        lists; ids the catalog does not know count as this kind there)."""
        return catalog.merge_listing(
            self._client.list_models,
            keep=lambda model: model.type == self._kind,
            self_hosted=self._client.settings.is_self_hosted,
            unknown_type=self._kind,
            add_unknown=False,
        )

    @classmethod
    def get_available_models(cls, **kwargs: Any) -> list[Model]:
        """Models usable with this class, for the given (or default) settings."""
        return cls(**kwargs).available_models

    # ------------------------------------------------------------------ resolution

    def _checked(self, record: Model) -> Model:
        if record.type != self._kind:
            names = ", ".join(
                m.id for m in catalog.known_models() if m.type == self._kind and not m.deprecated
            )
            raise InvalidInputError(
                f"{record.id!r} is a {record.type} model; {type(self).__name__} needs "
                f"a{'n' if self._kind[0] in 'aeiou' else ''} {self._kind} model",
                model=record.id,
                hint=f"{self._kind} models: {names}",
            )
        if record.deprecated:
            from nvnb._notices import notify_once

            notify_once(
                f"deprecated:{record.id}",
                f"model {record.id!r} is deprecated and may be removed from the service.",
            )
        return record

    def _url_for(self, record: Model | None) -> str:
        """The model's own endpoint on the hosted service (or its local stand-in), else
        ``{base}/embeddings`` / ``{base}/ranking``; a NIM always takes the latter."""
        settings = self._client.settings
        if record is not None and record.endpoint and not settings.is_self_hosted:
            return settings.rewrite_hosted(record.endpoint)
        return f"{settings.base_url}/{self._path}"

    def _resolve(self, live: Callable[[], list[dict[str, Any]]]) -> str:
        """The model id for the current ``model``; may ask the listing once per name."""
        name = self.model
        if self._resolved is not None and name == self._resolved:
            return name
        settings = self._client.settings
        record: Model | None = None
        if name is None:  # a self-hosted NIM serves one model: take the one it lists
            name = self._first_listed([item["id"] for item in live()])
            record = catalog.find_model(name)
        elif catalog.find_model(name) is not None:
            record = self._checked(catalog.resolve_model(name))
            name = record.id
        else:  # raises, naming close ones, for a name the hosted service does not list
            served.resolve_on_service(name, self_hosted=settings.is_self_hosted, list_models=live)
        self._record = record
        self.model = self._resolved = name
        return name

    def _first_listed(self, listed: list[str]) -> str:
        """The listed model to use when none was named: one of our kind, else one the catalog
        does not know (a NIM's own id); never a model known to be of another kind."""
        ours = [i for i in listed if (m := catalog.find_model(i)) and m.type == self._kind]
        unknown = [i for i in listed if catalog.find_model(i) is None]
        if ours or unknown:
            return (ours or unknown)[0]
        raise ConfigurationError(
            f"{self._client.settings.base_url} lists no {self._kind} model; give "
            f"{type(self).__name__}(model=...)"
        )

    # Resolution is idempotent, so threads racing through it only repeat a little work.
    def _endpoint(self) -> tuple[str, str]:
        """(model id, URL) for the next request."""
        model = self._resolve(self._client.list_models)
        return model, self._url_for(self._record)

    async def _aendpoint(self) -> tuple[str, str]:
        name = self.model
        needs_listing = name != self._resolved and (
            name is None
            or served.judged_by_listing(name, self_hosted=self._client.settings.is_self_hosted)
        )
        listed = await self._client.aio.list_models() if needs_listing else []
        model = self._resolve(lambda: listed)
        return model, self._url_for(self._record)

    # ------------------------------------------------------------------ requests

    def _post(self, body: dict[str, Any], url: str) -> dict[str, Any]:
        return _as_dict(self._client.post_json(url, body), url)

    async def _apost(self, body: dict[str, Any], url: str) -> dict[str, Any]:
        return _as_dict(await self._client.aio.post_json(url, body), url)


def _as_dict(answer: Any, url: str) -> dict[str, Any]:
    if isinstance(answer, dict):
        return answer
    if isinstance(answer, list):  # some NIMs answer embeddings with the bare data list
        return {"data": answer}
    raise malformed(f"expected a JSON object, got {type(answer).__name__}", url=url)


def malformed(detail: str, *, url: str | None = None, model: str | None = None) -> APIError:
    """The error for a 200 answer whose JSON does not have the documented shape."""
    return APIError(
        detail=f"unexpected answer: {detail}",
        url=url,
        model=model,
        hint="the server's answer does not follow the API; is the base URL an NVIDIA NIM?",
    )


def batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


async def gather_bounded(jobs: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run ``jobs`` concurrently, at most ``limit`` at a time, results in order.

    The first failure cancels the jobs still running and is raised.
    """
    if len(jobs) == 1:
        return [await jobs[0]()]
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    tasks = [asyncio.ensure_future(run(job)) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
