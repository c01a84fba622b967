"""GET /voices: the org's ElevenLabs voices (its BYOK key or the platform key) plus xAI's realtime voices."""

from __future__ import annotations

import threading
import time
from typing import Any

from chalicelib import errors
from chalicelib.integrations import elevenlabs_voices

CACHE_SECONDS = 600.0
_cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}
_lock = threading.Lock()

XAI_VOICES: list[dict[str, Any]] = [
    {"id": "ara", "name": "Ara", "style": "Warm, friendly (female)"},
    {"id": "rex", "name": "Rex", "style": "Confident, clear (male)"},
    {"id": "sal", "name": "Sal", "style": "Smooth, balanced (neutral)"},
    {"id": "eve", "name": "Eve", "style": "Energetic, upbeat (female)"},
    {"id": "leo", "name": "Leo", "style": "Authoritative, strong (male)"},
]


def _clock() -> float:
    return time.monotonic()


def xai_voices() -> list[dict[str, Any]]:
    return [{"id": v["id"], "name": v["name"], "provider": "xai", "language": "multilingual",
             "description": {"en": v["style"]}, "preview_url": None, "style": v["style"]} for v in XAI_VOICES]


def list_voices(org_id: str) -> dict[str, Any]:
    """``{"voices": [...]}``, plus ``warnings`` when the ElevenLabs voices could not be listed."""
    from chalicelib.services.byok import provider_key

    warnings: list[str] = []
    eleven: list[dict[str, Any]] = []
    now = _clock()
    with _lock:
        hit = _cache.get(org_id)
    if hit and hit[0] > now:
        eleven = hit[1]
    else:
        key, _ = provider_key(org_id, "elevenlabs")
        if not key:
            warnings.append("No ElevenLabs API key is configured (neither BYOK nor platform): only the xAI "
                            "realtime voices are listed. Add one with POST /byok (provider 'elevenlabs').")
        else:
            try:
                eleven = elevenlabs_voices.list_voices(key)
            except errors.UpstreamError as exc:
                warnings.append(f"{exc.message} Only the xAI realtime voices are listed.")
            else:
                with _lock:
                    _cache[org_id] = (now + CACHE_SECONDS, eleven)
    out: dict[str, Any] = {"voices": [dict(v) for v in eleven] + xai_voices()}
    if warnings:
        out["warnings"] = warnings
    return out


def forget(org_id: str) -> None:
    """Drop an org's cached voices (its ElevenLabs key changed)."""
    with _lock:
        _cache.pop(org_id, None)


def clear_cache() -> None:
    with _lock:
        _cache.clear()
