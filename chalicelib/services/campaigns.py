"""Campaign use cases: the REST API's and the campaign-run workflow's (docs/workflows.md).

The run is a Step Functions execution (``chalicelib/workflows/asl/campaign_run.asl.json``) whose
tasks call the ``run_*`` functions below. Everything that must be exact lives in conditional
DynamoDB writes (``storage/campaigns.py``), never in the execution's state: a claim is a
transaction (lead pending -> calling, attempts + 1, one dial slot taken), an outcome is a
transaction (lead calling -> final or pending again, slot freed, counters), so retried or
duplicated tasks are harmless.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib import errors
from chalicelib.jsonvalue import as_object
from chalicelib.models.campaigns import (
    ACTIVE_CAMPAIGN,
    CAMPAIGN_DEFAULTS,
    TERMINAL_CAMPAIGN,
    CampaignCreate,
    CampaignFailure,
    CampaignUpdate,
    DialResult,
    DispatchResult,
    LeadCreate,
    RecordResult,
    RunState,
    TaskAck,
    TickResult,
)
from chalicelib.models.common import is_uuid
from chalicelib.paging import Page, slice_list
from chalicelib.settings import get_settings
from chalicelib.storage.calls import LIVE_STATUSES, Call, CallRepository
from chalicelib.storage.campaigns import (
    Campaign,
    CampaignClosed,
    CampaignRepository,
    DuplicatePhone,
    Lead,
    LeadBusy,
    LeadRepository,
)
from chalicelib.templating import render
from chalicelib.timeutil import iso, new_id, utcnow

log = logging.getLogger("voice.campaigns")

# Margin between a call's outcome timeout and the lead's deadline: past it, the run assumes the
# worker that owned the lead died and resolves the lead itself.
DEADLINE_MARGIN_SECONDS = 120


def deadline_margin(call_timeout: int) -> int:
    return min(DEADLINE_MARGIN_SECONDS, max(call_timeout, 2))
NULLABLE = ("system_message_template", "number_id")
NEW_LEAD_DUE = "1970-01-01T00:00:00.000Z"


class Clock:
    """The run's notion of now. Tests swap ``campaigns.clock`` for a settable one."""

    def now(self) -> datetime:
        return utcnow()


clock: Clock = Clock()


def _now() -> datetime:
    return clock.now().astimezone(UTC)


@lru_cache(maxsize=1)
def repo() -> CampaignRepository:
    return CampaignRepository()


@lru_cache(maxsize=1)
def leads() -> LeadRepository:
    return LeadRepository()


