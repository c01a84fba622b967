"""Twilio's ``<Connect action>``: the media stream of a call ended; reconnect the caller or hang up.

When our media task ends a call it hangs up over Twilio's REST API first, so Twilio never asks this
for a call we ended. A stream that ends while the row still says ``in-progress`` was cut: the task
died, was replaced, or refused the stream. The answer is a new ``<Connect><Stream>`` (the load
balancer picks a healthy task, which finds the persisted transcript on the row and resumes with a
short apology), up to ``MAX_RECOVERIES`` times per call with a pause before each retry; otherwise
``<Hangup/>`` (a call that keeps failing is then ended by the reaper as ``media_failure``).
"""

from __future__ import annotations

import logging

from chalicelib.storage.calls import CallRepository
from chalicelib.telephony import twiml
from chalicelib.timeutil import now_iso

log = logging.getLogger("voice.calls.recovery")

# Reconnects per call: with the pauses about 30 s for a task to come back, under the reaper's 35 s
# (a single restarting process on a loaded machine measured 5-19 s; bench/media_crash.py).
MAX_RECOVERIES = 15
RETRY_PAUSE_SECONDS = 2  # silence before each reconnect after the first (no hot loop while none is up)


def after_stream_ended(org_id: str, call_id: str, form: dict[str, str]) -> str:
    """The TwiML for Twilio once the call's ``<Connect>`` ended."""
    from chalicelib.services.calls import stream_twiml_for

    repo = CallRepository()
    call = repo.get(org_id, call_id)
    sid = form.get("CallSid")
    if call is None or call.status != "in-progress" or (call.twilio_call_sid and sid != call.twilio_call_sid):
        return twiml.hang_up()
    attempts = int(call.data.get("stream_recoveries") or 0)
    if attempts >= MAX_RECOVERIES:
        log.warning("call %s: stream dropped again after %d reconnects; hanging up", call_id, attempts)
        return twiml.hang_up()
    updated = repo.update_data(org_id, call_id, {"stream_recoveries": attempts + 1, "stream_dropped_at": now_iso()})
    if updated is None or updated.status != "in-progress":
        return twiml.hang_up()
    log.warning("call %s: media stream dropped; reconnecting the caller (attempt %d)", call_id, attempts + 1)
    return stream_twiml_for(updated, pause_seconds=RETRY_PAUSE_SECONDS if attempts else 0)
