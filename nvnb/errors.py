"""Every error nvnb raises, in one hierarchy.

::

    NVNBError                    base: .status .title .detail .request_id .model .hint .url
      ConfigurationError         bad base URL, no key with NVNB_LOCAL=off, malformed settings
      InvalidInputError          refused before sending: labels, roles, empty prompt (ValueError)
        ImageError               not an image, truncated, a bomb, too large, unreadable path
      UnknownModelError          a model name nobody knows; .suggestions (also ValueError)
      APIError                   the service answered with an error status
        AuthenticationError      401/403: missing, wrong or unauthorised key
        NotFoundError            404: unknown model or path
        ModelRetiredError        410: the model reached its end of life; .suggestions, .end_of_life
        InvalidRequestError      400/413/422: the service rejected the body; .detail names the field
        RateLimitError           429: too many requests; .retry_after
        ServerError              5xx: the service failed
        StreamError              an ``{"error": …}`` object inside a stream; .partial_text
      TransportError             the conversation with the server broke down
        ConnectError             could not connect; names the URL
        RequestTimeout           connect/read timeout, 202 polling deadline; .partial_text
        StreamInterrupted        the stream broke off or turned to garbage; .partial_text

``str(error)`` is one readable line (with the request id when known), then a hint line.
No error ever carries the API key: HTTP errors are built from response bodies and the URL only.

This module is only the hierarchy. Where httpx exceptions, HTTP statuses and in-stream error
objects become these classes is one boundary: :mod:`nvnb.client._boundary`.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectError",
    "ImageError",
    "InvalidInputError",
    "InvalidRequestError",
    "ModelRetiredError",
    "NVNBError",
    "NotFoundError",
    "RateLimitError",
    "RequestTimeout",
    "ServerError",
    "StreamError",
    "StreamInterrupted",
    "TransportError",
    "UnknownModelError",
]


class NVNBError(Exception):
    """Base class of every nvnb error."""

    default_hint: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        detail: str | None = None,
        request_id: str | None = None,
        model: str | None = None,
        hint: str | None = None,
        url: str | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail if detail is not None else message
        self.request_id = request_id
        self.model = model
        self.hint = hint if hint is not None else self.default_hint
        self.url = url
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The first line: status and title when known, then the detail."""
        head = " ".join(str(p) for p in (self.status, self.title) if p not in (None, ""))
        detail = self.detail or ""
        if head and detail and detail != self.title:
            line = f"{head}: {detail}"
        else:
            line = head or detail or type(self).__name__
        extras = []
        if self.model and repr(self.model) not in detail:
            extras.append(f"model {self.model}")
        if self.request_id:
            extras.append(f"request id: {self.request_id}")
        if extras:
            line += f" ({', '.join(extras)})"
        return line

    def __str__(self) -> str:
        return self.message + (f"\nHint: {self.hint}" if self.hint else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the attributes (Exception's default reduce would pass only args).
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[NVNBError], state: dict[str, Any]) -> NVNBError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err.message)
    return err


# --- configuration and input ---------------------------------------------------------------


class ConfigurationError(NVNBError):
    """The settings cannot work: a bad base URL, no key where one is required, a bad option."""


class InvalidInputError(NVNBError, ValueError):
    """The input was rejected before anything was sent (labels, roles, an empty prompt…)."""


class ImageError(InvalidInputError):
    """An image could not be used: not an image, truncated, a decompression bomb, too large."""


class UnknownModelError(NVNBError, ValueError):
    """No model by that name; ``.suggestions`` lists the closest known ids.

    ``UnknownModelError("llama-3", suggestions=[...])`` reads "unknown model 'llama-3'; did you
    mean: a, b?"; a first argument with spaces is taken as the whole message."""

    default_hint = "`nvnb models` lists the known ids; nvnb.register_model(...) adds your own"

    def __init__(
        self, name: str | None = None, *, suggestions: list[str] | None = None, **fields: Any
    ) -> None:
        self.suggestions = list(suggestions or [])
        message = name
        if name is not None and name.strip() and not any(c.isspace() for c in name.strip()):
            message = f"unknown model {name.strip()!r}"
            fields.setdefault("model", name.strip())
        if self.suggestions and message is not None:
            message += f"; did you mean: {', '.join(self.suggestions)}?"
        super().__init__(message, **fields)


