"""nvnb's HTTP client: ``Client`` and ``AsyncClient`` on pooled httpx, and what they are made of.

One concept per module, imported in this order (no module imports one below it)::

    _exchange    Request, ChatResponse, Retry-After: one HTTP exchange as both clients see it
    _boundary    the one place httpx exceptions, HTTP statuses and in-stream error objects
                 become nvnb.errors
    _retry       when to send again: retries (backoff, Retry-After, budget), NVCF 202 polling
    sse          the WHATWG event-stream parser and the chat chunk decoder above it
    _urllib3     the sync transport: httpx over urllib3's pool (urllib3 errors as httpx's)
    _transport   make_transport(): the transport under every pool (the hook for wrappers);
                 async pools are httpx over aiohttp (httpx-aiohttp)
    _pools       pools over that transport, process-wide shared pools, pool_stats
    _core        ClientCore: settings, request building, answers (everything but I/O)
    _streams     ChatStream / AsyncChatStream, given their client's send and read functions
    _clients     Client / AsyncClient: one constructor, then only send, sleep and read
"""

from nvnb.client._clients import AsyncClient, Client
from nvnb.client._exchange import USER_AGENT, ChatResponse, parse_retry_after
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
