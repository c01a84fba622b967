"""The process's pooled HTTP session (webhooks, tool calls, media control), built on first use."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests


@lru_cache(maxsize=1)
def session() -> requests.Session:
    """One ``requests.Session`` per process, with room for many concurrent calls."""
    import requests
    from requests.adapters import HTTPAdapter

    http = requests.Session()
    # The media service calls tool webhooks from many calls at once (threads): keep more sockets.
    adapter = HTTPAdapter(pool_connections=16, pool_maxsize=64)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http
