"""What ``%nvchat config`` lists: the session's settings and where requests go, key masked."""

from __future__ import annotations

from typing import Any


def _mask(secret: Any) -> str:
    if not secret:
        return "not set"
    value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
    return "set (nvapi-****)" if value.startswith("nvapi-") else "set (****)"


def config_rows(session: Any) -> list[tuple[str, str]]:
    rows = [
        ("model", session.model),
        ("labels", ", ".join(f"{k}={v}" for k, v in session.labels.items()) or "none"),
        ("temperature", _or_default(session.temperature)),
        ("max_tokens", _or_default(session.max_tokens)),
        ("top_p", _or_default(session.top_p)),
        ("seed", _or_default(session.seed)),
        ("system prompt", session.system_prompt or "none"),
        ("conversation", f"{len(session.history)} messages"),
    ]
    try:
        from nvnb.settings import resolve_settings

        settings = resolve_settings(start_local=False)
    except Exception as exc:
        return [*rows, ("settings", f"not usable: {str(exc).splitlines()[0]}")]
    return [
        *rows,
        ("requests go to", where(settings)),
        ("mode", settings.mode),
        ("base_url", settings.base_url or "chosen when the local server starts"),
        ("api key", _mask(settings.api_key)),
        ("retries", str(settings.retry.max_retries)),
    ]


def where(settings: Any) -> str:
    """Where requests go, in words (``Settings.describe``), never any part of the key."""
    describe = getattr(settings, "describe", None)
    return describe() if describe is not None else settings.base_url or "nvnb's local server"


def _or_default(value: Any) -> str:
    return "model default" if value is None else str(value)
