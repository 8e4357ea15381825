"""The HTTP client package: ``Client`` and ``AsyncClient`` and what they are built from."""

from nvnb.client._clients import AsyncClient, Client
from nvnb.client._exchange import USER_AGENT, ChatResponse
from nvnb.client._retry import parse_retry_after
from nvnb.client._streams import AsyncChatStream, ChatStream

__all__ = [
    "USER_AGENT",
    "AsyncChatStream",
    "AsyncClient",
    "ChatResponse",
    "ChatStream",
    "Client",
    "parse_retry_after",
]