# ====================================================================== REST use cases
def public(c: Campaign) -> dict[str, Any]:
    data = {**CAMPAIGN_DEFAULTS, **c.data}
    return {
        "id": c.id,
        "org_id": c.org_id,
        "name": data.get("name"),
        "status": c.status,
        "agent_id": data.get("agent_id"),
        "number_id": data.get("number_id"),
        "system_message_template": data.get("system_message_template"),
        "schedule_start_time": data["schedule_start_time"],
        "schedule_end_time": data["schedule_end_time"],
        "timezone": data["timezone"],
        "calling_days": data["calling_days"],
        "max_concurrent_calls": data["max_concurrent_calls"],
        "max_attempts": data["max_attempts"],
        "retry_delay_minutes": data["retry_delay_minutes"],
        "total_leads": c.total_leads,
        "completed_leads": c.completed_leads,
        "failed_leads": c.failed_leads,
        "pending_leads": max(c.total_leads - c.completed_leads - c.failed_leads - max(c.in_flight, 0), 0),
        "active_calls": max(c.in_flight, 0),
        "error": data.get("error"),
        "started_at": data.get("started_at"),
        "completed_at": data.get("completed_at"),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def public_lead(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.id,
        "campaign_id": lead.campaign_id,
        "phone_number": lead.phone_number,
        "name": lead.data.get("name"),
        "variables": lead.data.get("variables") or {},
        "status": lead.status,
        "call_id": lead.call_id or lead.data.get("last_call_id"),
        "attempts": lead.attempts,
        "last_attempt_at": lead.data.get("last_attempt_at"),
        "next_attempt_at": lead.next_attempt_at if lead.status == "pending" and lead.attempts else None,
        "last_outcome": lead.data.get("last_outcome"),
        "created_at": lead.created_at,
        "updated_at": lead.updated_at,
    }


def _get(org_id: str, campaign_id: str) -> Campaign:
    c = repo().get(org_id, campaign_id) if is_uuid(campaign_id) else None
    if c is None:
        raise errors.NotFound(f"Campaign {campaign_id} not found.")
    return c


def _check_refs(org_id: str, data: dict[str, Any], changed: set[str]) -> None:
    """agent_id and number_id must name this org's resources (404 otherwise: no existence leak)."""
    if "agent_id" in changed:
        from chalicelib.services.assistants import get_document

        get_document(org_id, data["agent_id"])
    if "number_id" in changed and data.get("number_id"):
        from chalicelib.services.numbers import get_number

        get_number(org_id, data["number_id"])


def _check_window(data: dict[str, Any]) -> None:
    if data["schedule_start_time"] == data["schedule_end_time"]:
        raise errors.InvalidRequest("'schedule_end_time' must differ from 'schedule_start_time'.",
                                    param="schedule_end_time")


def _new_lead(org_id: str, campaign_id: str, body: LeadCreate, now: str) -> Lead:
    data = {"name": body.name, "variables": body.variables or {}}
    # Due since forever: a new lead is dialed at the next opportunity, before scheduled retries.
    return Lead(org_id, campaign_id, new_id(), body.phone_number, "pending", NEW_LEAD_DUE, now, now, data=data)


def create_campaign(org_id: str, body: CampaignCreate) -> dict[str, Any]:
    fields = body.dump(exclude_unset=True)
    lead_bodies = body.leads or []
    status = fields.pop("status", None) or "draft"
    fields.pop("leads", None)
    data: dict[str, Any] = {**CAMPAIGN_DEFAULTS,
                            **{k: v for k, v in fields.items() if v is not None or k in NULLABLE}}
    _check_refs(org_id, data, {"agent_id", "number_id"})
    _check_window(data)
    seen: set[str] = set()
    for i, lead in enumerate(lead_bodies):
        if lead.phone_number in seen:
            raise errors.Conflict(f"Phone number {lead.phone_number} appears twice in this campaign.",
                                  param=f"leads[{i}].phone_number")
        seen.add(lead.phone_number)
    now = iso(utcnow())
    c = Campaign(org_id, new_id(), "draft", data, now, now,
                 max_concurrent_calls=int(data["max_concurrent_calls"]))
    repo().create(c)
    for lead in lead_bodies:
        leads().add(_new_lead(org_id, c.id, lead, now))
    if status != "draft":
        return _apply_update(org_id, c.id, {}, status)
    return public(_get(org_id, c.id))


def list_campaigns(org_id: str, page: Page) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the org's campaigns, oldest first, and the next cursor."""
    items, next_cursor = slice_list(repo().list(org_id), page, key=lambda c: [c.created_at, c.id])
    return [public(c) for c in items], next_cursor


def get_campaign(org_id: str, campaign_id: str) -> dict[str, Any]:
    return public(_get(org_id, campaign_id))


def update_campaign(org_id: str, campaign_id: str, body: CampaignUpdate) -> dict[str, Any]:
    changes = body.dump(exclude_unset=True)
    status = changes.pop("status", None)
    for key, value in changes.items():
        if value is None and key not in NULLABLE:
            raise errors.InvalidRequest(f"'{key}' cannot be null.", param=key)
    if "status" in body.model_fields_set and status is None:
        raise errors.InvalidRequest("'status' cannot be null.", param="status")
    return _apply_update(org_id, campaign_id, changes, status)


def _apply_update(org_id: str, campaign_id: str, changes: dict[str, Any], status: str | None) -> dict[str, Any]:
    for _ in range(5):
        current = _get(org_id, campaign_id)
        if current.status in TERMINAL_CAMPAIGN:
            raise errors.Conflict(f"Campaign {campaign_id} is {current.status} and can no longer be changed.")
        data = {**CAMPAIGN_DEFAULTS, **current.data, **changes}
        if status == "scheduled":
            data.pop("error", None)  # a resumed run starts clean
        _check_refs(org_id, data, set(changes))
        _check_window(data)
        # Setting `scheduled` (again) starts or resumes the run under a new generation: an older
        # execution still finishing its calls sees the new generation and stops dialing.
        start = status == "scheduled"
        updated = repo().update(current, data=data, status=status, bump_generation=start)
        if updated is None:
            continue
        if start:
            from chalicelib.workflows.start import start_campaign_run

            start_campaign_run(org_id, campaign_id, updated.generation)
        return public(updated)
    raise errors.Conflict(f"Campaign {campaign_id} is being changed concurrently; try again.")


def delete_campaign(org_id: str, campaign_id: str) -> None:
    c = _get(org_id, campaign_id)
    if c.status not in TERMINAL_CAMPAIGN:
        # Cancel first so the run stops dialing before the rows disappear.
        repo().set_status(org_id, campaign_id, "cancelled", from_statuses=(c.status,))
    # The dispatcher sees the cancellation on its next pass and the run ends; calls in progress
    # finish on their own (their outcome has no lead left to record on).
    leads().delete_all(org_id, campaign_id)
    repo().delete(org_id, campaign_id)


def list_leads(org_id: str, campaign_id: str, *, limit: int, offset: int, cursor: dict[str, Any] | None,
               ) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any] | None]:
    c = _get(org_id, campaign_id)
    if cursor is not None:
        items, next_key = leads().page(org_id, campaign_id, limit=limit, start_key=cursor)
    else:
        # No cheap offset in DynamoDB: read past `offset` leads, keep the page (cursor is cheaper).
        items, next_key = leads().page(org_id, campaign_id, limit=offset + limit)
        items = items[offset:]
    return [public_lead(x) for x in items], {"total": c.total_leads, "limit": limit, "offset": offset}, next_key


