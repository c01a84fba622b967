"""Ends calls whose media task stopped: no heartbeat on the call row for ``STALE_AFTER_SECONDS``.

The media task that holds a call stamps ``heartbeat_at`` every 10 s (``media/call/keeper.py``); the
reaper runs every minute on AWS (a scheduled Lambda, ``chalicelib/api/scheduled.py``) and every 15 s
under ``make dev``. A stale call is ended through the normal end path (``call_events.finalize``):
``failed`` with end reason ``media_failure``, the transcript persisted so far kept, status-update
webhook, call analysis (summary and end-of-call report on what exists), and the phone leg hung up.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pydantic import BaseModel

from chalicelib.services import call_events
from chalicelib.storage.calls import Call, CallRepository
from chalicelib.timeutil import iso, parse_datetime, utcnow

log = logging.getLogger("voice.calls.reaper")

STALE_AFTER_SECONDS = 35  # three missed 10 s heartbeats plus slack
BATCH = 100
MEDIA_FAILURE_MESSAGE = "The media task holding the call stopped (no heartbeat); the call was ended."


class ReapResult(BaseModel):
    """What one reaper run did."""

    checked: int
    ended: list[str]


def reap_stale_calls(stale_after: float | None = None) -> ReapResult:
    """End every in-progress call whose last heartbeat is older than ``stale_after`` seconds
    (default ``STALE_AFTER_SECONDS``)."""
    seconds = STALE_AFTER_SECONDS if stale_after is None else stale_after
    cutoff = iso(utcnow() - timedelta(seconds=seconds))
    repo = CallRepository()
    stale = repo.stale_live_calls(cutoff, limit=BATCH)
    ended: list[str] = []
    for org_id, call_id in stale:
        call = _end(org_id, call_id, cutoff)
        if call is not None:
            ended.append(call.id)
    if ended:
        log.warning("ended %d call(s) whose media task stopped: %s", len(ended), ", ".join(ended))
    return ReapResult(checked=len(stale), ended=ended)


def _end(org_id: str, call_id: str, cutoff: str) -> Call | None:
    current = CallRepository().get(org_id, call_id)
    if current is None or current.status != "in-progress":
        return None
    ended_at = current.heartbeat_at or cutoff  # the last moment anyone knew the call was served
    started = current.data.get("started_at")
    duration = (max(0, round((parse_datetime(ended_at) - parse_datetime(started)).total_seconds()))
                if started else None)
    call = call_events.finalize(org_id, call_id, "failed", end_reason="media_failure", error=MEDIA_FAILURE_MESSAGE,
                                data={"duration_seconds": duration}, stale_before=cutoff)
    if call is not None:
        _hang_up(call)
    return call


def _hang_up(call: Call) -> None:
    """The caller may still be on the line (waiting on a stream nobody serves): end the phone leg."""
    from chalicelib.telephony.twilio_client import TwilioCallError, telephony

    tel = telephony()
    if tel is None or not call.twilio_call_sid:
        return
    try:
        tel.hang_up(call.twilio_call_sid)
    except TwilioCallError as exc:
        log.info("hang-up of reaped call %s: %s", call.id, exc.reason)
