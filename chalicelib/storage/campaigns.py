"""Campaigns and their leads.

A campaign row (org_id, id) keeps its settings in ``data`` and, as top-level numbers, what the
campaign run changes atomically: ``generation`` (which execution may dial), ``in_flight`` (dial
slots in use, never above ``max_concurrent_calls``), ``dials`` and the exact lead counters.

Leads live under ``campaign_key = "<org_id>#<campaign_id>"``; the ``by_status`` index
(``"<org_id>#<campaign_id>#<status>"``, ``next_attempt_at``) finds due pending leads and overdue
calls without a scan. A phone number is unique within a campaign through a claim item in its own
partition (``"<org_id>#<campaign_id>#phones"``, id = the E.164 number), written in the same
transaction as the lead. Every lead transition is one transaction with the campaign's counters,
conditioned on the lead's status and attempt number, so a lead is never claimed or counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.aws import aws_region
from chalicelib.storage.base import is_condition_failure
from chalicelib.storage.tables import CampaignModel, LeadModel
from chalicelib.timeutil import now_iso

FAILED_LEAD = ("failed", "no_answer", "busy", "voicemail", "skipped")


@dataclass
class Campaign:
    org_id: str
    id: str
    status: str
    data: dict[str, Any]
    created_at: str
    updated_at: str
    generation: int = 0
    in_flight: int = 0
    max_concurrent_calls: int = 5
    dials: int = 0
    total_leads: int = 0
    completed_leads: int = 0
    failed_leads: int = 0


@dataclass
class Lead:
    org_id: str
    campaign_id: str
    id: str
    phone_number: str
    status: str
    next_attempt_at: str
    created_at: str
    updated_at: str
    attempts: int = 0
    call_id: str | None = None
    task_token: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class DuplicatePhone(Exception):
    """The phone number is already a lead of this campaign."""


class CampaignClosed(Exception):
    """The campaign is gone, completed or cancelled."""


class LeadBusy(Exception):
    """The lead is being called right now."""


def _n(value: Any, default: int = 0) -> int:
    return int(value) if value is not None else default


def _campaign(item: CampaignModel) -> Campaign:
    return Campaign(item.org_id, item.id, item.status, item.data or {}, item.created_at, item.updated_at,
                    _n(item.generation), _n(item.in_flight), _n(item.max_concurrent_calls, 5), _n(item.dials),
                    _n(item.total_leads), _n(item.completed_leads), _n(item.failed_leads))


def campaign_key(org_id: str, campaign_id: str) -> str:
    return f"{org_id}#{campaign_id}"


def _status_key(org_id: str, campaign_id: str, status: str) -> str:
    return f"{org_id}#{campaign_id}#{status}"


def _lead(item: LeadModel) -> Lead:
    org_id, campaign_id = item.campaign_key.split("#", 1)
    return Lead(org_id, campaign_id, item.id, item.phone_number, item.status, item.next_attempt_at,
                item.created_at, item.updated_at, _n(item.attempts), item.call_id, item.task_token,
                item.data or {})


@lru_cache(maxsize=1)
def _connection() -> Connection:
    # One connection (one botocore client) per process: building a client per transaction costs
    # tens of milliseconds and serializes concurrent task handlers on botocore's loader.
    return Connection(region=aws_region())


def _tx() -> TransactWrite:
    return TransactWrite(connection=_connection())


def _failed_items(exc: TransactWriteError) -> list[int]:
    """Indexes of the transaction items whose condition failed (re-raise anything else)."""
    if exc.cause_response_code != "TransactionCanceledException":
        raise exc
    reasons = exc.cancellation_reasons or []
    failed = [i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"]
    if not failed:
        raise exc
    return failed


class CampaignRepository:
    def create(self, c: Campaign) -> Campaign:
        CampaignModel(c.org_id, c.id, status=c.status, data=c.data, created_at=c.created_at,
                      updated_at=c.updated_at, generation=c.generation, in_flight=0,
                      max_concurrent_calls=c.max_concurrent_calls, dials=0, total_leads=0, completed_leads=0,
                      failed_leads=0).save(condition=CampaignModel.id.does_not_exist())
        return c

    def get(self, org_id: str, campaign_id: str) -> Campaign | None:
        try:
            return _campaign(CampaignModel.get(org_id, campaign_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list(self, org_id: str) -> list[Campaign]:
        out = [_campaign(i) for i in CampaignModel.query(org_id)]
        out.sort(key=lambda c: c.created_at)
        return out

    def update(self, current: Campaign, *, data: dict[str, Any], status: str | None = None,
               bump_generation: bool = False) -> Campaign | None:
        """Replace settings (and status), only if nobody changed the row since ``current`` was read
        and it is not completed or cancelled. None when the condition failed (re-read and decide)."""
        item = CampaignModel(current.org_id, current.id)
        actions: list[Action] = [CampaignModel.data.set(data), CampaignModel.updated_at.set(now_iso()),
                   CampaignModel.max_concurrent_calls.set(int(data.get("max_concurrent_calls") or 5))]
        if status is not None:
            actions.append(CampaignModel.status.set(status))
        if bump_generation:
            actions.append(CampaignModel.generation.add(1))
        condition = (CampaignModel.updated_at == current.updated_at) & CampaignModel.status.is_in(
            "draft", "scheduled", "running", "paused")
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return _campaign(item)

    def set_status(self, org_id: str, campaign_id: str, status: str, *, from_statuses: tuple[str, ...],
                   generation: int | None = None, require_idle: bool = False,
                   expect_total: int | None = None, data_updates: dict[str, Any] | None = None) -> bool:
        """Move the campaign to ``status`` only from ``from_statuses`` (and the run ``generation``,
        and with no call in flight when ``require_idle``). False when the condition did not hold."""
        current = self.get(org_id, campaign_id)
        if current is None or current.status not in from_statuses:
            return False
        actions: list[Action] = [CampaignModel.status.set(status), CampaignModel.updated_at.set(now_iso())]
        condition = CampaignModel.status.is_in(*from_statuses)
        if data_updates:
            actions.append(CampaignModel.data.set({**current.data, **data_updates}))
            condition = condition & (CampaignModel.updated_at == current.updated_at)
        if generation is not None:
            condition = condition & (CampaignModel.generation == generation)
        if require_idle:
            condition = condition & (CampaignModel.in_flight <= 0)
        if expect_total is not None:  # no lead was added since the caller counted
            condition = condition & (CampaignModel.total_leads == expect_total)
        try:
            CampaignModel(org_id, campaign_id).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def delete(self, org_id: str, campaign_id: str) -> bool:
        try:
            CampaignModel(org_id, campaign_id).delete(condition=CampaignModel.id.exists())
        except Exception as exc:  # noqa: BLE001 - DeleteError: gone already is fine, anything else re-raised
            if is_condition_failure(exc):
                return False
            raise
        return True


class LeadRepository:
    # ---------------------------------------------------------------- reads
    def get(self, org_id: str, campaign_id: str, lead_id: str) -> Lead | None:
        try:
            return _lead(LeadModel.get(campaign_key(org_id, campaign_id), lead_id, consistent_read=True))
        except DoesNotExist:
            return None

    def page(self, org_id: str, campaign_id: str, *, limit: int, start_key: dict[str, Any] | None = None,
             ) -> tuple[list[Lead], dict[str, Any] | None]:
        result = LeadModel.query(campaign_key(org_id, campaign_id), limit=limit, last_evaluated_key=start_key,
                                 page_size=limit)
        items = [_lead(i) for i in result]
        return items, result.last_evaluated_key

    def due(self, org_id: str, campaign_id: str, now: str, limit: int) -> list[Lead]:
        """Pending leads whose next attempt is due, oldest due first."""
        key = _status_key(org_id, campaign_id, "pending")
        return [_lead(i) for i in LeadModel.by_status.query(key, LeadModel.next_attempt_at <= now, limit=limit)]

    def next_due_at(self, org_id: str, campaign_id: str) -> str | None:
        key = _status_key(org_id, campaign_id, "pending")
        for item in LeadModel.by_status.query(key, limit=1):
            return item.next_attempt_at
        return None

    def overdue_calls(self, org_id: str, campaign_id: str, now: str, limit: int = 25) -> list[Lead]:
        """Leads still `calling` past their deadline (their worker died): the run resolves them."""
        key = _status_key(org_id, campaign_id, "calling")
        return [_lead(i) for i in LeadModel.by_status.query(key, LeadModel.next_attempt_at < now, limit=limit)]

    def calling(self, org_id: str, campaign_id: str) -> list[Lead]:
        return [_lead(i) for i in LeadModel.by_status.query(_status_key(org_id, campaign_id, "calling"))]

    def count(self, org_id: str, campaign_id: str, status: str) -> int:
        return LeadModel.by_status.count(_status_key(org_id, campaign_id, status))

    # ---------------------------------------------------------------- writes
    def add(self, lead: Lead) -> Lead:
        """Put a lead with its phone claim and count it on the campaign, atomically.

        Raises DuplicatePhone or CampaignClosed (gone, completed or cancelled)."""
        key = campaign_key(lead.org_id, lead.campaign_id)
        phone = LeadModel(f"{key}#phones", lead.phone_number, phone_number=lead.phone_number, status="phone",
                          campaign_status=_status_key(lead.org_id, lead.campaign_id, "phone"),
                          next_attempt_at=lead.created_at, attempts=0, data={"lead_id": lead.id},
                          created_at=lead.created_at, updated_at=lead.updated_at)
        item = LeadModel(key, lead.id, phone_number=lead.phone_number, status=lead.status,
                         campaign_status=_status_key(lead.org_id, lead.campaign_id, lead.status),
                         next_attempt_at=lead.next_attempt_at, attempts=lead.attempts, data=lead.data,
                         created_at=lead.created_at, updated_at=lead.updated_at)
        try:
            with _tx() as tx:
                tx.save(phone, condition=LeadModel.id.does_not_exist())
                tx.save(item, condition=LeadModel.id.does_not_exist())
                tx.update(CampaignModel(lead.org_id, lead.campaign_id),
                          actions=[CampaignModel.total_leads.add(1), CampaignModel.updated_at.set(now_iso())],
                          condition=CampaignModel.id.exists()
                          & CampaignModel.status.is_in("draft", "scheduled", "running", "paused"))
        except TransactWriteError as exc:
            failed = _failed_items(exc)
            if 2 in failed:
                raise CampaignClosed() from None
            raise DuplicatePhone(lead.phone_number) from None
        return lead

    def delete(self, lead: Lead) -> bool:
        """Remove a lead (not while it is being called) and uncount it. False when it is gone or
        changed status meanwhile; raises LeadBusy while calling, CampaignClosed when the campaign is."""
        if lead.status == "calling":
            raise LeadBusy()
        key = campaign_key(lead.org_id, lead.campaign_id)
        counters: list[Action] = [CampaignModel.total_leads.add(-1), CampaignModel.updated_at.set(now_iso())]
        if lead.status == "completed":
            counters.append(CampaignModel.completed_leads.add(-1))
        elif lead.status in FAILED_LEAD:
            counters.append(CampaignModel.failed_leads.add(-1))
        try:
            with _tx() as tx:
                tx.delete(LeadModel(key, lead.id), condition=(LeadModel.status == lead.status)
                          & (LeadModel.attempts == lead.attempts))
                tx.delete(LeadModel(f"{key}#phones", lead.phone_number))
                tx.update(CampaignModel(lead.org_id, lead.campaign_id), actions=counters,
                          condition=CampaignModel.id.exists()
                          & CampaignModel.status.is_in("draft", "scheduled", "running", "paused"))
        except TransactWriteError as exc:
            failed = _failed_items(exc)
            if 2 in failed:
                raise CampaignClosed() from None
            return False
        return True

    def delete_all(self, org_id: str, campaign_id: str) -> int:
        """Remove every lead and phone claim of a (stopped) campaign. Returns leads removed."""
        key = campaign_key(org_id, campaign_id)
        removed = 0
        for hash_key in (key, f"{key}#phones"):
            with LeadModel.batch_write() as batch:
                for item in LeadModel.query(hash_key, attributes_to_get=["campaign_key", "id"]):
                    batch.delete(item)
                    removed += hash_key == key
        return removed

    def claim(self, lead: Lead, *, generation: int, now: str, deadline: str) -> str:
        """pending -> calling (attempts + 1) and take a dial slot, atomically.

        Returns "claimed", "taken" (another worker got this lead first) or "no_slot" (the campaign
        is at max_concurrent_calls, stopped, or belongs to a newer run generation)."""
        key = campaign_key(lead.org_id, lead.campaign_id)
        data = {**lead.data, "last_attempt_at": now}
        try:
            with _tx() as tx:
                tx.update(LeadModel(key, lead.id), actions=[
                    LeadModel.status.set("calling"),
                    LeadModel.campaign_status.set(_status_key(lead.org_id, lead.campaign_id, "calling")),
                    LeadModel.attempts.add(1),
                    LeadModel.next_attempt_at.set(deadline),
                    LeadModel.call_id.remove(),
                    LeadModel.task_token.remove(),
                    LeadModel.data.set(data),
                    LeadModel.updated_at.set(now),
                ], condition=(LeadModel.status == "pending") & (LeadModel.attempts == lead.attempts))
                tx.update(CampaignModel(lead.org_id, lead.campaign_id), actions=[
                    CampaignModel.in_flight.add(1), CampaignModel.dials.add(1)],
                    condition=CampaignModel.status.is_in("scheduled", "running")
                    & (CampaignModel.generation == generation)
                    & (CampaignModel.in_flight < CampaignModel.max_concurrent_calls))
        except TransactWriteError as exc:
            failed = _failed_items(exc)
            return "no_slot" if 1 in failed else "taken"
        return "claimed"

    def release(self, lead: Lead, *, due_at: str) -> bool:
        """Undo a claim that never dialed (calling -> pending, attempts - 1, slot freed), atomically."""
        key = campaign_key(lead.org_id, lead.campaign_id)
        try:
            with _tx() as tx:
                tx.update(LeadModel(key, lead.id), actions=[
                    LeadModel.status.set("pending"),
                    LeadModel.campaign_status.set(_status_key(lead.org_id, lead.campaign_id, "pending")),
                    LeadModel.attempts.add(-1),
                    LeadModel.next_attempt_at.set(due_at),
                    LeadModel.task_token.remove(),
                    LeadModel.updated_at.set(now_iso()),
                ], condition=(LeadModel.status == "calling") & (LeadModel.attempts == lead.attempts))
                tx.update(CampaignModel(lead.org_id, lead.campaign_id), actions=[CampaignModel.in_flight.add(-1)],
                          condition=CampaignModel.id.exists())
        except TransactWriteError as exc:
            _failed_items(exc)
            return False
        return True

    def set_call(self, org_id: str, campaign_id: str, lead_id: str, attempt: int, call_id: str) -> bool:
        """Remember the call of this attempt (so a retried dial task never dials again)."""
        return self._guarded_update(org_id, campaign_id, lead_id, attempt, [LeadModel.call_id.set(call_id)])

    def set_token(self, org_id: str, campaign_id: str, lead_id: str, attempt: int, call_id: str,
                  token: str) -> bool:
        return self._guarded_update(org_id, campaign_id, lead_id, attempt, [LeadModel.task_token.set(token)],
                                    extra=LeadModel.call_id == call_id)

    def _guarded_update(self, org_id: str, campaign_id: str, lead_id: str, attempt: int, actions: list[Any],
                        extra: Any = None) -> bool:
        condition = (LeadModel.status == "calling") & (LeadModel.attempts == attempt)
        if extra is not None:
            condition = condition & extra
        try:
            LeadModel(campaign_key(org_id, campaign_id), lead_id).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def record(self, lead: Lead, *, status: str, next_attempt_at: str, data: dict[str, Any]) -> bool:
        """calling -> ``status`` for the attempt ``lead.attempts``, free its dial slot and count a
        final status, atomically. False when this attempt was already recorded (or the lead is gone)."""
        key = campaign_key(lead.org_id, lead.campaign_id)
        counters: list[Action] = [CampaignModel.in_flight.add(-1)]
        if status == "completed":
            counters.append(CampaignModel.completed_leads.add(1))
        elif status in FAILED_LEAD:
            counters.append(CampaignModel.failed_leads.add(1))
        try:
            with _tx() as tx:
                tx.update(LeadModel(key, lead.id), actions=[
                    LeadModel.status.set(status),
                    LeadModel.campaign_status.set(_status_key(lead.org_id, lead.campaign_id, status)),
                    LeadModel.next_attempt_at.set(next_attempt_at),
                    LeadModel.task_token.remove(),
                    LeadModel.data.set(data),
                    LeadModel.updated_at.set(now_iso()),
                ], condition=(LeadModel.status == "calling") & (LeadModel.attempts == lead.attempts))
                tx.update(CampaignModel(lead.org_id, lead.campaign_id), actions=counters,
                          condition=CampaignModel.id.exists())
        except TransactWriteError as exc:
            _failed_items(exc)
            return False
        return True