def add_lead(org_id: str, campaign_id: str, body: LeadCreate) -> dict[str, Any]:
    c = _get(org_id, campaign_id)
    if c.status in TERMINAL_CAMPAIGN:
        raise errors.Conflict(f"Campaign {campaign_id} is {c.status} and can no longer be changed.")
    lead = _new_lead(org_id, campaign_id, body, iso(utcnow()))
    try:
        leads().add(lead)
    except DuplicatePhone:
        raise errors.Conflict(f"Phone number {body.phone_number} is already a lead of this campaign.",
                              param="phone_number") from None
    except CampaignClosed:
        raise errors.Conflict(f"Campaign {campaign_id} can no longer be changed.") from None
    return public_lead(lead)


def delete_lead(org_id: str, campaign_id: str, lead_id: str) -> None:
    _get(org_id, campaign_id)
    for _ in range(5):
        lead = leads().get(org_id, campaign_id, lead_id) if is_uuid(lead_id) else None
        if lead is None:
            raise errors.NotFound(f"Lead {lead_id} not found.")
        try:
            if leads().delete(lead):
                return
        except LeadBusy:
            raise errors.Conflict(f"Lead {lead_id} is being called; try again when the call ends.") from None
        except CampaignClosed:
            raise errors.Conflict(f"Campaign {campaign_id} can no longer be changed.") from None
    raise errors.Conflict(f"Lead {lead_id} is changing; try again.")


