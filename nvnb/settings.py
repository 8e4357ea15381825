"""Where requests go and how: the API key, base URLs, timeouts and retries.

Resolution (``resolve_settings``):

1. key: ``api_key=`` / ``nvidia_api_key=``, else ``NVIDIA_API_KEY``;
2. base URL: ``base_url=`` / ``NVIDIA_BASE_URL``; else, with a key, the hosted service;
   else the embedded default: nvnb's local server, started once per process (``NVNB_LOCAL=off``
   turns that into a clear "no key" error).

The key is a :class:`Secret`: no repr, str, log line or pickle ever shows it.
nvnb never prompts on its own; :func:`ask_for_key` does, when called.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import hmac
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from nvnb._hosted import HOSTED_HOSTS, is_hosted_url
from nvnb.errors import ConfigurationError

__all__ = [
    "HOSTED_BASE_URL",
    "HOSTED_HOSTS",
    "NVCF_BASE_URL",
    "KeyFormatWarning",
    "RetryPolicy",
    "Secret",
    "Settings",
    "Timeouts",
    "ask_for_key",
    "normalize_base_url",
    "resolve_settings",
    "set_api_key",
]

HOSTED_BASE_URL = "https://integrate.api.nvidia.com/v1"
NVCF_BASE_URL = "https://api.nvcf.nvidia.com/v2/nvcf"

KEY_ENV = "NVIDIA_API_KEY"
BASE_URL_ENV = "NVIDIA_BASE_URL"
LOCAL_ENV = "NVNB_LOCAL"
HOSTED_ORIGIN_ENV = "NVNB_HOSTED_ORIGIN"

# Paths that name an endpoint rather than a base (users paste these from curl examples).
_ENDPOINT_SUFFIXES = (
    "/chat/completions",
    "/completions",
    "/models",
    "/embeddings",
    "/ranking",
    "/reranking",
)
_VERSION_SEGMENT = re.compile(r"v\d+")

Mode = Literal["hosted", "self-hosted", "local"]


class KeyFormatWarning(UserWarning):
    """The API key does not look like an NVIDIA key (``nvapi-…``)."""


class Secret:
    """A string that never shows itself: repr, str, format and pickle all hide it.

    Pickling drops the value: an unpickled settings object uses the key of the process it is
    loaded in (``NVIDIA_API_KEY``), or none.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", value)

    def get_secret_value(self) -> str:
        """The key itself, for the ``Authorization`` header only."""
        return self._value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __format__(self, spec: str) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._value.encode()).digest())

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_secret_from_environment, ())

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


def _secret_from_environment() -> Secret | None:
    key = _clean_key(os.environ.get(KEY_ENV))
    return Secret(key) if key else None


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``read`` is the longest gap between bytes (between stream chunks);
    ``poll_deadline`` bounds the whole 202 polling, apart from HTTP timeouts."""

    connect: float = 10.0
    read: float = 120.0
    write: float = 30.0
    pool: float = 60.0
    poll_deadline: float = 300.0
    poll_interval: float = 0.05

    @classmethod
    def coerce(cls, value: Timeouts | float | None) -> Timeouts:
        """A float sets connect/read/write/pool; None gives the defaults."""
        if value is None:
            return cls()
        if isinstance(value, Timeouts):
            return value
        if isinstance(value, int | float) and value > 0:
            t = float(value)
            return cls(connect=t, read=t, write=t, pool=t)
        raise ConfigurationError(f"timeout must be a positive number or Timeouts, not {value!r}")


@dataclass(frozen=True)
class RetryPolicy:
    """Retries on 429/502/503/504 and connection errors: exponential backoff with jitter,
    honouring ``Retry-After``, at most ``max_retries`` retries within ``budget`` seconds."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    budget: float = 60.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Settings:
    """Everything a client needs to know about where and how to send requests."""

    api_key: Secret | None
    base_url: str
    mode: Mode
    nvcf_url: str
    hosted_origin: str | None = None
    verify_ssl: bool | str = True
    timeout: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    models_ttl: float = 300.0
    trust_env: bool = True
    max_connections: int = 100  # per pool (one pool per client, per event loop for async)

    @property
    def is_hosted(self) -> bool:
        return self.mode == "hosted"

    @property
    def is_self_hosted(self) -> bool:
        """A NIM of one's own: what it lists is what it serves, its model ids are its own (not
        judged against the catalog), and it takes no NVCF asset uploads."""
        return self.mode == "self-hosted"

    def rewrite_hosted(self, url: str) -> str:
        """Move a hosted URL (integrate/ai/nvcf hosts) onto ``hosted_origin`` when set."""
        if not self.hosted_origin:
            return url
        parts = urlsplit(url)
        if (parts.hostname or "") not in HOSTED_HOSTS:
            return url
        origin = urlsplit(self.hosted_origin)
        return urlunsplit((origin.scheme, origin.netloc, parts.path, parts.query, ""))

    def describe(self) -> str:
        """One plain line saying where requests go (never any part of the key)."""
        key = "key set" if self.api_key else "no key"
        if self.mode == "local":
            where = self.base_url or "a free loopback port"
            return f"nvnb's local server at {where} (no NVIDIA_API_KEY)"
        if self.mode == "hosted":
            if self.hosted_origin and not self.base_url.startswith(HOSTED_BASE_URL):
                return f"NVIDIA's hosted catalog, played by the server at {self.base_url} ({key})"
            return f"NVIDIA's hosted catalog at {self.base_url} ({key})"
        return f"a self-hosted NIM at {self.base_url} ({key})"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


