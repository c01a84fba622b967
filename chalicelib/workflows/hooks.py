"""Hooks from the call lifecycle into workflows (owned by the workflows feature).

``on_call_finished`` is called by the calls feature once a call reaches a final status; the
campaign run uses it to release the task token that waits for the call's outcome.
"""

from __future__ import annotations

import logging

from chalicelib.storage.calls import Call

log = logging.getLogger("voice.workflows")


def on_call_finished(call: Call) -> None:
    """Called once per call when it ends or fails. Never raises: the caller is a Twilio callback
    or the media service, and a campaign's timeout resolves the lead if this is lost."""
    if not call.data.get("campaign_id"):
        return
    try:
        from chalicelib.services import campaigns

        campaigns.on_call_finished(call)
    except Exception:  # noqa: BLE001 - see docstring: best effort, the run's timeout is the safety net
        log.exception("releasing the campaign worker for call %s failed", call.id)