# ====================================================================== calling window
def window(data: dict[str, Any], now: datetime) -> tuple[bool, int]:
    """(open now, seconds until it next opens). Wall-clock times in the campaign's zone, so the
    window follows daylight-saving changes; a start later than the end spans midnight."""
    data = {**CAMPAIGN_DEFAULTS, **data}
    tz = ZoneInfo(data["timezone"])
    start, end = time.fromisoformat(data["schedule_start_time"]), time.fromisoformat(data["schedule_end_time"])
    days = set(data["calling_days"])
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    if start < end:
        open_now = local.isoweekday() in days and start <= t < end
    else:  # overnight: the part after midnight belongs to the previous day's window
        yesterday = (local - timedelta(days=1)).isoweekday()
        open_now = (t >= start and local.isoweekday() in days) or (t < end and yesterday in days)
    if open_now:
        return True, 0
    for offset in range(0, 8):
        day = local.date() + timedelta(days=offset)
        if day.isoweekday() not in days:
            continue
        opening = datetime.combine(day, start, tzinfo=tz)
        # Compare in UTC: aware datetimes sharing a tzinfo subtract as wall clock (wrong across DST).
        delta = (opening.astimezone(UTC) - now.astimezone(UTC)).total_seconds()
        if delta > 0:
            return False, max(int(delta + 0.999), 1)
    return False, 7 * 86400


# ====================================================================== campaign run tasks
def run_tick(state: RunState) -> TickResult:
    """Decide the run's next step: dispatch (due leads), wait, continue in a fresh
    execution (bounded history), or stop (paused, cancelled, superseded, completed)."""
    s = get_settings()
    ticks = state.ticks + 1
    base: dict[str, Any] = {**state.model_dump(), "ticks": ticks, "rotate_after": s.campaign_rotate_after_dials,
            "call_timeout": s.campaign_call_timeout_seconds, "poll_seconds": s.campaign_worker_poll_seconds,
            "max_polls": s.campaign_worker_max_polls}
    c = repo().get(state.org_id, state.campaign_id)
    if c is None or c.generation != state.generation or c.status not in ACTIVE_CAMPAIGN:
        return TickResult(**base, action="stop")
    now = _now()
    for lead in leads().overdue_calls(state.org_id, state.campaign_id, iso(now)):
        _resolve(lead, call_id=lead.call_id, reason="the campaign run lost track of this call")
    c = repo().get(state.org_id, state.campaign_id) or c
    # An empty campaign stays scheduled (leads may still be added); otherwise done when no lead is left.
    if c.total_leads > 0 and c.in_flight <= 0 and c.completed_leads + c.failed_leads >= c.total_leads:
        if repo().set_status(c.org_id, c.id, "completed", from_statuses=ACTIVE_CAMPAIGN, generation=c.generation,
                             require_idle=True, expect_total=c.total_leads,
                             data_updates={"completed_at": iso(now)}):
            return TickResult(**base, action="stop")
        return TickResult(**base, action="wait", wait_seconds=1)
    if c.dials - state.dials_at_start >= s.campaign_rotate_after_dials or ticks >= s.campaign_rotate_after_ticks:
        return TickResult(**base, action="rotate")
    cap = s.campaign_max_wait_seconds
    is_open, until_open = window(c.data, now)
    if not is_open:
        return TickResult(**base, action="wait", wait_seconds=min(until_open, cap))
    # Due leads, or calls in flight (slots to refill, retries falling due, deferred dials): the
    # dispatcher waits for them in one task instead of Wait/Tick loops in the history.
    if c.in_flight > 0 or leads().due(c.org_id, c.id, iso(now), 1):
        return TickResult(**base, action="run")
    wait = cap
    next_due = leads().next_due_at(c.org_id, c.id)
    if next_due:
        due_in = (datetime.fromisoformat(next_due.replace("Z", "+00:00")) - now).total_seconds()
        wait = min(wait, max(int(due_in + 0.999), 1))
    return TickResult(**base, action="wait", wait_seconds=wait)


def render_template(template: str, variables: dict[str, Any]) -> str:
    """Fill ``{{var}}`` placeholders; unknown ones become empty rather than being read aloud."""
    return render(template, variables, missing="empty")


