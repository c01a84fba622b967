"""Signed tokens shared by the API (Lambda) and the media service.

- Call tokens: carried as a ``<Parameter>`` in the ``<Connect><Stream>`` TwiML; the media service
  accepts a stream only with a valid, unexpired token bound to that call id.
- Web-call and monitor tokens: carried in the query of a browser call's or a listener's WebSocket URL;
  ``<org_id>.<expiry>.<hex hmac>`` over a purpose prefix, so one kind never opens the other's socket.
  A web-call token is also single use: the media service claims the call row once (check-and-set).
- Control requests: the API signs each command it sends to the media process that owns a call.
- Webhooks: ``X-Webhook-Signature: sha256=<hex>`` over ``"<timestamp>.<raw body>"``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Literal

CALL_TOKEN_TTL_SECONDS = 15 * 60
CONTROL_MAX_SKEW_SECONDS = 300


def _hmac_hex(secret: str, message: str | bytes) -> str:
    data = message.encode() if isinstance(message, str) else message
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def make_call_token(secret: str, call_id: str, org_id: str, now: float | None = None,
                    ttl: int = CALL_TOKEN_TTL_SECONDS) -> str:
    """Token ``<expiry>.<hex hmac>`` bound to (call_id, org_id)."""
    expires = int((now if now is not None else time.time()) + ttl)
    sig = _hmac_hex(secret, f"{call_id}:{org_id}:{expires}")
    return f"{expires}.{sig}"


def verify_call_token(secret: str, token: str, call_id: str, org_id: str,
                      now: float | None = None) -> bool:
    try:
        expires_text, sig = token.split(".", 1)
        expires = int(expires_text)
    except (ValueError, AttributeError):
        return False
    if expires < (now if now is not None else time.time()):
        return False
    expected = _hmac_hex(secret, f"{call_id}:{org_id}:{expires}")
    return hmac.compare_digest(expected, sig)


WEB_TOKEN_TTL_SECONDS = 5 * 60
MONITOR_TOKEN_TTL_SECONDS = 10 * 60
SocketPurpose = Literal["web", "monitor"]


def make_socket_token(secret: str, purpose: SocketPurpose, call_id: str, org_id: str, *, expires: int) -> str:
    """Token ``<org_id>.<expiry>.<hex hmac>`` for a browser call (``web``) or a listener (``monitor``)."""
    sig = _hmac_hex(secret, f"{purpose}:{call_id}:{org_id}:{expires}")
    return f"{org_id}.{expires}.{sig}"


def verify_socket_token(secret: str, purpose: SocketPurpose, token: str, call_id: str,
                        now: float | None = None) -> str | None:
    """The org id a valid, unexpired token of this purpose names for ``call_id``; None otherwise."""
    try:
        org_id, expires_text, sig = token.split(".", 2)
        expires = int(expires_text)
    except (ValueError, AttributeError):
        return None
    if not org_id or expires < (now if now is not None else time.time()):
        return None
    expected = _hmac_hex(secret, f"{purpose}:{call_id}:{org_id}:{expires}")
    return org_id if hmac.compare_digest(expected, sig) else None


def sign_control(secret: str, timestamp: str, body: bytes) -> str:
    """Signature of a control request: hex HMAC-SHA256 of ``"<timestamp>." + body``."""
    return _hmac_hex(secret, timestamp.encode() + b"." + body)


def verify_control(secret: str, timestamp: str, body: bytes, signature: str,
                   now: float | None = None) -> bool:
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - ts) > CONTROL_MAX_SKEW_SECONDS:
        return False
    return hmac.compare_digest(sign_control(secret, timestamp, body), signature or "")


def sign_webhook(secret: str, timestamp: str, body: bytes) -> str:
    """Value of ``X-Webhook-Signature`` for a webhook body."""
    return "sha256=" + _hmac_hex(secret, timestamp.encode() + b"." + body)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
