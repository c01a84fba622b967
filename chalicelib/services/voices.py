"""GET /voices: the org's ElevenLabs voices (its BYOK key or the platform key) plus xAI's realtime voices.

The ElevenLabs list is cached per org for 10 minutes and tied to the key it was fetched with (by its
SHA-256): when ``byok.provider_key`` returns another key, the list is fetched again.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from chalicelib import errors
from chalicelib.integrations import elevenlabs_voices
from chalicelib.paging import MAX_LIMIT, Page, slice_list
from chalicelib.security import sha256_hex
from chalicelib.services.byok import provider_key

CACHE_SECONDS = 600.0
# org id -> (expiry, SHA-256 of the key the list was fetched with, voices)
_cache: dict[str, tuple[float, str, list[dict[str, Any]]]] = {}
_lock = threading.Lock()

XAI_VOICES: list[dict[str, Any]] = [
    {"id": "ara", "name": "Ara", "style": "Warm, friendly (female)"},
    {"id": "rex", "name": "Rex", "style": "Confident, clear (male)"},
    {"id": "sal", "name": "Sal", "style": "Smooth, balanced (neutral)"},
    {"id": "eve", "name": "Eve", "style": "Energetic, upbeat (female)"},
    {"id": "leo", "name": "Leo", "style": "Authoritative, strong (male)"},
]


def _clock() -> float:
    """Monotonic seconds (tests replace it to move past the TTL without sleeping)."""
    return time.monotonic()


def xai_voices() -> list[dict[str, Any]]:
    """The five xAI realtime voices in the Voice shape."""
    return [{"id": v["id"], "name": v["name"], "provider": "xai", "language": "multilingual",
             "description": {"en": v["style"]}, "preview_url": None, "style": v["style"]} for v in XAI_VOICES]


def list_voices(org_id: str, page: Page | None = None) -> dict[str, Any]:
    """``{"voices": [...], "next_cursor"}`` (one page), plus ``warnings`` when the ElevenLabs voices
    could not be listed."""
    warnings: list[str] = []
    eleven: list[dict[str, Any]] = []
    key, _ = provider_key(org_id, "elevenlabs")
    if not key:
        warnings.append("No ElevenLabs API key is configured (neither BYOK nor platform): only the xAI "
                        "realtime voices are listed. Add one with POST /byok (provider 'elevenlabs').")
    else:
        fingerprint = sha256_hex(key)
        now = _clock()
        with _lock:
            hit = _cache.get(org_id)
        if hit is not None and hit[0] > now and hit[1] == fingerprint:
            eleven = hit[2]
        else:
            try:
                eleven = elevenlabs_voices.list_voices(key)
            except errors.UpstreamError as exc:
                warnings.append(f"{exc.message} Only the xAI realtime voices are listed.")
            else:
                with _lock:
                    _cache[org_id] = (now + CACHE_SECONDS, fingerprint, eleven)
    voices, next_cursor = slice_list([dict(v) for v in eleven] + xai_voices(), page or Page(MAX_LIMIT, 0, None))
    out: dict[str, Any] = {"voices": voices, "next_cursor": next_cursor}
    if warnings:
        out["warnings"] = warnings
    return out


def clear_cache() -> None:
    """Forget every cached list (tests)."""
    with _lock:
        _cache.clear()