def idempotency_key(campaign_id: str, lead_id: str, attempt: int) -> str:
    return f"campaign:{campaign_id}:lead:{lead_id}:attempt:{attempt}"


def run_dispatch(state: TickResult) -> DispatchResult:
    """Keep ``max_concurrent_calls`` calls in flight for up to ``CAMPAIGN_DISPATCH_SECONDS``.

    Each pass claims due leads into the free slots (one conditional transaction per lead) and
    dials them in parallel; slots are freed by ``on_call_finished`` as calls end, and the next
    pass (every ``CAMPAIGN_DISPATCH_POLL_MS``) refills them. Returns to the tick when the run
    must stop, the window closes, the execution has dialed enough (bounded history), nothing is
    due and nothing is in flight, or the time is up.

    Exactly once: a lead attempt is dialed only after its claim succeeded, with the idempotency
    key of that attempt. A lead left ``calling`` without a call id (this task died, or Twilio was
    throttled) is dialed again at the start of the next invocation with the same key, which returns
    the first call if Twilio had accepted it.
    """
    from concurrent.futures import ThreadPoolExecutor
    from time import monotonic, sleep

    s = get_settings()
    stop_at = monotonic() + s.campaign_dispatch_seconds
    pause = s.campaign_dispatch_poll_ms / 1000
    dialed = 0
    # Attempts whose dial hit a transient error (Twilio throttled): (lead, attempt) -> (retry at, tries)
    deferred: dict[tuple[str, int], tuple[float, int]] = {}
    with ThreadPoolExecutor(max_workers=s.campaign_dial_threads) as pool:
        # Claimed but never dialed (an earlier invocation died, or its time ran out during a backoff).
        stranded = [(lead.id, lead.attempts) for lead in leads().calling(state.org_id, state.campaign_id)
                    if not lead.call_id]
        dialed += _dial_all(pool, state, stranded, deferred)
        while True:
            c = repo().get(state.org_id, state.campaign_id)
            if c is None or c.generation != state.generation or c.status not in ACTIVE_CAMPAIGN:
                return DispatchResult(dialed=dialed, reason="stopped")
            if state.rotate_after and c.dials - state.dials_at_start >= state.rotate_after:
                return DispatchResult(dialed=dialed, reason="rotate")
            now = _now()
            if not window(c.data, now)[0]:
                return DispatchResult(dialed=dialed, reason="window closed")
            free = c.max_concurrent_calls - c.in_flight
            due = leads().due(c.org_id, c.id, iso(now), max(free, 1))
            if not due and c.in_flight <= 0:
                return DispatchResult(dialed=dialed, reason="idle")
            ready = [key for key, (at, _) in deferred.items() if at <= monotonic()]
            claimed: list[tuple[str, int]] = []
            if free > 0 and due:
                deadline = iso(now + timedelta(seconds=state.call_timeout + deadline_margin(state.call_timeout)))
                for lead in due:
                    result = leads().claim(lead, generation=state.generation, now=iso(now), deadline=deadline)
                    if result == "claimed":
                        claimed.append((lead.id, lead.attempts + 1))
                    elif result == "no_slot":
                        break
                if c.status == "scheduled" and claimed:
                    repo().set_status(c.org_id, c.id, "running", from_statuses=("scheduled",),
                                      generation=c.generation,
                                      data_updates={"started_at": c.data.get("started_at") or iso(now)})
            if claimed or ready:
                dialed += _dial_all(pool, state, ready + claimed, deferred)
            if monotonic() >= stop_at:  # below the task timeout; the next invocation picks up deferred dials
                return DispatchResult(dialed=dialed, reason="time")
            if not (claimed or ready):
                sleep(pause)


