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
    if call.status != "in-progress":
        raise errors.CallNotActive(f"Call {call_id} is not in progress (status {call.status}).")
    if not call.data.get("control_url"):
        raise errors.Conflict(f"Call {call_id} is in progress but its media stream is not connected; "
                              "the command was not delivered. Retry shortly.")
    limit = get_settings().control_rate_limit_per_minute
    wait = RateLimitRepository().take_sliding(f"control:{org_id}:{call_id}", limit, 60)
    if wait:
        raise errors.RateLimited(f"At most {limit} control commands per minute per call.",
                                 headers={"Retry-After": str(max(1, math.ceil(wait)))})
    try:
        media_client.send_command(call, command)
    except errors.CallNotActive:
        raise _refusal(org_id, call_id) from None
    except media_client.OwnerUnreachable:
        # The holding task died: nothing to deliver to. The reaper ends the call (media_failure) once its
        # heartbeat is stale, unless Twilio's reconnect brings it to a healthy task first.
        raise errors.Conflict(f"Call {call_id}: the media task holding it is not reachable; the command was not "
                              "delivered. The call resumes on another task or ends with end_reason "
                              "media_failure.") from None
    return {"success": True, "message": "Command sent successfully"}


def _refusal(org_id: str, call_id: str) -> errors.ApiError:
    """The answer to a media refusal ("ending", or no longer held), consistent with the call row.

    The row is the one source of truth for the call's status: ``call_not_active`` only when the row
    says the call is no longer in progress (the media task reported the end before refusing, or just
    after). While the row still says ``in-progress`` (the end is being wrapped up: transcript, usage,
    webhooks), the answer is 409 ``conflict``, so GET /calls/{id} and the control endpoint never
    disagree about whether the call is in progress.
    """
    call = get_call(org_id, call_id)
    if call.status != "in-progress":
        return errors.CallNotActive(f"Call {call_id} is not in progress (status {call.status}).")
    return errors.Conflict(f"Call {call_id} is ending; the command was not delivered.")
