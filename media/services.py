"""Temporary shim, removed at merge: the names the untouched call modules import, from media.providers."""

from media.providers.base import SAMPLE_RATE
from media.providers.factory import build_services
from media.providers.keys import provider_key as cached_provider_key
from media.providers.keys import resolve_keys

__all__ = ["SAMPLE_RATE", "build_services", "cached_provider_key", "resolve_keys"]