def _dial_all(pool: Any, state: TickResult, attempts: list[tuple[str, int]],
              deferred: dict[tuple[str, int], tuple[float, int]]) -> int:
    """Dial lead attempts in parallel. An error (Twilio throttled or down, DynamoDB failing after
    Twilio accepted the call) defers the attempt with exponential backoff: it stays ``calling``
    without a call id, so if this invocation ends first the next one dials it (same idempotency
    key). A permanent refusal (``DialResult.error``) resolves the attempt as failed."""
    from time import monotonic

    def one(item: tuple[str, int]) -> int:
        lead_id, attempt = item
        try:
            result = dial_lead(state.org_id, state.campaign_id, lead_id, attempt)
        except Exception as exc:  # noqa: BLE001 - one lead's failure (Twilio throttled, DynamoDB after Twilio accepted) must not fail the batch; dialing again with the same idempotency key is safe for any failure
            tries = deferred.get(item, (0.0, 0))[1] + 1
            deferred[item] = (monotonic() + min(0.25 * 2 ** tries, 10.0), tries)
            log.warning("dial of lead %s attempt %s deferred: %s", lead_id, attempt, exc)
            return 0
        deferred.pop(item, None)
        if result.error:
            lead = leads().get(state.org_id, state.campaign_id, lead_id)
            if lead is not None and lead.status == "calling" and lead.attempts == attempt:
                _resolve(lead, call_id=None, reason=result.error)
            return 0
        return 1 if result.call_id else 0

    return sum(pool.map(one, attempts))


def dial_lead(org_id: str, campaign_id: str, lead_id: str, attempt: int) -> DialResult:
    """Dial a claimed lead attempt once.

    The attempt's call id is stored on the lead, and the outbound service dedupes on an
    idempotency key per lead attempt: a retried dial (even one that died after Twilio accepted
    the call but before anything was stored) gets the first call back instead of dialing again.
    Raises UpstreamError (transient); other failures come back as ``DialResult.error``.
    """
    lead = leads().get(org_id, campaign_id, lead_id)
    if lead is None or lead.status != "calling" or lead.attempts != attempt:
        return DialResult(call_id=None)
    if lead.call_id:
        return DialResult(call_id=lead.call_id)
    c = repo().get(org_id, campaign_id)
    if c is None:
        return DialResult(error="campaign is gone")
    data = {**CAMPAIGN_DEFAULTS, **c.data}
    variables: dict[str, Any] = {**as_object(lead.data.get("variables")), "phone_number": lead.phone_number}
    if lead.data.get("name"):
        variables["name"] = lead.data["name"]
    body: dict[str, Any] = {"destination": lead.phone_number, "assistant_id": data["agent_id"],
                            "metadata": {"campaign_id": c.id, "lead_id": lead.id}}
    if data.get("number_id"):
        body["number_id"] = data["number_id"]
    if data.get("system_message_template"):
        body["context"] = render_template(data["system_message_template"], variables)
    from chalicelib.services.calls import place_outbound_call

    try:
        result = place_outbound_call(org_id, body, idempotency_key(c.id, lead.id, attempt),
                                     campaign_id=c.id, lead_id=lead.id, variables=variables)
    except errors.UpstreamError:
        raise  # transient: dialed again later with the same idempotency key
    except errors.Conflict:
        return DialResult()  # another dispatcher is placing this attempt with the same key; it stores the call
    except errors.CapacityExceeded as exc:
        # The media fleet is full: the lead waits (attempt not spent, slot freed) and is due again after
        # Retry-After, while the fleet scales out. Never a failed lead.
        wait = int(exc.headers.get("Retry-After", "30"))
        leads().release(lead, due_at=iso(_now() + timedelta(seconds=wait)))
        return DialResult()
    except errors.InsufficientCredits as exc:
        # Out of minutes: pause the campaign and hand the lead back without spending its attempt.
        repo().set_status(c.org_id, c.id, "paused", from_statuses=ACTIVE_CAMPAIGN,
                          data_updates={"error": f"paused: {exc.message}"})
        leads().release(lead, due_at=iso(_now()))
        return DialResult(error=f"{exc.code}: {exc.message}")
    except errors.ApiError as exc:  # permanent (assistant gone, bad number ...): a failed attempt
        return DialResult(error=f"{exc.code}: {exc.message}")
    call_id = result.get("call_id")
    if not call_id:
        return DialResult(error=str(result.get("error") or "the call was not placed"))
    leads().set_call(org_id, campaign_id, lead.id, attempt, call_id)
    return DialResult(call_id=call_id)


