"""Temporary shim, removed at merge: the names the untouched call modules import, from media.providers."""

from media.providers.pool import shared_http_client
from media.providers.warm import realtime_greeting, warm_up

__all__ = ["realtime_greeting", "shared_http_client", "warm_up"]
