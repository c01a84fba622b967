"""The control plane's client of the media service: typed, signed, versioned (``chalicelib.models.media``).

Wire contract (docs/calls.md): ``POST {base}/calls/{call_id}/control`` with a ``CommandEnvelope`` and
``POST {MEDIA_CONTROL_URL}/calls/{call_id}/prepare`` with a ``PrepareCall``, both as JSON with headers
``X-Control-Timestamp`` (unix seconds) and ``X-Control-Signature`` (hex HMAC-SHA256 of
``"<timestamp>." + body`` keyed with MEDIA_CONTROL_SECRET). The media task answers a ``CommandResult``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, cast

from pydantic import BaseModel

from chalicelib import errors
from chalicelib.httpclient import session
from chalicelib.models.media import CommandEnvelope, CommandResult, MediaCommand, PrepareCall
from chalicelib.security import sign_control
from chalicelib.settings import get_settings
from chalicelib.storage.calls import Call

if TYPE_CHECKING:
    import requests

log = logging.getLogger("voice.calls")

CONTROL_TIMEOUT = 3.0
PREPARE_TIMEOUT = 0.3
# What the media task answers when it no longer holds the call.
GONE_STATUSES = (404, 409, 410)


class OwnerUnreachable(errors.UpstreamError):
    """The task recorded as the call's owner does not accept connections (it stopped or died)."""


def _post(url: str, message: BaseModel, timeout: float) -> requests.Response:
    body = message.model_dump_json().encode()
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Control-Timestamp": ts,
               "X-Control-Signature": sign_control(get_settings().media_control_secret, ts, body)}
    return session().post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)


def _result(resp: requests.Response) -> CommandResult:
    """The media task's answer as a ``CommandResult`` (an error body ``{error, message}`` included)."""
    try:
        answer: object = resp.json()
    except ValueError:
        answer = None
    fields = cast("dict[str, object]", answer) if isinstance(answer, dict) else {}  # JSON boundary
    error, message = fields.get("error"), fields.get("message")
    return CommandResult(success=resp.status_code < 300,
                         error=str(error) if error else None, message=str(message) if message else None)


def send_command(call: Call, command: MediaCommand, *, timeout: float = CONTROL_TIMEOUT,
                 fallback_base: str | None = None) -> bool:
    """Deliver one command to the media task that owns the call (or ``fallback_base`` before it has one).

    False when there is nowhere to send it. Raises CallNotActive when the owner no longer holds the
    call (404/409/410, or its ``call_not_active``), InvalidRequest when it rejects the command
    (400 ``invalid_request``), OwnerUnreachable when no connection to it can be made (a dead task),
    and UpstreamError when it fails otherwise (a timeout after connecting, a 5xx).
    """
    import requests

    base: str | None = call.data.get("control_url") or fallback_base
    if not base:
        return False
    envelope = CommandEnvelope(call_id=call.id, org_id=call.org_id, command=command)
    try:
        resp = _post(f"{base.rstrip('/')}/calls/{call.id}/control", envelope, timeout)
    except requests.ConnectionError as exc:  # refused or connect timeout (ConnectTimeout is one)
        raise OwnerUnreachable(f"The media task holding the call could not be reached ({type(exc).__name__}).") \
            from None
    except requests.RequestException as exc:
        raise errors.UpstreamError(f"The media service could not be reached ({type(exc).__name__}).") from None
    result = _result(resp)
    if result.success:
        return True
    if resp.status_code in GONE_STATUSES or result.error == "call_not_active":
        raise errors.CallNotActive(f"Call {call.id} is not active.")
    if resp.status_code == 400 and result.error == "invalid_request":
        raise errors.InvalidRequest(result.message or "The live call rejected the command.")
    raise errors.UpstreamError(f"The media service answered HTTP {resp.status_code}.")


def prepare(org_id: str, call_id: str) -> None:
    """Best-effort ring-time warm-up of the media service (300 ms budget, failures ignored)."""
    import requests

    base = get_settings().media_control_url
    if not base:
        return
    try:
        _post(f"{base.rstrip('/')}/calls/{call_id}/prepare", PrepareCall(call_id=call_id, org_id=org_id),
              PREPARE_TIMEOUT)
    except requests.RequestException as exc:
        log.info("prepare for call %s skipped: %s", call_id, type(exc).__name__)