def on_call_finished(call: Call) -> None:
    """Record a finished campaign call's outcome on its lead and free its dial slot.

    Conditional on the lead still ``calling`` (a repeated callback records nothing twice). The
    call may end before the dispatcher stored its id on the lead; a lead without a call id takes
    this call (its attempt's dial is the only one in flight for the lead).
    """
    campaign_id, lead_id = call.data.get("campaign_id"), call.data.get("lead_id")
    if not campaign_id or not lead_id:
        return
    lead = leads().get(call.org_id, campaign_id, lead_id)
    if lead is None or lead.status != "calling" or lead.call_id not in (None, call.id):
        return
    _resolve(lead, call_id=call.id, reason=None)


def outcome_of(call: Call | None) -> str | None:
    """The lead outcome of a finished call; None while the call is live."""
    if call is None:
        return "failed"
    if call.status in LIVE_STATUSES:
        return None
    reason = call.data.get("end_reason") or ""
    answered_by = str(call.data.get("answered_by") or "")
    if reason == "voicemail" or answered_by.startswith("machine") or answered_by == "fax":
        return "voicemail"
    if reason in ("no_answer", "busy"):
        return reason
    if call.status == "failed" or reason in ("failed_to_connect", "error", "insufficient_credits",
                                             "assistant_request_rejected"):
        return "failed"
    return "completed"


def _resolve(lead: Lead, *, call_id: str | None, reason: str | None) -> RecordResult:
    call = CallRepository().get(lead.org_id, call_id) if call_id else None
    outcome = outcome_of(call) if call_id else "failed"
    if outcome is None:  # still live after the timeout: give up on it, keep the reason
        outcome = "failed"
    c = repo().get(lead.org_id, lead.campaign_id)
    data_c = {**CAMPAIGN_DEFAULTS, **(c.data if c else {})}
    now = _now()
    history = list(lead.data.get("history") or [])[-19:]
    history.append({"attempt": lead.attempts, "call_id": call_id, "outcome": outcome, "at": iso(now),
                    **({"error": reason} if reason and outcome == "failed" else {})})
    data = {**lead.data, "last_outcome": outcome, "last_call_id": call_id, "history": history}
    if outcome != "completed" and lead.attempts < int(data_c["max_attempts"]):
        status = "pending"
        next_at = iso(now + timedelta(minutes=int(data_c["retry_delay_minutes"])))
    else:
        status, next_at = outcome, iso(now)
    leads().record(lead, status=status, next_attempt_at=next_at, data=data)
    return RecordResult(outcome=outcome, lead_status=status)


def run_continue(state: TickResult) -> TaskAck:
    """Continue the run in a fresh execution (bounded history); the name keeps it unique."""
    from chalicelib.workflows.start import start_campaign_run

    c = repo().get(state.org_id, state.campaign_id)
    if c is None or c.generation != state.generation:
        return TaskAck(ok=False, detail="superseded")
    arn = start_campaign_run(state.org_id, state.campaign_id, state.generation, segment=state.segment + 1,
                             dials_at_start=c.dials)
    return TaskAck(detail=arn)


def run_failed(inp: CampaignFailure) -> TaskAck:
    """The run itself failed (after retries): pause the campaign with the error, resumable."""
    err = inp.error or {}
    message = f"campaign run failed: {err.get('Error') or 'unknown error'}"
    log.error("%s (campaign %s)", message, inp.campaign_id)
    repo().set_status(inp.org_id, inp.campaign_id, "paused", from_statuses=ACTIVE_CAMPAIGN,
                      generation=inp.generation, data_updates={"error": message})
    return TaskAck(detail=message)

