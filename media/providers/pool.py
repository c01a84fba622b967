"""One kept-alive HTTP client per event loop, shared by every call in the process.

OpenAI-compatible LLM services (``media.providers.openai``/``mistral``) and the greeting's ElevenLabs
HTTP synthesis use it, so calls reuse open connections instead of paying TCP+TLS on their first request.
The pool is keyed by loop only: httpx pools per origin, and the API key travels on each request, so one
kept-alive connection serves every org's key.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openai import DefaultAsyncHttpxClient

LLM_KEEPALIVE_EXPIRY_SECONDS = 180.0  # as long as a prepared call may take to be answered

_POOLS: dict[asyncio.AbstractEventLoop, DefaultAsyncHttpxClient] = {}


def shared_http_client() -> DefaultAsyncHttpxClient | None:
    """The running loop's shared keep-alive HTTP client (None outside a loop): OpenAI-compatible LLM APIs
    and the greeting's ElevenLabs HTTP synthesis, so calls reuse open connections."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    client = _POOLS.get(loop)
    if client is None:
        for old in [lp for lp in _POOLS if lp.is_closed()]:  # tests run many loops in one process
            _POOLS.pop(old, None)
        from openai import DefaultAsyncHttpxClient
        from pipecat.utils.http import connection_limits

        client = DefaultAsyncHttpxClient(limits=connection_limits(
            max_keepalive_connections=200, max_connections=1000, keepalive_expiry=LLM_KEEPALIVE_EXPIRY_SECONDS))
        _POOLS[loop] = client
    return client
