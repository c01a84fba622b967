"""Bring-your-own-key: per-org provider keys (envelope-encrypted) and the platform-key fallback.

Only ciphertext is stored (``chalicelib.crypto``: a KMS data key per secret on AWS, AES-256-GCM).
The API only ever returns ``<provider>_secret_id`` references. ``provider_key`` is what the runtime
calls: the org's key when present, else the deployment's platform key.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from functools import lru_cache
from typing import Any

from chalicelib.crypto import decrypt_secret, encrypt_secret
from chalicelib.models.resources import BYOK_PROVIDERS, ByokDelete, ByokSet
from chalicelib.secrets import PLATFORM_KEYS_SECRET_ARN, json_secret
from chalicelib.settings import PLATFORM_KEY_ENV, get_settings
from chalicelib.storage.byok import ByokKey, ByokRepository
from chalicelib.timeutil import new_id, now_iso

logger = logging.getLogger("voice.byok")

# The one provider-key cache of the platform (docs/resources.md): the media service reads keys through
# ``media_gateway.provider_key``, which calls ``provider_key`` here. Each source is cached once for
# CACHE_SECONDS, never on top of another cache: the org's BYOK row (decrypted key, or "none") per
# (org, provider), and the platform-keys secret per ARN. Environment variables are read each time.
CACHE_SECONDS = 60.0
_cache: dict[tuple[str, str], tuple[float, str | None]] = {}
_platform_cache: dict[str, tuple[float, dict[str, str]]] = {}
_lock = threading.Lock()


def _clock() -> float:
    """Monotonic seconds (tests replace it to move past the TTL without sleeping)."""
    return time.monotonic()


@lru_cache(maxsize=1)
def repo() -> ByokRepository:
    return ByokRepository()


def _context(org_id: str, provider: str) -> dict[str, str]:
    return {"org_id": org_id, "purpose": f"byok:{provider}"}


def _references(keys: list[ByokKey]) -> dict[str, str | None]:
    by_provider = {k.provider: k.secret_id for k in keys}
    return {f"{p}_secret_id": by_provider.get(p) for p in BYOK_PROVIDERS}


def list_keys(org_id: str) -> dict[str, str | None]:
    """``{"<provider>_secret_id": id | None}`` for every BYOK provider."""
    return _references(repo().list(org_id))


def set_key(org_id: str, body: ByokSet) -> dict[str, str | None]:
    """Add or rotate one provider key; a rotation gets a fresh secret id."""
    existing = repo().get(org_id, body.provider)
    now = now_iso()
    key = ByokKey(org_id, body.provider, new_id(), encrypt_secret(body.api_key, _context(org_id, body.provider)),
                  existing.created_at if existing else now, now)
    repo().put(key)
    forget(org_id, body.provider)
    logger.info("byok key stored", extra={"org_id": org_id, "provider": body.provider, "secret_id": key.secret_id})
    return list_keys(org_id)


def delete_key(org_id: str, body: ByokDelete) -> dict[str, str | None]:
    """Remove one provider key (idempotent): the provider falls back to the platform key."""
    repo().delete(org_id, body.provider)
    forget(org_id, body.provider)
    return list_keys(org_id)


def forget(org_id: str, provider: str) -> None:
    """Drop this process's cached key of one org and provider (after a rotation or delete here).

    Caches keyed by the key itself (the voices list) see the new key on their next read.
    """
    with _lock:
        _cache.pop((org_id, provider), None)


def provider_key(org_id: str, provider: str) -> tuple[str | None, bool]:
    """(key, is_byok): the org's decrypted BYOK key, else the platform key (None when neither).

    Cached in process for 60 s (CACHE_SECONDS) so a call's set-up does not pay KMS and DynamoDB every
    time; a key rotated in another process is seen here at most 60 s later, BYOK or platform.
    """
    key = _byok_key(org_id, provider)
    if key is not None:
        return key, True
    return platform_key(provider), False


def _byok_key(org_id: str, provider: str) -> str | None:
    """The org's own key for a provider (cached: a key, or None for "no BYOK key")."""
    if provider not in BYOK_PROVIDERS:
        return None
    now = _clock()
    with _lock:
        hit = _cache.get((org_id, provider))
    if hit is not None and hit[0] > now:
        return hit[1]
    row = repo().get(org_id, provider)
    key = decrypt_secret(row.ciphertext, _context(org_id, provider)) if row is not None else None
    with _lock:
        _cache[(org_id, provider)] = (now + CACHE_SECONDS, key)
    return key


