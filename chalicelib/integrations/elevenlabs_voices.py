"""ElevenLabs voice catalogue: ``GET /v2/voices`` (paged) over HTTPS.

One documented REST call does not need the ``elevenlabs`` SDK, which would add 10 MB (and httpx and
websockets) to the API function: the response is read into our Voice shape directly.
"""

from __future__ import annotations

from typing import Any

from chalicelib import errors
from chalicelib.httpclient import session
from chalicelib.jsonvalue import as_list, as_object
from chalicelib.settings import get_settings

DEFAULT_URL = "https://api.elevenlabs.io"
PAGE_SIZE = 100
MAX_PAGES = 10  # 1,000 voices: a workspace's own voices plus the premade ones fit easily
TIMEOUT = 10.0


def list_voices(api_key: str, base_url: str | None = None) -> list[dict[str, Any]]:
    """The account's voices mapped to our Voice shape. Raises UpstreamError on any failure."""
    import requests

    url = (base_url or get_settings().elevenlabs_url or DEFAULT_URL).rstrip("/") + "/v2/voices"
    voices: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {"page_size": PAGE_SIZE}
        if token:
            params["next_page_token"] = token
        try:
            resp = session().get(url, params=params, headers={"xi-api-key": api_key}, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise errors.UpstreamError(f"ElevenLabs voices request failed ({type(exc).__name__}).") from exc
        if resp.status_code != 200:
            raise errors.UpstreamError(f"ElevenLabs voices request failed (HTTP {resp.status_code}).")
        try:
            page = as_object(resp.json())
        except ValueError as exc:
            raise errors.UpstreamError("ElevenLabs voices request failed (invalid JSON).") from exc
        voices.extend(to_voice(as_object(v)) for v in as_list(page.get("voices")))
        next_token = page.get("next_page_token")
        token = next_token if isinstance(next_token, str) and next_token else None
        if not page.get("has_more") or not token:
            break
    return voices


def to_voice(v: dict[str, Any]) -> dict[str, Any]:
    labels = {str(k): val for k, val in as_object(v.get("labels")).items()}
    language = None
    verified = as_list(v.get("verified_languages"))
    if verified:
        language = as_object(verified[0]).get("language")
    language = language or labels.get("language") or as_object(v.get("fine_tuning")).get("language")
    text = v.get("description") or labels.get("description")
    return {
        "id": v.get("voice_id"),
        "name": v.get("name"),
        "provider": "elevenlabs",
        "language": language,
        "description": {"en": text} if text else None,
        "preview_url": v.get("preview_url"),
        "category": v.get("category"),
        "gender": labels.get("gender"),
        "accent": labels.get("accent"),
        "labels": labels,
    }
