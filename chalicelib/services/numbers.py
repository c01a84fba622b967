"""Phone number use cases: registration (unique per deployment), assignment, inbound lookup.

Each number row keeps a snapshot of its assistant's and trunk's names taken at the last write, so
the inbound lookup stays at two GetItems; REST reads resolve the current names instead.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from chalicelib import errors
from chalicelib.models.common import is_uuid
from chalicelib.models.phone import normalize_e164
from chalicelib.models.resources import NumberCreate, NumberUpdate
from chalicelib.storage.numbers import NameLookup, NumberRecord, NumberRepository, NumberWriteConflict
from chalicelib.telephony.twilio_numbers import callback_urls, twilio_numbers
from chalicelib.timeutil import new_id, now_iso

logger = logging.getLogger("voice.numbers")

SOURCE_TWILIO = "twilio"
SOURCE_SIP = "sip_forwarding"


@lru_cache(maxsize=1)
def repo() -> NumberRepository:
    return NumberRepository()


def _public(rec: NumberRecord, names: NameLookup | None = None) -> dict[str, Any]:
    d = rec.data
    out = {
        "id": rec.id,
        "org_id": rec.org_id,
        "phone_number": rec.phone_number,
        "name": d.get("name"),
        "agent_id": d.get("agent_id"),
        "agent_name": d.get("agent_name"),
        "business_name": d.get("business_name"),
        "transfer_trunk_id": d.get("transfer_trunk_id"),
        "transfer_trunk_name": d.get("transfer_trunk_name"),
        "source": d.get("source") or SOURCE_SIP,
        "is_active": bool(d.get("is_active", True)),
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
    }
    if names is not None:
        agent = names.assistants.get(str(out["agent_id"] or "")) or {}
        out["agent_name"] = agent.get("name")
        out["business_name"] = agent.get("business_name")
        out["transfer_trunk_name"] = names.trunks.get(str(out["transfer_trunk_id"] or ""))
    return out


def _live(org_id: str, records: list[NumberRecord]) -> list[dict[str, Any]]:
    agents = {r.data["agent_id"] for r in records if r.data.get("agent_id")}
    trunks = {r.data["transfer_trunk_id"] for r in records if r.data.get("transfer_trunk_id")}
    names = repo().names(org_id, agents, trunks)
    return [_public(r, names) for r in records]


def _get_record(org_id: str, number_id: str) -> NumberRecord:
    rec = repo().get(org_id, number_id) if is_uuid(number_id) else None
    if rec is None:
        raise errors.NotFound(f"Number {number_id} not found.")
    return rec


def _agent_names(org_id: str, agent_id: str | None) -> dict[str, Any]:
    """Snapshot fields for an assistant of this org; 404 naming ``agent_id`` otherwise."""
    if not agent_id:
        return {"agent_id": None, "agent_name": None, "business_name": None}
    from chalicelib.services import assistants

    try:
        doc = assistants.get_document(org_id, agent_id)
    except errors.NotFound:
        raise errors.NotFound(f"Assistant {agent_id} not found.", param="agent_id") from None
    return {"agent_id": agent_id, "agent_name": doc.data.get("name"), "business_name": doc.data.get("business_name")}


def _trunk_names(org_id: str, trunk_id: str | None) -> dict[str, Any]:
    if not trunk_id:
        return {"transfer_trunk_id": None, "transfer_trunk_name": None}
    from chalicelib.services import sip_trunks

    try:
        trunk = sip_trunks.get_trunk(org_id, trunk_id)
    except errors.NotFound:
        raise errors.NotFound(f"SIP trunk {trunk_id} not found.", param="transfer_trunk_id") from None
    return {"transfer_trunk_id": trunk_id, "transfer_trunk_name": trunk["name"]}


def _raise_conflict(exc: NumberWriteConflict, rec: NumberRecord) -> None:
    if exc.reason == "claimed":
        raise errors.Conflict(f"Phone number {rec.phone_number} is already registered.",
                              param="phone_number") from None
    if exc.reason == "trunk_missing":
        raise errors.NotFound(f"SIP trunk {rec.data.get('transfer_trunk_id')} not found.",
                              param="transfer_trunk_id") from None
    raise errors.NotFound(f"Number {rec.id} not found.") from None


# ---------------------------------------------------------------- REST use cases
def create_number(org_id: str, body: NumberCreate) -> dict[str, Any]:
    """Register a number for this org: claim it deployment-wide and, when the deployment's Twilio
    account owns it, point its webhooks at this deployment."""
    e164 = body.phone_number
    data: dict[str, Any] = {"name": body.name, "is_active": body.is_active}
    data.update(_agent_names(org_id, body.agent_id))
    data.update(_trunk_names(org_id, body.transfer_trunk_id))
    twilio = twilio_numbers()
    found = twilio.find(e164) if twilio else None
    data["source"] = SOURCE_TWILIO if found else SOURCE_SIP
    data["twilio_sid"] = found.sid if found else None
    now = now_iso()
    rec = NumberRecord(org_id, new_id(), e164, data, now, now)
    try:
        repo().create(rec)
    except NumberWriteConflict as exc:
        _raise_conflict(exc, rec)
    if twilio and found:
        voice_url, status_url = callback_urls()
        try:
            twilio.point_at(found.sid, voice_url, status_url)
        except errors.UpstreamError:
            repo().delete(rec)  # no half-registered number: the claim is released again
            raise
    logger.info("number registered", extra={"org_id": org_id, "number_id": rec.id, "source": data["source"]})
    return _public(rec)


def list_numbers(org_id: str, limit: int = 100, offset: int = 0,
                 cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of numbers (oldest first) with current names, and the cursor to continue from."""
    records, nxt = repo().page(org_id, limit, offset, cursor)
    return _live(org_id, records), nxt


