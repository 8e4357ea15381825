"""What a client does that is not I/O, shared by ``Client`` and ``AsyncClient`` (and by a Client
and its ``.aio``): settings that follow the process key, endpoint routing, request building
(headers, ``payload_fn``, the asset reference header), answers into ``ChatResponse`` (errors come
from ``nvnb.client._boundary``), and the ``list_models`` cache."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from nvnb import catalog
from nvnb._retired import current_alternatives
from nvnb.client._boundary import (
    error_for_response,
    malformed_answer,
    queued_stream,
    request_id_from,
    without_key,
)
from nvnb.client._exchange import USER_AGENT, ChatResponse, Request, httpx_timeout
from nvnb.errors import (
    APIError,
    ConfigurationError,
    InvalidInputError,
    ModelRetiredError,
    NVNBError,
)
from nvnb.settings import KEY_ENV, RetryPolicy, Secret, Settings, Timeouts, resolve_settings

# The client's logger: where requests go is part of the client's story in a debug log.
log = logging.getLogger("nvnb.client")

PayloadFn = Callable[[dict[str, Any]], dict[str, Any]]
# Client(...) arguments that become Settings fields (the rest are the key, the URL and the core's)
_SETTING_OPTIONS = ("timeout", "max_retries", "retry", "verify_ssl", "hosted_origin")
_ASSET_REF = re.compile(r"data:image/[\w.+-]+;asset_id,([\w-]+)")


class ClientCore:
    """Everything a client does that is not I/O; shared by a Client and its ``.aio``."""

    def __init__(self, arguments: Mapping[str, Any]) -> None:
        """``arguments``: the keyword arguments of ``Client(...)``, documented there."""
        settings: Settings | None = arguments.get("settings")
        api_key, nvidia_api_key = arguments.get("api_key"), arguments.get("nvidia_api_key")
        options = {name: arguments.get(name) for name in _SETTING_OPTIONS}
        if settings is not None:
            overrides = {k: v for k, v in options.items() if v is not None}
            settings = _apply(settings, overrides)
            self._follow_env = False
        else:
            key_given = api_key is not None or nvidia_api_key is not None
            # A client on the default settings follows the process key (ask_for_key, %nvchat key).
            self._follow_env = not key_given
            self._resolve_args: dict[str, Any] = dict(
                api_key=_secret(api_key),
                base_url=arguments.get("base_url"),
                nvidia_api_key=_secret(nvidia_api_key),
                **options,
            )
            self._key_seen = _key_fingerprint(_env_key())
            settings = resolve_settings(**self._resolve_args)
        self._pool_size = _pool_size(arguments.get("max_connections"))
        self._settings = self._sized(settings)
        self.payload_fn: PayloadFn | None = arguments.get("payload_fn")
        self.default_headers = dict(arguments.get("default_headers") or {})
        self.shared_pool = bool(arguments.get("shared_pool"))
        self._lock = threading.RLock()
        self._models: tuple[str, float, list[dict[str, Any]]] | None = None

    # settings --------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """Current settings; re-resolved when the process key changed (default clients only)."""
        if self._follow_env:
            seen = _key_fingerprint(_env_key())
            if seen != self._key_seen:
                with self._lock:
                    if seen != self._key_seen:
                        self._settings = self._sized(resolve_settings(**self._resolve_args))
                        self._key_seen = seen
                        log.debug(
                            "the API key changed: requests now go to %s", self._settings.base_url
                        )
        return self._settings

    def _sized(self, settings: Settings) -> Settings:
        if self._pool_size is None:
            return settings
        return settings.replace(max_connections=self._pool_size)

    def endpoint_for(self, model: str | None) -> str:
        """Chat-completions URL for ``model``: the catalog's endpoint on the hosted service
        (moved onto ``hosted_origin`` when set), else ``{base}/chat/completions``."""
        s = self.settings
        if model and (s.mode == "hosted" or s.hosted_origin):
            record = catalog.find_model(model)
            if record is not None and record.endpoint:
                return s.rewrite_hosted(record.endpoint)
        return f"{s.base_url}/chat/completions"

    def url_for(self, url_or_path: str) -> str:
        """An absolute URL as given (hosted ones moved onto ``hosted_origin``), or a path
        joined to the base URL: ``"embeddings"`` → ``{base}/embeddings``."""
        if "://" in url_or_path:
            return self.settings.rewrite_hosted(url_or_path)
        return f"{self.settings.base_url}/{url_or_path.lstrip('/')}"

    def nvcf_url(self, function_id: str) -> str:
        if not function_id or "/" in function_id:
            raise InvalidInputError(f"not an NVCF function id: {function_id!r}")
        return f"{self.settings.nvcf_url}/pexec/functions/{function_id}"

    # requests --------------------------------------------------------------------------

    def headers(
        self,
        settings: Settings,
        *,
        accept: str,
        json_body: bool,
        extra: Mapping[str, str] | None,
    ) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        if json_body:
            headers["Content-Type"] = "application/json"
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        headers.update(self.default_headers)
        if extra:
            headers.update(extra)
        return headers

    def apply_payload_fn(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(payload, Mapping):
            raise InvalidInputError(f"the payload must be a dict, not {type(payload).__name__}")
        body = dict(payload)  # payload_fn may mutate its argument; the caller's stays intact
        fn = self.payload_fn
        if fn is not None:
            result = fn(body)
            body = body if result is None else result
            if not isinstance(body, Mapping):
                raise InvalidInputError("payload_fn must return a dict")
        return dict(body)

    def chat_request(
        self,
        payload: Mapping[str, Any],
        *,
        url: str | None = None,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Request:
        """A POST of a chat body (after ``payload_fn``) to ``url`` or the model's endpoint.
        ``stream`` sets ``"stream": true`` before ``payload_fn`` runs (which may drop it)."""
        settings = self.settings
        if stream and isinstance(payload, Mapping):
            payload = {**payload, "stream": True}
        body = self.apply_payload_fn(payload)
        model = body.get("model") if isinstance(body.get("model"), str) else None
        content = _dumps(body)
        hdrs = self.headers(
            settings,
            accept="text/event-stream" if stream else "application/json",
            json_body=True,
            extra=None,
        )
        refs = _asset_references(content)
        if refs:
            hdrs["NVCF-INPUT-ASSET-REFERENCES"] = ",".join(refs)
        if headers:
            hdrs.update(headers)
        target = url or self.endpoint_for(model)
        return Request("POST", target, hdrs, content, model, httpx_timeout(settings.timeout))

    def nvcf_request(
        self, function_id: str, payload: Mapping[str, Any], headers: Mapping[str, str] | None
    ) -> Request:
        """A chat body to an NVCF function (``pexec/functions/{id}``)."""
        return self.chat_request(payload, url=self.nvcf_url(function_id), headers=headers)

    def post_request(
        self, url_or_path: str, payload: Mapping[str, Any], headers: Mapping[str, str] | None
    ) -> Request:
        """Any JSON body, sent like a chat body, to a URL or a path under the base URL."""
        return self.chat_request(payload, url=self.url_for(url_or_path), headers=headers)

    def models_request(self) -> Request:
        return self.get_request(f"{self.settings.base_url}/models")

    def get_request(self, url: str, headers: Mapping[str, str] | None = None) -> Request:
        settings = self.settings
        return Request(
            "GET",
            url,
            self.headers(settings, accept="application/json", json_body=False, extra=headers),
            timeout=httpx_timeout(settings.timeout),
        )

    def poll_request(self, reqid: str, original: Request, remaining: float) -> Request:
        """The status poll, with the original request's authorisation and extra headers."""
        settings = self.settings
        headers = {
            k: v
            for k, v in original.headers.items()
            if k.lower() not in ("content-type", "nvcf-input-asset-references")
        }
        headers["Accept"] = "application/json"
        url = f"{settings.nvcf_url}/pexec/status/{reqid}"
        read = max(0.001, min(settings.timeout.read, remaining))
        timeout = httpx_timeout(settings.timeout, read=read)
        return Request("GET", url, headers, None, original.model, timeout)

    def asset_create_request(self, mime: str, description: str) -> Request:
        if not isinstance(mime, str) or "/" not in mime:
            raise InvalidInputError(f"not a MIME type: {mime!r}")
        settings = self.settings
        content = _dumps({"contentType": mime, "description": description})
        headers = self.headers(settings, accept="application/json", json_body=True, extra=None)
        return Request(
            "POST",
            f"{settings.nvcf_url}/assets",
            headers,
            content,
            timeout=httpx_timeout(settings.timeout),
        )

    def asset_put_request(
        self, created: Mapping[str, Any], data: bytes, mime: str, description: str
    ) -> tuple[str, Request]:
        """The presigned upload: no Authorization of ours goes to the storage host."""
        asset_id, upload_url = created.get("assetId"), created.get("uploadUrl")
        if not isinstance(asset_id, str) or not isinstance(upload_url, str):
            raise APIError(
                "the assets service answered without assetId/uploadUrl",
                status=200,
                title="Unexpected answer",
            )
        headers = {
            "Content-Type": mime,
            "x-amz-meta-nvcf-asset-description": description,
            "User-Agent": USER_AGENT,
        }
        url = self.settings.rewrite_hosted(upload_url)
        return asset_id, Request(
            "PUT", url, headers, bytes(data), timeout=httpx_timeout(self.settings.timeout)
        )

    # answers ---------------------------------------------------------------------------

    def error_for(self, resp: httpx.Response, body: bytes, req: Request) -> NVNBError:
        """The typed error for an error response (``nvnb.client._boundary``), key masked; a
        retired model's error names current models to use instead."""
        err = error_for_response(resp, body, req)
        if isinstance(err, ModelRetiredError):
            err.suggest(current_alternatives(req.model))
        return self.scrub(err)

    def scrub(self, err: NVNBError) -> NVNBError:
        """Belt and braces: a server that echoes the key back does not get it into an error."""
        return without_key(err, self._settings.api_key)

    def json_response(
        self, resp: httpx.Response, body: bytes, req: Request, request_id: str | None = None
    ) -> ChatResponse:
        if resp.status_code >= 400:
            raise self.error_for(resp, body, req)
        try:
            data = json.loads(body)
        except ValueError:
            raise self.scrub(malformed_answer(resp, body, req)) from None
        rid = request_id_from(resp.headers, data) or request_id
        if not isinstance(data, dict):
            data = {"data": data}
        return ChatResponse(data, request_id=rid, headers=resp.headers, status=resp.status_code)

    def stream_refused(self, resp: httpx.Response, body: bytes, req: Request) -> NVNBError:
        """Why a stream could not start (an error status, or 202 which streams never poll)."""
        if resp.status_code == 202:
            return queued_stream(resp, req)
        return self.error_for(resp, body, req)

    # the list_models cache ---------------------------------------------------------------

    def cached_models(self) -> list[dict[str, Any]] | None:
        cached = self._models
        s = self.settings
        if cached and cached[0] == s.base_url and time.monotonic() - cached[1] < s.models_ttl:
            return cached[2]
        return None

    def store_models(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        items = data.get("data", [])
        models = [m for m in items if isinstance(m, dict)] if isinstance(items, list) else []
        self._models = (self.settings.base_url, time.monotonic(), models)
        return models

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        state["_models"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()


def _apply(settings: Settings, overrides: dict[str, Any]) -> Settings:
    changes: dict[str, Any] = {}
    if "timeout" in overrides:
        changes["timeout"] = Timeouts.coerce(overrides["timeout"])
    if "retry" in overrides:
        changes["retry"] = overrides["retry"]
    if "max_retries" in overrides:
        base = changes.get("retry", settings.retry)
        changes["retry"] = RetryPolicy(**{**base.__dict__, "max_retries": overrides["max_retries"]})
    if "verify_ssl" in overrides:
        changes["verify_ssl"] = overrides["verify_ssl"]
    if "hosted_origin" in overrides:
        changes["hosted_origin"] = overrides["hosted_origin"].rstrip("/")
    return settings.replace(**changes) if changes else settings


def _pool_size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"max_connections must be a positive whole number, not {value!r}")
    return value


def _secret(value: Any) -> Secret | None:
    """Keys are held as Secret from the first moment (no raw key in vars() or pickles)."""
    if value is None or isinstance(value, Secret):
        return value
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return Secret(value) if isinstance(value, str) else value


def _env_key() -> str | None:
    value = os.environ.get(KEY_ENV, "").strip()
    return value or None


def _key_fingerprint(key: str | None) -> bytes | None:
    return hashlib.sha256(key.encode()).digest() if key else None


def _dumps(body: Any) -> bytes:
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"the payload cannot be sent as JSON: {exc}") from None


def _asset_references(content: bytes) -> list[str]:
    if b";asset_id," not in content:
        return []
    found = _ASSET_REF.findall(content.decode("utf-8", "replace"))
    return list(dict.fromkeys(found))
