"""Call lifecycle transitions from the media service and from Twilio callbacks.

Every transition is one conditional write (``CallRepository.set_status``): a status only moves
forward (queued -> ringing -> in-progress -> ended/failed), a Twilio callback applies only when its
SequenceNumber is newer than the last applied one, and whoever wins the final transition runs the
side effects (status-update webhook, call analysis, workflow hook) exactly once.

Who finalizes: once the media service owns a call (``control_url`` on the row) it ends it with
``call_ended`` (transcript, latency, end reason). Twilio's ``completed`` callback then only records
Twilio's view. Calls that never reached the media service are finalized by Twilio's callbacks.
When Twilio (or the stale check) finalized a call first and the media service's report arrives
after all (its start report was still on the way, or it was slow), the report is still stored.
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.jsonvalue import as_object
from chalicelib.models.end_reasons import normalize_end_reason
from chalicelib.models.media import AmdVerdict
from chalicelib.services import media_client
from chalicelib.settings import get_settings
from chalicelib.storage.calls import LIVE_STATUSES, Call, CallRepository
from chalicelib.timeutil import now_iso, parse_datetime

log = logging.getLogger("voice.calls")

# How long after Twilio's ``completed`` the media service has to report a call's end before the
# control plane ends it without a transcript (a crashed media task must not leave calls live).
MEDIA_END_GRACE_SECONDS = 120

# Twilio final CallStatus -> (stored status, end reason)
TWILIO_FAILURES = {
    "no-answer": ("failed", "no_answer"),
    "busy": ("failed", "busy"),
    "failed": ("failed", "failed_to_connect"),
    "canceled": ("failed", "failed_to_connect"),
}


def _repo() -> CallRepository:
    from chalicelib.services.calls import repo

    return repo()


def _safe(what: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - a side effect must never undo or block a committed transition
        log.exception("%s failed", what)


def _emit(call: Call, event: str = "status-update") -> None:
    from chalicelib.webhooks.delivery import emit

    _safe(f"{event} webhook for call {call.id}", emit, call.org_id, event, call)


def _after_final(call: Call) -> None:
    from chalicelib.workflows import hooks, start

    _emit(call)
    _safe(f"call analysis start for {call.id}", start.start_call_analysis, call.org_id, call.id)
    _safe(f"on_call_finished for {call.id}", hooks.on_call_finished, call)


def _duration(started_at: str | None, ended_at: str) -> int | None:
    if not started_at:
        return None
    return max(0, round((parse_datetime(ended_at) - parse_datetime(started_at)).total_seconds()))


# ---------------------------------------------------------------- media service
def call_started(org_id: str, call_id: str, control_url: str) -> Call | None:
    """The media service accepted the stream: in-progress, started_at, owner's control address.

    Emits status-update ``in-progress`` only when this is the transition that made the call live
    (Twilio's answered callback may have done it first). None when the call is gone or final.
    """
    now = now_iso()
    call = _repo().set_status(org_id, call_id, "in-progress", from_statuses=("queued", "ringing"),
                              data_updates={"control_url": control_url, "started_at": now}, heartbeat=True)
    if call is not None:
        _emit(call)
        return call
    current = _repo().get(org_id, call_id)
    if current is None or current.status != "in-progress":
        return None
    updates: dict[str, Any] = {"control_url": control_url}
    if not current.data.get("started_at"):
        updates["started_at"] = now
    return _repo().set_status(org_id, call_id, "in-progress", from_statuses=("in-progress",), data_updates=updates,
                              heartbeat=True)


def call_progress(org_id: str, call_id: str, messages: list[Any] | None) -> bool:
    """The holding media task's heartbeat, with the transcript so far (kept only if not shorter than
    the stored one). False when the call is no longer in progress (ended, or reaped): the task stops."""
    return _repo().heartbeat(org_id, call_id, messages) is not None


def longest(current: Call, messages: list[Any]) -> list[Any]:
    """The final transcript: the reported one unless the row already holds a longer one (a task that
    resumed the call after a crash reports all of it; one that never saw the earlier turns does not)."""
    stored: list[Any] = current.data.get("messages") or []
    return messages if len(messages) >= len(stored) else stored


def call_ended(org_id: str, call_id: str, *, end_reason: str, messages: list[Any], latency: dict[str, Any] | None,
               duration_seconds: int | None, error: str | None = None,
               extra: dict[str, Any] | None = None) -> Call | None:
    """Final write from the media service; a second report does nothing. After Twilio finalized the
    call, the report is merged in (``late_media_report``)."""
    now = now_iso()
    current = _repo().get(org_id, call_id)
    if current is None or current.data.get("media_reported_at"):
        return None
    if current.status not in LIVE_STATUSES:
        return late_media_report(current, end_reason=end_reason, messages=messages, latency=latency, error=error,
                                 extra=extra)
    if duration_seconds is None or current.data.get("stream_recoveries"):
        # A call resumed on another task after its stream was cut: the whole call, not the last task's part.
        duration_seconds = _duration(current.data.get("started_at"), now)
    if duration_seconds is not None:
        duration_seconds = int(round(duration_seconds))  # the contract's Call.duration_seconds is an integer
    updates = {"end_reason": normalize_end_reason(end_reason) or "error", "messages": longest(current, messages),
               "latency": latency, "duration_seconds": duration_seconds, "error": error, "ended_at": now,
               "media_reported_at": now, **(extra or {})}
    call = _repo().set_status(org_id, call_id, "failed" if error else "ended", data_updates=updates)
    if call is not None:
        _after_final(call)
        return call
    # Lost the race to Twilio's callback or the stale check between the read and the write.
    current = _repo().get(org_id, call_id)
    if current is None or current.status in LIVE_STATUSES or current.data.get("media_reported_at"):
        return None
    return late_media_report(current, end_reason=end_reason, messages=messages, latency=latency, error=error,
                             extra=extra)


def late_media_report(current: Call, *, end_reason: str, messages: list[Any], latency: dict[str, Any] | None,
                      error: str | None, extra: dict[str, Any] | None) -> Call | None:
    """The media service's end report for a call Twilio's callback or the stale check finalized first.

    The transcript (the longer of the stored and the reported one), latency, end reason and error are
    the media service's, which saw the call; Twilio's duration and end time stay. Side effects ran at
    the first final transition and are not repeated. In GDPR mode the transcript is not stored: the
    analysis may already have removed it.
    """
    updates: dict[str, Any] = {"end_reason": normalize_end_reason(end_reason) or "error", "latency": latency,
                               "error": error, "media_reported_at": now_iso(), **(extra or {})}
    if not as_object(current.data.get("config")).get("gdpr_mode"):
        updates["messages"] = longest(current, messages)
    log.warning("call %s: the media service reported the end after the call was finalized (%s); stored",
                current.id, current.data.get("end_reason"))
    return _repo().set_status(current.org_id, current.id, "failed" if error else "ended",
                              from_statuses=(current.status,), data_updates=updates)


def finalize(org_id: str, call_id: str, status: str, *, end_reason: str, error: str | None = None,
             sequence: int | None = None, data: dict[str, Any] | None = None,
             stale_before: str | None = None) -> Call | None:
    """Move a live call to a final status and run the side effects once (with ``stale_before``, only
    while its last heartbeat is older than that)."""
    updates = {"end_reason": normalize_end_reason(end_reason) or "error", "error": error, "ended_at": now_iso(),
               **(data or {})}
    call = _repo().set_status(org_id, call_id, status, sequence=sequence, data_updates=updates,
                              stale_before=stale_before)
    if call is not None:
        _after_final(call)
    return call


# ---------------------------------------------------------------- Twilio callbacks
def apply_twilio_status(org_id: str, call_id: str, form: dict[str, str]) -> Call | None:
    """Apply one status callback. Late, replayed and out-of-order callbacks change nothing."""
    repo = _repo()
    current = repo.get(org_id, call_id)
    if current is None:
        return None
    sid = form.get("CallSid")
    if current.twilio_call_sid and sid and sid != current.twilio_call_sid:
        log.warning("status callback for call %s names another CallSid; ignored", call_id)
        return None
    try:
        sequence: int | None = int(form["SequenceNumber"])
    except (KeyError, ValueError):
        sequence = None
    status = (form.get("CallStatus") or "").lower()
    if status == "ringing":
        return repo.set_status(org_id, call_id, "ringing", sequence=sequence, from_statuses=("queued",))
    if status == "in-progress":
        # The heartbeat starts at the answer: a call whose stream never reaches a media task is reaped too.
        call = repo.set_status(org_id, call_id, "in-progress", sequence=sequence, from_statuses=("queued", "ringing"),
                               data_updates={"answered_at": now_iso(),
                                             "started_at": current.data.get("started_at") or now_iso()},
                               heartbeat=True)
        if call is not None:
            _emit(call)
        return call
    twilio_view: dict[str, Any] = {"twilio_status": status}
    if form.get("CallDuration"):
        try:
            twilio_view["twilio_duration_seconds"] = int(form["CallDuration"])
        except ValueError:
            pass
    if form.get("SipResponseCode"):
        twilio_view["sip_response_code"] = form["SipResponseCode"]
    if status == "completed":
        if current.data.get("control_url") and current.status == "in-progress":
            # The media service owns the end of this call (transcript, end reason): record only, and
            # check back later in case the media task died before it could report the end.
            twilio_view["twilio_completed_at"] = now_iso()
            call = repo.set_status(org_id, call_id, "in-progress", sequence=sequence, from_statuses=("in-progress",),
                                   data_updates=twilio_view)
            if call is not None:
                from chalicelib.webhooks.delivery import enqueue

                _safe(f"stale check for call {call_id}", enqueue,
                      {"kind": "call_check", "org_id": org_id, "call_id": call_id}, MEDIA_END_GRACE_SECONDS)
            return call
        if current.status == "in-progress":
            duration = twilio_view.get("twilio_duration_seconds")
            if duration is None:
                duration = _duration(current.data.get("started_at"), now_iso())
            data = {**twilio_view, "duration_seconds": duration}
            return finalize(org_id, call_id, "ended", end_reason="customer_hangup", sequence=sequence, data=data)
        return finalize(org_id, call_id, "failed", end_reason="failed_to_connect", sequence=sequence,
                        error="The call ended before it was answered.", data=twilio_view)
    if status in TWILIO_FAILURES:
        final, reason = TWILIO_FAILURES[status]
        return finalize(org_id, call_id, final, end_reason=reason, sequence=sequence,
                        error=f"Twilio call status: {status}", data=twilio_view)
    return None  # queued / initiated: nothing to record


def finalize_if_stale(org_id: str, call_id: str) -> Call | None:
    """End a call Twilio reported completed whose media session never reported the end."""
    current = _repo().get(org_id, call_id)
    if current is None or current.status not in LIVE_STATUSES or not current.data.get("twilio_completed_at"):
        return None
    duration = current.data.get("twilio_duration_seconds")
    if duration is None:
        duration = _duration(current.data.get("started_at"), current.data["twilio_completed_at"])
    log.warning("call %s: media service did not report the end; ending it from Twilio's status", call_id)
    return finalize(org_id, call_id, "failed", end_reason="media_failure",
                    error="The media session did not report the end of the call.",
                    data={"duration_seconds": duration, "ended_at": current.data["twilio_completed_at"]})


def _forward_amd(call: Call, answered_by: str) -> None:
    media_client.send_command(call, AmdVerdict(answered_by=answered_by), fallback_base=get_settings().media_control_url)


def record_amd(org_id: str, call_id: str, answered_by: str, form: dict[str, str]) -> Call | None:
    """Store Twilio's AnsweredBy verdict and pass it to the live call."""
    current = _repo().get(org_id, call_id)
    if current is None:
        return None
    sid = form.get("CallSid")
    if current.twilio_call_sid and sid and sid != current.twilio_call_sid:
        return None
    updates: dict[str, Any] = {"answered_by": answered_by}
    if form.get("MachineDetectionDuration"):
        updates["machine_detection_ms"] = form["MachineDetectionDuration"]
    call = _repo().update_data(org_id, call_id, updates)
    if call is not None and call.is_live:
        # Before the stream starts there is no owner yet: the media pool keeps the verdict for it.
        _safe(f"amd forward for call {call_id}", _forward_amd, call, answered_by)
    return call