# --- HTTP status errors --------------------------------------------------------------------


class APIError(NVNBError):
    """The service answered with an error status."""


class AuthenticationError(APIError):
    """401/403: the API key is missing, wrong, or not allowed to use this model."""

    default_hint = (
        "check NVIDIA_API_KEY (keys start with 'nvapi-'; get one at build.nvidia.com), "
        "or call nvnb.settings.ask_for_key()"
    )


class NotFoundError(APIError):
    """404: the model or path does not exist on this server."""

    default_hint = "check the model name (nvnb models lists them) and the base URL"


class ModelRetiredError(APIError):
    """410: the service retired the model (it may still list it); ``.end_of_life`` is the date
    it gave, ``.suggestions`` current catalog models of the same type (see ``nvnb._retired``)."""

    default_hint = "this model was retired by the service; `nvnb models` lists current ones"

    def __init__(self, message: str | None = None, **fields: Any) -> None:
        self.suggestions: list[str] = []
        super().__init__(message, **fields)
        if not re.search(r"end of life|retired", self.detail or "", re.I):
            name = f"model {self.model!r}" if self.model else "model"
            self.detail = f"the {name} was retired" + (f": {self.detail}" if self.detail else "")
        found = re.search(r"end of life on (\S+?)(?:\s|$)", self.detail or "")
        self.end_of_life: str | None = found.group(1) if found else None
        Exception.__init__(self, self.message)

    def suggest(self, model_ids: list[str]) -> ModelRetiredError:
        """Name current models to use instead (in the hint); returns ``self``."""
        self.suggestions = list(model_ids)
        if self.suggestions:
            self.hint = (
                f"this model was retired by the service; current ones of the same kind: "
                f"{', '.join(self.suggestions)} (`nvnb models` lists them all)"
            )
        return self


class InvalidRequestError(APIError):
    """400/413/422: the service rejected the request body; ``.detail`` says which field."""

    default_hint = "the service rejected a field of the request; see the detail"


class RateLimitError(APIError):
    """429: too many requests; ``.retry_after`` is the wait the service asked for, in seconds."""

    default_hint = "free accounts allow about 40 requests per minute; wait a little and retry"

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **fields: Any
    ) -> None:
        self.retry_after = retry_after
        if "hint" not in fields and retry_after is not None:
            fields["hint"] = f"the service asked to wait {retry_after:g} s before retrying"
        super().__init__(message, **fields)


class ServerError(APIError):
    """5xx: the service failed; retrying later usually helps."""

    default_hint = "the service had a problem; try again in a moment"


class _KeepsPartialText:
    """Mixin for errors raised after output began: ``.partial_text`` is what had arrived and
    ``.chunks_received`` how many chunks carried it."""

    def __init__(
        self,
        message: str | None = None,
        *,
        partial_text: str = "",
        chunks_received: int = 0,
        **fields: Any,
    ) -> None:
        self.partial_text = partial_text
        self.chunks_received = chunks_received
        super().__init__(message, **fields)  # type: ignore[call-arg]


class StreamError(_KeepsPartialText, APIError):
    """An ``{"error": …}`` object arrived inside a stream; ``.partial_text`` is what came before."""

    default_hint = "the model failed mid-answer; the text received so far is in .partial_text"


# --- transport -----------------------------------------------------------------------------


class TransportError(NVNBError):
    """The conversation with the server broke down (no usable HTTP answer)."""


class ConnectError(TransportError):
    """Could not connect to the server (refused, DNS, TLS, proxy); ``.url`` says where."""

    default_hint = "is the server running and the base URL right? proxies come from HTTPS_PROXY"


class RequestTimeout(_KeepsPartialText, TransportError):
    """Connecting or reading took too long, or 202 polling passed its deadline; a stream that
    stalled keeps what had arrived in ``.partial_text``."""

    default_hint = "raise the timeout (Client(timeout=...)) or try again"


class StreamInterrupted(_KeepsPartialText, TransportError):
    """The stream broke off or turned malformed; ``.partial_text`` is what had arrived."""

    default_hint = "the text received so far is in .partial_text"
