"""ElevenLabs voice catalogue through the official ``elevenlabs`` SDK (``GET /v2/voices``, paged)."""

from __future__ import annotations

from typing import Any

from chalicelib import errors
from chalicelib.settings import get_settings

PAGE_SIZE = 100
MAX_PAGES = 10  # 1,000 voices: a workspace's own voices plus the premade ones fit easily
TIMEOUT = 10.0


def list_voices(api_key: str, base_url: str | None = None) -> list[dict[str, Any]]:
    """The account's voices mapped to our Voice shape. Raises UpstreamError on any SDK failure."""
    from elevenlabs.client import ElevenLabs
    from elevenlabs.core.api_error import ApiError

    url = base_url or get_settings().elevenlabs_url
    kwargs: dict[str, Any] = {"api_key": api_key, "timeout": TIMEOUT}
    if url:
        kwargs["base_url"] = url.rstrip("/")
    client = ElevenLabs(**kwargs)
    voices: list[dict[str, Any]] = []
    token: str | None = None
    try:
        for _ in range(MAX_PAGES):
            page = client.voices.search(page_size=PAGE_SIZE, next_page_token=token)
            voices.extend(to_voice(v) for v in page.voices)
            token = page.next_page_token
            if not page.has_more or not token:
                break
    except ApiError as exc:
        raise errors.UpstreamError(f"ElevenLabs voices request failed (HTTP {exc.status_code}).") from exc
    except Exception as exc:  # noqa: BLE001 - network and parsing errors of the SDK all mean "upstream failed"
        raise errors.UpstreamError(f"ElevenLabs voices request failed ({type(exc).__name__}).") from exc
    return voices


def to_voice(v: Any) -> dict[str, Any]:
    labels = dict(v.labels or {})
    language = None
    if v.verified_languages:
        language = v.verified_languages[0].language
    language = language or labels.get("language") or getattr(v.fine_tuning, "language", None)
    text = v.description or labels.get("description")
    return {
        "id": v.voice_id,
        "name": v.name,
        "provider": "elevenlabs",
        "language": language,
        "description": {"en": text} if text else None,
        "preview_url": v.preview_url,
        "category": v.category,
        "gender": labels.get("gender"),
        "accent": labels.get("accent"),
        "labels": labels,
    }
