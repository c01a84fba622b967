"""API keys: issue, authenticate, revoke; per-key rate limiting."""

from __future__ import annotations

import re
import secrets
from functools import lru_cache

from chalicelib import errors
from chalicelib.models.auth import Principal
from chalicelib.security import sha256_hex
from chalicelib.storage.orgs import ApiKey, ApiKeyRepository, RateLimitRepository

KEY_PREFIX = "fl_live_"
PREFIX_LENGTH = 16  # shown in listings and used to revoke; not enough to authenticate
_KEY_RE = re.compile(r"^fl_live_[A-Za-z0-9_-]{43}$")


@lru_cache(maxsize=1)
def _keys() -> ApiKeyRepository:
    return ApiKeyRepository()


@lru_cache(maxsize=1)
def _limits() -> RateLimitRepository:
    return RateLimitRepository()


def issue_key(org_id: str) -> tuple[str, ApiKey]:
    """Create a key for an org. The plain key is returned once and only its hash is stored."""
    plain = KEY_PREFIX + secrets.token_urlsafe(32)  # 32 random bytes = 256 bits of entropy
    record = _keys().create(sha256_hex(plain), plain[:PREFIX_LENGTH], org_id)
    return plain, record


def authenticate(header: str | None) -> Principal:
    """Resolve ``Authorization: Bearer <key>`` to its principal, or raise 401."""
    if not header:
        raise errors.Unauthorized("Missing API key. Send 'Authorization: Bearer <API_KEY>'.")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise errors.Unauthorized("Malformed Authorization header. Use 'Bearer <API_KEY>'.")
    if not _KEY_RE.match(token):
        raise errors.Unauthorized("Invalid API key.")
    record = _keys().get(sha256_hex(token))
    if record is None:
        raise errors.Unauthorized("Invalid API key.")
    if record.revoked_at:
        raise errors.Unauthorized("This API key has been revoked.")
    return Principal(org_id=record.org_id, key_hash=record.key_hash)


def check_rate_limit(key_hash: str, limit: int) -> dict[str, str]:
    """Count the request; raise 429 beyond the limit. Returns the X-RateLimit-* headers."""
    import time

    now = time.time()
    count, reset = _limits().hit(f"key#{key_hash}", 60, now)
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, limit - count)),
        "X-RateLimit-Reset": str(reset),
    }
    if count > limit:
        retry = max(1, reset - int(now))
        raise errors.RateLimited(
            f"Too many requests. Please retry after {retry} seconds.",
            headers={**headers, "Retry-After": str(retry)},
        )
    return headers


def revoke_by_prefix(prefix: str) -> list[ApiKey]:
    """Revoke every key whose stored prefix matches (the CLI's ``key revoke``)."""
    matches = _keys().by_prefix(prefix[:PREFIX_LENGTH])
    matches = [k for k in matches if k.key_prefix.startswith(prefix) or prefix.startswith(k.key_prefix)]
    for key in matches:
        _keys().revoke(key.key_hash)
    return matches