def get_number_public(org_id: str, number_id: str) -> dict[str, Any]:
    """The Number object with current assistant and trunk names (REST)."""
    return _live(org_id, [_get_record(org_id, number_id)])[0]


def update_number(org_id: str, number_id: str, body: NumberUpdate) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    rec = _get_record(org_id, number_id)
    old_trunk = rec.data.get("transfer_trunk_id")
    data = dict(rec.data)
    if "name" in changes:
        data["name"] = changes["name"]
    if "is_active" in changes:
        data["is_active"] = changes["is_active"]
    if "agent_id" in changes:
        data.update(_agent_names(org_id, changes["agent_id"]))
    if "transfer_trunk_id" in changes:
        data.update(_trunk_names(org_id, changes["transfer_trunk_id"]))
    rec.data = data
    rec.updated_at = now_iso()
    try:
        repo().replace(rec, old_trunk)
    except NumberWriteConflict as exc:
        _raise_conflict(exc, rec)
    return _live(org_id, [rec])[0]


def delete_number(org_id: str, number_id: str) -> None:
    """Delete the number and release its deployment-wide claim (one transaction)."""
    rec = _get_record(org_id, number_id)
    if not repo().delete(rec):
        raise errors.NotFound(f"Number {number_id} not found.")


# ---------------------------------------------------------------- runtime lookups (calls, campaigns)
def lookup_inbound(e164: str) -> dict[str, Any] | None:
    """The number a call was placed to, for inbound routing: one GetItem (the claim carries a copy of
    the number, kept in the same transactions). None when no org registered it. Names are the
    snapshot of the number's last write."""
    try:
        key = normalize_e164(e164)
    except ValueError:
        key = (e164 or "").strip()
    if not key:
        return None
    rec = repo().get_by_phone(key)
    return _public(rec) if rec else None


def get_number(org_id: str, number_id: str) -> dict[str, Any]:
    """One number of an org (one GetItem; names from the last write). NotFound otherwise."""
    return _public(_get_record(org_id, number_id))


def any_active_number(org_id: str) -> dict[str, Any] | None:
    """Caller-id pool for outbound calls that name no number: the org's oldest active number."""
    for rec in repo().list(org_id):
        if rec.data.get("is_active", True):
            return _public(rec)
    return None
