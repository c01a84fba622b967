"""Live call control: ``POST /calls/{id}/control`` checked here, delivered by ``media_client``.

A command reaches the media task that owns the call (``control_url`` on the row) as a signed
``CommandEnvelope``; docs/calls.md describes the wire contract.
"""

from __future__ import annotations

import math
import time
from typing import Any

from chalicelib import errors
from chalicelib.models.calls import parse_command
from chalicelib.services import media_client
from chalicelib.services.calls import get_call
from chalicelib.settings import get_settings
from chalicelib.storage.orgs import RateLimitRepository

OWNER_WAIT = 2.0  # seconds a command waits for the media stream of an answered call to take it


def send_control(org_id: str, call_id: str, body: Any) -> dict[str, Any]:
    """Validate a control command, check the call and the per-call limit, deliver it."""
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
    media_client.send_command(call, command)
    return {"success": True, "message": "Command sent successfully"}