# --- base URLs -----------------------------------------------------------------------------


def normalize_base_url(url: str) -> str:
    """``https://host[:port][/prefix]/v1`` from what a user typed, or a ConfigurationError that
    shows the corrected URL (query strings, fragments, credentials and endpoint paths are refused).
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError("base_url is empty; use e.g. 'http://localhost:8000/v1'")
    raw = url.strip()
    if "://" not in raw:
        fixed = _assemble(*_split_loose("http://" + raw)[:4])
        shown = _safe_display("http://" + raw)[len("http://") :]
        raise ConfigurationError(f"base_url {shown!r} has no scheme; use {fixed!r}")
    scheme, host, port, path, problems = _split_loose(raw)
    fixed = _assemble(scheme, host, port, path)
    if scheme not in ("http", "https"):
        fixed = _assemble("https", host, port, path)
        raise ConfigurationError(f"base_url must start with http:// or https://; use {fixed!r}")
    if not host:
        raise ConfigurationError(
            f"base_url {raw!r} has no host; use e.g. 'http://localhost:8000/v1'"
        )
    if problems:
        shown = _safe_display(raw)
        raise ConfigurationError(
            f"base_url {shown!r} must not contain {' or '.join(problems)}; use {fixed!r}"
        )
    stripped = path.rstrip("/")
    for suffix in _ENDPOINT_SUFFIXES:
        if stripped.lower().endswith(suffix):
            fixed = _assemble(scheme, host, port, stripped[: -len(suffix)])
            raise ConfigurationError(
                f"base_url {raw!r} names an endpoint ({suffix}); give the base instead: {fixed!r}"
            )
    return fixed


def _split_loose(url: str) -> tuple[str, str, int | None, str, list[str]]:
    parts = urlsplit(url)
    problems = []
    if parts.username is not None or parts.password is not None:
        problems.append("credentials")
    if parts.query:
        problems.append("a query string")
    if parts.fragment or url.endswith("#"):
        problems.append("a fragment")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"base_url has an invalid port: {exc}") from None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path, problems


def _assemble(scheme: str, host: str, port: int | None, path: str) -> str:
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    segments = [s for s in path.split("/") if s]
    if not segments or not _VERSION_SEGMENT.fullmatch(segments[-1]):
        segments.append("v1")
    return f"{scheme}://{netloc}/" + "/".join(segments)


def _safe_display(url: str) -> str:
    """The URL as typed, with any credentials masked."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = "***@" + parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _normalize_origin(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"hosted_origin must look like 'http://127.0.0.1:8000', not {url!r}"
        )
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def mode_for(base_url: str) -> Mode:
    """Hosted when the host is one of NVIDIA's, else self-hosted."""
    return "hosted" if is_hosted_url(base_url) else "self-hosted"


# --- keys ----------------------------------------------------------------------------------


def _clean_key(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "get_secret_value"):  # our Secret, pydantic's SecretStr
        value = value.get_secret_value()
    if not isinstance(value, str):
        raise ConfigurationError("api_key must be a string")
    value = value.strip()  # keys pasted with a newline or spaces
    return value or None


_warned_keys: set[bytes] = set()


