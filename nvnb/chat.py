"""``ChatNVIDIA``: NVIDIA's hosted models (or your own NIM) as a LangChain chat model.

A drop-in for ``langchain_nvidia_ai_endpoints.ChatNVIDIA``: the same fields, call options and wire
format, on nvnb's client (pooled, typed errors, native async). Message conversion lives in
:mod:`nvnb._payload`, response parsing in :mod:`nvnb._response`, structured output in
:mod:`nvnb._structured`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils import get_pydantic_field_names
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.utils import _build_model_kwargs
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from nvnb import _payload as payload
from nvnb import _response as response
from nvnb import _structured as structured
from nvnb import catalog
from nvnb._chat_stream import keep_partial_text, whole_as_chunks
from nvnb.catalog import Model, check_labels, modalities, served
from nvnb.errors import InvalidInputError, NVNBError
from nvnb.settings import Timeouts

DEFAULT_MODEL = "nvidia/nemotron-3-nano-30b-a3b"
"""The model used when none is named (the official client's default too)."""

AssetUpload = Literal["auto", "never", "always"]


class ChatNVIDIA(BaseChatModel):
    """A chat model from NVIDIA's API catalog, a self-hosted NIM, or nvnb's local server.

    Example:
        ```python
        from nvnb import ChatNVIDIA

        llm = ChatNVIDIA(model="meta/llama-3.3-70b-instruct", temperature=0.2)
        print(llm.invoke("Write a haiku about GPUs.").content)
        ```

    Without a key or base URL, answers come from nvnb's local server (announced once).

    Several choices: with ``n`` > 1, ``generate`` returns one generation per choice (``invoke``
    the first, as for any LangChain chat model). A stream is one message in LangChain: it
    carries the first choice only, never a mix, and the other choices, assembled apart, come on
    the closing chunk as ``response_metadata["other_choices"]``. A refusal is kept in
    ``additional_kwargs["refusal"]``.

    Time limits: ``timeout`` is seconds (connect, read, write and pool wait alike) or a
    :class:`nvnb.settings.Timeouts` for each apart; ``poll_deadline`` (seconds) bounds the whole
    wait for a ``202 Accepted`` answer that is polled until ready (default 300 s), after which
    the call raises :class:`nvnb.errors.RequestTimeout`.
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    model: str | None = Field(None, description="Model id or alias (playground_ prefix optional)")
    base_url: str | None = Field(None, alias="nvidia_base_url", description="Base URL (/v1)")
    api_key: SecretStr | None = Field(None, alias="nvidia_api_key", description="NVIDIA API key")
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(1024, gt=0, alias="max_completion_tokens")
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    seed: int | None = Field(None, ge=0)
    n: int | None = Field(
        None, ge=1, description="Choices per request: one generation each (streams: the first)"
    )
    stop: str | list[str] | None = None
    stream_options: dict[str, Any] | None = Field(default_factory=lambda: {"include_usage": True})
    default_headers: dict[str, str] = Field(default_factory=dict)
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    timeout: float | Timeouts | None = Field(
        None, description="Seconds for connect/read/write/pool, or a nvnb.settings.Timeouts"
    )
    poll_deadline: float | None = Field(
        None, gt=0, description="Seconds to wait for a 202 (polled) answer; default 300"
    )
    verify_ssl: bool | str = True
    max_retries: int = 3
    labels: dict[str, int] | None = None
    force_labels: bool = Field(
        False, description="Send labels even to a model the catalog does not list as SteerLM"
    )
    asset_upload: AssetUpload = "auto"
    streaming: bool = False

    _client: Any = PrivateAttr(default=None)
    _record: Model | None = PrivateAttr(default=None)
    _resolved: bool = PrivateAttr(default=False)

    @model_validator(mode="before")
    @classmethod
    def _collect_model_kwargs(cls, values: dict[str, Any]) -> Any:
        """Unknown constructor keywords go to ``model_kwargs`` (sent with every request)."""
        return _build_model_kwargs(values, get_pydantic_field_names(cls))

    @model_validator(mode="after")
    def _connect(self) -> ChatNVIDIA:
        from nvnb.client import Client

        self._client = Client(
            api_key=self.api_key.get_secret_value() if self.api_key else None,
            base_url=self.base_url,
            timeout=self._timeouts(),
            max_retries=self.max_retries,
            verify_ssl=self.verify_ssl,
            default_headers=dict(self.default_headers),
            shared_pool=True,
        )
        settings = self._client.settings
        name = self.model or DEFAULT_MODEL
        found = catalog.find_model(name)
        if found is not None:
            self._record = catalog.resolve_model(name)  # an alias announces its new id once
            self._resolved = True
            name = self._record.id
        self.model = name
        if self.labels is not None:
            self.labels = check_labels(self.labels, self._record)
        if self.base_url is None and settings.mode != "local":
            self.base_url = settings.base_url
        return self

    def _timeouts(self) -> Timeouts:
        timeouts = Timeouts.coerce(self.timeout)
        if self.poll_deadline is not None:
            timeouts = dataclasses.replace(timeouts, poll_deadline=float(self.poll_deadline))
        return timeouts

    # ---------------------------------------------------------------- pickling

    def __getstate__(self) -> dict[Any, Any]:
        """A pickle (joblib, multiprocessing, caches) carries no key and no connection pool."""
        state = super().__getstate__()
        state["__dict__"] = {**state["__dict__"], "api_key": None}
        private = state.get("__pydantic_private__") or {}
        state["__pydantic_private__"] = {**private, "_client": None}
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """Connect again: the key comes from ``NVIDIA_API_KEY`` here, as for a new instance."""
        super().__setstate__(state)
        self._connect()

    # ---------------------------------------------------------------- LangChain plumbing

    @property
    def _llm_type(self) -> str:
        return "chat-nvidia-nvnb"

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "NVIDIA_API_KEY"}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "base_url": self.base_url, **self._defaults()}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="nvidia",
            ls_model_name=kwargs.get("model") or self.model or DEFAULT_MODEL,
            ls_model_type="chat",
            ls_temperature=kwargs.get("temperature", self.temperature),
        )
        if max_tokens := kwargs.get("max_tokens", self.max_tokens):
            params["ls_max_tokens"] = max_tokens
        stop = stop or kwargs.get("stop") or self.stop
        if stop:
            params["ls_stop"] = [stop] if isinstance(stop, str) else list(stop)
        return params

    # ---------------------------------------------------------------- public surface

    @property
    def client(self) -> Any:
        """The :class:`nvnb.client.Client` behind this model; set ``.payload_fn`` on it to
        rewrite every request body (sync, async and streaming)."""
        return self._client

    @property
    def record(self) -> Model | None:
        """The catalog record of the model, when the catalog knows it."""
        return self._record

    @property
    def available_models(self) -> list[Model]:
        """Models this endpoint offers: catalog records, merged with the live listing."""
        return served.chat_models(self._client)

    @classmethod
    def get_available_models(cls, **kwargs: Any) -> list[Model]:
        """Models usable with ChatNVIDIA, for the given (or default) settings."""
        return cls(**kwargs).available_models

    def with_thinking_mode(
        self, enabled: bool = True, **kwargs: Any
    ) -> Runnable[LanguageModelInput, BaseMessage]:
        """Switch the model's reasoning on or off, the way its catalog record says."""
        return self.bind(thinking_mode=enabled, **kwargs)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer tools to the model. ``tool_choice``: ``"auto"``, ``"none"``, ``"required"``
        (also ``"any"`` or ``True``), ``False`` (none), or a tool's name / OpenAI dict."""
        formatted = [convert_to_openai_tool(t, strict=strict) for t in tools]
        names = [t["function"]["name"] for t in formatted]
        choice: Any = tool_choice
        chosen: str | None = None
        if isinstance(tool_choice, bool):
            choice = "required" if tool_choice else "none"
        elif tool_choice == "any":
            choice = "required"
        elif isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "required"):
            chosen = tool_choice
            choice = {"type": "function", "function": {"name": tool_choice}}
        elif isinstance(tool_choice, dict):
            chosen = (tool_choice.get("function") or {}).get("name")
            if not chosen:
                raise InvalidInputError("tool_choice dict needs {'function': {'name': ...}}")
            choice = {"type": "function", **tool_choice}
        if chosen is not None and chosen not in names:
            raise InvalidInputError(
                f"tool_choice {chosen!r} is not one of the bound tools: {', '.join(names)}"
            )
        if self._record is not None and not self._record.supports_tools:
            from nvnb._notices import notify_once

            notify_once(
                f"tools:{self.model}",
                f"the catalog does not list tool calling for "
                f"{self.model!r}; the service may refuse the tools.",
            )
        return self.bind(tools=formatted, tool_choice=choice, **kwargs)

    def with_structured_output(  # type: ignore[override]
        self,
        schema: Any,
        *,
        method: structured.Method | None = None,
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Answers as ``schema``: a pydantic class, TypedDict, JSON schema dict or string Enum.

        One request per call; an answer that does not fit raises ``OutputParserException``
        (with ``include_raw=True`` it is returned under ``parsing_error`` instead).
        """
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        return structured.build(
            self,
            schema,
            method=method,
            include_raw=include_raw,
            strict=True if strict is None else strict,
            bind_tools=self.bind_tools,
        )

    # ---------------------------------------------------------------- requests

    def _defaults(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "seed": self.seed,
            "n": self.n,
            "stop": self.stop,
            **self.model_kwargs,
        }

    def _model_for(self, options: dict[str, Any]) -> tuple[str, Model | None]:
        """The model id and record for this call (``model=`` may override per call)."""
        override = options.pop("model", None)
        if override and override != self.model:
            return self._resolve(override)
        if not self._resolved:
            self._record = self._resolve(self.model or DEFAULT_MODEL)[1]
            self._resolved = True
        return self.model or DEFAULT_MODEL, self._record

    def _resolve(self, name: str) -> tuple[str, Model | None]:
        record = served.resolve_on_service(
            name,
            self_hosted=self._client.settings.is_self_hosted,
            list_models=self._client.list_models,
        )
        return (record.id if record is not None else name), record

    async def _alist_models(self, options: dict[str, Any]) -> None:
        """Fill the client's model-list cache without blocking the event loop, when resolving
        the model will need it (so the sync resolution that follows reads the cache)."""
        name = options.get("model") or self.model or DEFAULT_MODEL
        if self._resolved and name == self.model:
            return
        if served.judged_by_listing(name, self_hosted=self._client.settings.is_self_hosted):
            with contextlib.suppress(NVNBError):
                await self._client.aio.list_models()

    def _plan(
        self,
        messages: list[BaseMessage],
        stop: Sequence[str] | None,
        stream: bool,
        kwargs: dict[str, Any],
    ) -> tuple[payload.RequestPlan, str]:
        options = dict(kwargs)
        if stop is not None:
            options["stop"] = list(stop)
        model_id, record = self._model_for(options)
        upload = self.asset_upload == "always" or (
            self.asset_upload == "auto" and not self._client.settings.is_self_hosted
        )
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # label/context warnings show each time
            plan = payload.build_request(
                messages,
                model_id=model_id,
                model=record,
                defaults=self._defaults(),
                options=options,
                stream=stream,
                stream_options=self.stream_options,
                labels=self.labels,
                upload_images=upload,
                force_labels=self.force_labels,
            )
        if self._client.settings.mode == "self-hosted":
            modalities.refuse_images(
                plan.payload, model_id, self._listing, self._client.settings.base_url
            )
        return plan, model_id

    def _listing(self) -> list[dict[str, Any]]:
        """The server's model list (cached by the client), or nothing when it cannot say."""
        try:
            return self._client.list_models()
        except NVNBError:
            return []

    def _upload(self, plan: payload.RequestPlan) -> dict[str, Any]:
        ids = [self._client.upload_asset(u.data, u.mime, u.description) for u in plan.uploads]
        return plan.resolve(ids)

    async def _aupload(self, plan: payload.RequestPlan) -> dict[str, Any]:
        aio = self._client.aio
        ids = [await aio.upload_asset(u.data, u.mime, u.description) for u in plan.uploads]
        return plan.resolve(ids)

    def _streams(self, model_id: str | None) -> bool:
        record = self._record if model_id == self.model else catalog.find_model(model_id or "")
        return record is None or record.streaming

    def _result(self, data: Any, model_id: str) -> ChatResult:
        """One generation per choice (``n`` > 1 gives several, in ``index`` order)."""
        messages = response.parse_choices(
            data, model_id=model_id, request_id=getattr(data, "request_id", None)
        )
        llm_output = {
            "model_name": messages[0].response_metadata.get("model_name"),
            "token_usage": data.get("usage"),
        }
        generations = [
            ChatGeneration(
                message=m,
                generation_info={"finish_reason": m.response_metadata.get("finish_reason")},
            )
            for m in messages
        ]
        return ChatResult(generations=generations, llm_output=llm_output)

    def _streaming_disabled(self, **kwargs: Any) -> bool:
        # A LangChain stream carries one message: with n > 1, invoke/generate (even with
        # streaming=True) ask for the whole answer so every choice comes back. ChatOpenAI
        # refuses n > 1 with streaming=True instead; an explicit .stream() still streams.
        if (kwargs.get("n") or self.n or 1) > 1 and not kwargs.get("stream"):
            return True
        return super()._streaming_disabled(**kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        plan, model_id = self._plan(messages, stop, False, kwargs)
        data = self._client.chat(self._upload(plan))
        return self._result(data, model_id)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        await self._alist_models(kwargs)
        plan, model_id = self._plan(messages, stop, False, kwargs)
        data = await self._client.aio.chat(await self._aupload(plan))
        return self._result(data, model_id)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if not self._streams(kwargs.get("model") or self.model):
            # e.g. kosmos-2: the service refuses "stream", so the answer comes whole
            yield from whole_as_chunks(
                self._generate(messages, stop, run_manager, **kwargs), run_manager
            )
            return
        plan, model_id = self._plan(messages, stop, True, kwargs)
        stream = self._client.stream_chat(self._upload(plan))
        assembler = response.StreamAssembler(model_id=model_id, request_id=stream.request_id)
        with stream, keep_partial_text(assembler):
            for data in stream:
                message = assembler.feed(data)
                if message is not None:
                    chunk = ChatGenerationChunk(message=message)
                    if run_manager:
                        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk
            yield ChatGenerationChunk(message=assembler.finish())

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if not self._streams(kwargs.get("model") or self.model):
            result = await self._agenerate(messages, stop, run_manager, **kwargs)
            for chunk in whole_as_chunks(result, None):
                if run_manager:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
            return
        await self._alist_models(kwargs)
        plan, model_id = self._plan(messages, stop, True, kwargs)
        stream = await self._client.aio.stream_chat(await self._aupload(plan))
        assembler = response.StreamAssembler(model_id=model_id, request_id=stream.request_id)
        try:
            with keep_partial_text(assembler):
                async for data in stream:
                    message = assembler.feed(data)
                    if message is not None:
                        chunk = ChatGenerationChunk(message=message)
                        if run_manager:
                            await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                        yield chunk
                yield ChatGenerationChunk(message=assembler.finish())
        finally:
            await stream.aclose()