def platform_key(provider: str) -> str | None:
    """The deployment's own key for a provider: Secrets Manager on AWS, the environment locally."""
    env_name = PLATFORM_KEY_ENV.get(provider)
    arn = os.environ.get(PLATFORM_KEYS_SECRET_ARN)
    if arn:
        secret = _platform_secret(arn)
        # The JSON secret may be keyed by provider id ("openai") or by env name ("OPENAI_API_KEY").
        value = secret.get(provider) or (secret.get(env_name) if env_name else None)
        if value:
            return str(value)
    return (os.environ.get(env_name) or None) if env_name else None


def _platform_secret(arn: str) -> dict[str, str]:
    now = _clock()
    with _lock:
        hit = _platform_cache.get(arn)
    if hit and hit[0] > now:
        return hit[1]
    secret = json_secret(arn, get_settings().region)
    with _lock:
        _platform_cache[arn] = (now + CACHE_SECONDS, secret)
    return secret


def clear_cache() -> None:
    """Forget every cached key (tests, or after a platform secret rotation)."""
    with _lock:
        _cache.clear()
        _platform_cache.clear()


# ---------------------------------------------------------------- provider catalog (GET /byok/config)
def _provider(pid: str, name: str, category: str, docs: str, models: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": pid, "name": name, "category": category, "docs_url": docs,
        "byok": pid in BYOK_PROVIDERS,
        "models": [{"id": mid, "name": mname, "default": i == 0} for i, (mid, mname) in enumerate(models)],
    }


CATALOG: list[dict[str, Any]] = [
    _provider("deepgram", "Deepgram", "stt", "https://developers.deepgram.com/",
              [("nova-3-general", "Nova 3 General"), ("nova-3", "Nova 3"), ("nova-2-general", "Nova 2 General"),
               ("flux-general-en", "Flux General (English)")]),
    _provider("elevenlabs", "ElevenLabs", "tts", "https://elevenlabs.io/docs",
              [("eleven_flash_v2_5", "Eleven Flash v2.5"), ("eleven_turbo_v2_5", "Eleven Turbo v2.5"),
               ("eleven_multilingual_v2", "Eleven Multilingual v2")]),
    _provider("gladia", "Gladia", "stt", "https://docs.gladia.io/",
              [("solaria-1", "Solaria 1")]),
    _provider("mistral", "Mistral", "llm", "https://docs.mistral.ai/",
              [("mistral-small-latest", "Mistral Small"), ("mistral-medium-latest", "Mistral Medium"),
               ("mistral-large-latest", "Mistral Large")]),
    _provider("openai", "OpenAI", "llm", "https://platform.openai.com/docs",
              [("gpt-4o-mini", "GPT-4o Mini"), ("gpt-4o", "GPT-4o"), ("gpt-4.1-mini", "GPT-4.1 Mini"),
               ("gpt-4.1", "GPT-4.1")]),
    _provider("xai", "xAI", "realtime", "https://docs.x.ai/",
              [("grok-voice-think-fast-1.0", "Grok Voice Think Fast 1.0"),
               ("grok-voice-latest", "Grok Voice (latest)")]),
    _provider("inworld", "Inworld", "tts", "https://docs.inworld.ai/",
              [("inworld-tts-1", "Inworld TTS 1"), ("inworld-tts-1-max", "Inworld TTS 1 Max")]),
    _provider("resend", "Resend", "email", "https://resend.com/docs", []),
]


def catalog() -> list[dict[str, Any]]:
    return [dict(p, models=[dict(m) for m in p["models"]]) for p in CATALOG]