def _check_key_format(key: str) -> None:
    """Warn (once per key) when a key for the hosted service does not start with ``nvapi-``."""
    if key.startswith("nvapi-"):
        return
    digest = hashlib.sha256(key.encode()).digest()
    if digest in _warned_keys:
        return
    _warned_keys.add(digest)
    shown = key[: min(5, len(key) // 3)]
    warnings.warn(
        f"the API key does not look like an NVIDIA key: keys start with 'nvapi-', this one "
        f"starts with {shown + '…'!r}. Get a key at build.nvidia.com.",
        KeyFormatWarning,
        stacklevel=_caller_stacklevel(),
    )


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside nvnb, so a warning points at the user's line."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def set_api_key(key: str) -> None:
    """Use ``key`` for new requests of this process (and of clients on the default settings)."""
    cleaned = _clean_key(key)
    if not cleaned:
        raise ConfigurationError("the API key is empty")
    if mode_for(_env_base_url() or HOSTED_BASE_URL) == "hosted":
        _check_key_format(cleaned)
    os.environ[KEY_ENV] = cleaned


def _env_base_url() -> str | None:
    value = os.environ.get(BASE_URL_ENV, "").strip()
    return value or None


def ask_for_key(prompt: str = "NVIDIA API key (nvapi-…): ") -> None:
    """Ask for the key with getpass and use it for new requests in this process.

    Clients created without a key or base URL move from the local server to the hosted service.
    """
    key = getpass.getpass(prompt)
    if not key or not key.strip():
        raise ConfigurationError("no key entered; nothing changed")
    set_api_key(key)


# --- resolution ----------------------------------------------------------------------------


def resolve_settings(
    api_key: str | Secret | None = None,
    base_url: str | None = None,
    *,
    nvidia_api_key: str | Secret | None = None,
    verify_ssl: bool | str | None = None,
    timeout: Timeouts | float | None = None,
    max_retries: int | None = None,
    retry: RetryPolicy | None = None,
    hosted_origin: str | None = None,
    nvcf_url: str | None = None,
    models_ttl: float | None = None,
    start_local: bool = True,
) -> Settings:
    """Settings from arguments, then the environment, then the embedded default.

    ``start_local=False`` reports the local mode without starting the server (base URL empty).
    """
    key = _clean_key(api_key) or _clean_key(nvidia_api_key) or _clean_key(os.environ.get(KEY_ENV))
    origin_override = hosted_origin or os.environ.get(HOSTED_ORIGIN_ENV, "").strip() or None
    origin_override = _normalize_origin(origin_override) if origin_override else None

    given_base = base_url if base_url is not None else _env_base_url()
    mode: Mode
    if given_base is not None:
        base = normalize_base_url(given_base)
        mode = mode_for(base)
    elif key:
        base, mode = HOSTED_BASE_URL, "hosted"
    elif os.environ.get(LOCAL_ENV, "").strip().lower() in ("off", "0", "false", "no"):
        raise ConfigurationError(
            "no API key: set NVIDIA_API_KEY (get one at build.nvidia.com), call "
            "nvnb.settings.ask_for_key(), or give base_url= for a self-hosted NIM",
            hint="NVNB_LOCAL=off turned off nvnb's local server, the default without a key",
        )
    else:
        base, mode = "", "local"
        if start_local:
            origin = _start_embedded_server()
            base = origin + "/v1"
            origin_override = origin_override or origin

    if key and mode == "hosted":
        _check_key_format(key)

    if mode == "hosted" and origin_override:
        base = _rewrite_onto(base, origin_override)
    if nvcf_url:
        nvcf = nvcf_url.rstrip("/")
    elif origin_override:
        nvcf = origin_override + "/v2/nvcf"
    elif mode == "hosted":
        nvcf = NVCF_BASE_URL
    else:  # a self-hosted proxy keeps its prefix: https://proxy/nim/v1 → https://proxy/nim/v2/nvcf
        nvcf = base[: -len("/v1")] + "/v2/nvcf" if base.endswith("/v1") else _origin_of(base)

    policy = retry or RetryPolicy()
    if max_retries is not None:
        if max_retries < 0:
            raise ConfigurationError("max_retries must be 0 or more")
        policy = dataclasses.replace(policy, max_retries=int(max_retries))
    verify = True if verify_ssl is None else verify_ssl
    if not isinstance(verify, bool | str):
        raise ConfigurationError("verify_ssl must be True, False or a CA bundle path")
    if isinstance(verify, str) and not os.path.exists(verify):
        raise ConfigurationError(f"verify_ssl: no CA bundle at {verify!r}")
    return Settings(
        api_key=Secret(key) if key else None,
        base_url=base,
        mode=mode,
        nvcf_url=nvcf,
        hosted_origin=origin_override,
        verify_ssl=verify,
        timeout=Timeouts.coerce(timeout),
        retry=policy,
        models_ttl=300.0 if models_ttl is None else float(models_ttl),
    )


def _rewrite_onto(url: str, origin: str) -> str:
    parts = urlsplit(url)
    new = urlsplit(origin)
    return urlunsplit((new.scheme, new.netloc, parts.path, "", ""))


def _start_embedded_server() -> str:
    from nvnb.server import embedded_url

    origin = embedded_url().rstrip("/")
    _notify_once(
        "nvnb.embedded-server",
        f"No NVIDIA_API_KEY: answers come from nvnb's local server at {origin}, not from "
        "NVIDIA's models. Set NVIDIA_API_KEY or call nvnb.settings.ask_for_key() to use them.",
    )
    return origin


def _notify_once(key: str, text: str) -> None:
    from nvnb._notices import notify_once

    notify_once(key, text)
