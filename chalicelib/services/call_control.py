"""Live call control: commands from the API to the media process that owns the call.

Wire contract (docs/calls.md): ``POST {control_url}/calls/{call_id}/control`` with the command as
JSON and headers ``X-Control-Timestamp`` (unix seconds) and ``X-Control-Signature`` (hex
HMAC-SHA256 of ``"<timestamp>." + body`` keyed with MEDIA_CONTROL_SECRET). Ring-time warm-up
uses ``POST {MEDIA_CONTROL_URL}/calls/{call_id}/prepare`` signed the same way.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

from chalicelib import errors
from chalicelib.models.calls import parse_command
from chalicelib.security import sign_control
from chalicelib.settings import get_settings
from chalicelib.storage.calls import Call

log = logging.getLogger("voice.calls")

CONTROL_TIMEOUT = 3.0
PREPARE_TIMEOUT = 0.3
OWNER_WAIT = 2.0  # seconds a command waits for the media stream of an answered call to take it


def _signed_post(url: str, payload: dict[str, Any], timeout: float) -> Any:
    from chalicelib.webhooks.delivery import _session

    body = json.dumps(payload, separators=(",", ":")).encode()
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Control-Timestamp": ts,
               "X-Control-Signature": sign_control(get_settings().media_control_secret, ts, body)}
    return _session().post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)


def forward_to_media(call: Call, payload: dict[str, Any], timeout: float = CONTROL_TIMEOUT,
                     fallback_base: str | None = None) -> bool:
    """Deliver a command to the call's owner (or ``fallback_base`` before it has one).

    False when there is nowhere to send it. Raises CallNotActive when the owner no longer holds the
    call (404/409/410, or its 400 ``call_not_active``), InvalidRequest when it rejects the command,
    and UpstreamError when it cannot be reached or fails.
    """
    import requests

    base = call.data.get("control_url") or fallback_base
    if not base:
        return False
    url = f"{base.rstrip('/')}/calls/{call.id}/control"
    try:
        resp = _signed_post(url, {**payload, "call_id": call.id}, timeout)
    except requests.RequestException as exc:
        raise errors.UpstreamError(f"The media service could not be reached ({type(exc).__name__}).") from None
    if resp.status_code < 300:
        return True
    try:
        answer = resp.json()
    except ValueError:
        answer = {}
    code = answer.get("error") if isinstance(answer, dict) else None
    if resp.status_code in (404, 409, 410) or code == "call_not_active":
        raise errors.CallNotActive(f"Call {call.id} is not active.")
    if resp.status_code == 400 and code == "invalid_request":
        raise errors.InvalidRequest(str(answer.get("message") or "The live call rejected the command."))
    raise errors.UpstreamError(f"The media service answered HTTP {resp.status_code}.")


def send_control(org_id: str, call_id: str, body: Any) -> dict[str, Any]:
    """Validate a control command, check the call and the per-call limit, deliver it."""
    from chalicelib.services.calls import get_call
    from chalicelib.storage.orgs import RateLimitRepository

    command = parse_command(body)  # ValidationError -> 400 at the API edge
    call = get_call(org_id, call_id)
    deadline = time.monotonic() + OWNER_WAIT
    while call.status == "in-progress" and not call.data.get("control_url") and time.monotonic() < deadline:
        # Twilio's "answered" callback marks the call in progress a moment before its media stream
        # connects and the owning media task records itself: wait for the owner, bounded.
        time.sleep(0.1)
        call = get_call(org_id, call_id)
    if call.status != "in-progress" or not call.data.get("control_url"):
        raise errors.CallNotActive(f"Call {call_id} is not in progress (status {call.status}).")
    limit = get_settings().control_rate_limit_per_minute
    wait = RateLimitRepository().take_sliding(f"control:{org_id}:{call_id}", limit, 60)
    if wait:
        raise errors.RateLimited(f"At most {limit} control commands per minute per call.",
                                 headers={"Retry-After": str(max(1, math.ceil(wait)))})
    forward_to_media(call, command.dump(exclude_none=True))
    return {"success": True, "message": "Command sent successfully"}


def prepare_call(org_id: str, call_id: str) -> None:
    """Best-effort ring-time warm-up of the media service (300 ms budget, failures ignored)."""
    import requests

    base = get_settings().media_control_url
    if not base:
        return
    try:
        _signed_post(f"{base.rstrip('/')}/calls/{call_id}/prepare", {"call_id": call_id, "org_id": org_id},
                     PREPARE_TIMEOUT)
    except requests.RequestException as exc:
        log.info("prepare for call %s skipped: %s", call_id, type(exc).__name__)


# ---------------------------------------------------------------- Twilio-side actions (media service)
def transfer_call(call: Call, destination: str, message: str | None = None) -> None:
    """Replace the call's TwiML with a ``<Dial>`` (through the number's transfer trunk when it has one).

    The ``<Connect><Stream>`` ends, so the media session sees a ``stop`` and closes.
    """
    from chalicelib.telephony.twilio_client import TwilioCallError, telephony
    from chalicelib.telephony.twiml import transfer_twiml

    tel = telephony()
    if tel is None or not call.twilio_call_sid:
        raise errors.UpstreamError("Twilio is not configured or the call has no CallSid.")
    trunk = None
    trunk_id = call.data.get("transfer_trunk_id")
    if trunk_id:
        from chalicelib.services.sip_trunks import get_trunk

        trunk = get_trunk(call.org_id, trunk_id, with_password=True)
    caller_id = call.data.get("assistant_phone") if call.direction == "outbound" else call.data.get("caller_phone")
    twiml = transfer_twiml(destination, message=message, caller_id=caller_id, trunk=trunk)
    try:
        tel.redirect(call.twilio_call_sid, twiml)
    except TwilioCallError as exc:
        raise errors.UpstreamError(f"Twilio refused the transfer: {exc.reason}") from None


def hang_up_call(call: Call) -> None:
    """End the call at Twilio (``completed``; a call Twilio already ended is fine)."""
    from chalicelib.telephony.twilio_client import TwilioCallError, telephony

    tel = telephony()
    if tel is None or not call.twilio_call_sid:
        return
    try:
        if call.status in ("queued", "ringing"):
            tel.cancel(call.twilio_call_sid)
        else:
            tel.hang_up(call.twilio_call_sid)
    except TwilioCallError as exc:
        raise errors.UpstreamError(f"Twilio refused to end the call: {exc.reason}") from None
