"""Custom email sending domain (Resend) per org, and call-notification emails sent from it.

Every call to Resend uses the org's own BYOK Resend key: the domain lives in the org's Resend
account. Status values are Resend's, copied as they come (``not_started``, ``pending``,
``verified``, ``failed``, ``temporary_failure`` ...).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from chalicelib import errors
from chalicelib.integrations.resend_client import ResendClient
from chalicelib.jsonvalue import as_list, as_object
from chalicelib.models.resources import DomainCreate, DomainSync
from chalicelib.storage.domains import DomainRecord, DomainRepository
from chalicelib.timeutil import new_id, now_iso

logger = logging.getLogger("voice.domains")

NOTIFICATION_SENDER = "Call notifications"
NOTIFICATION_LOCAL_PART = "notifications"


@lru_cache(maxsize=1)
def repo() -> DomainRepository:
    return DomainRepository()


def _client(org_id: str) -> ResendClient:
    """A Resend client with the org's BYOK key; 400 telling the caller to add one otherwise."""
    from chalicelib.services.byok import provider_key

    key, is_byok = provider_key(org_id, "resend")
    if not key or not is_byok:
        raise errors.InvalidRequest(
            "No Resend API key is configured for this organization. Add one with "
            "POST /byok {\"provider\": \"resend\", \"api_key\": \"re_...\"} first.", param="resend")
    return ResendClient(key)


def _public(rec: DomainRecord) -> dict[str, Any]:
    d = rec.data
    return {
        "id": d.get("id"),
        "org_id": rec.org_id,
        "domain_name": d.get("domain_name"),
        "resend_domain_id": d.get("resend_domain_id"),
        "status": d.get("status"),
        "region": d.get("region"),
        "records": d.get("records") or [],
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
        "verified_at": d.get("verified_at"),
    }


def _apply(rec: DomainRecord, resend_domain: dict[str, Any]) -> DomainRecord:
    """Copy Resend's view of the domain (status, region, records) onto the local record."""
    data = dict(rec.data)
    data["resend_domain_id"] = resend_domain.get("id") or data.get("resend_domain_id")
    data["domain_name"] = resend_domain.get("name") or data.get("domain_name")
    if resend_domain.get("status"):
        data["status"] = resend_domain["status"]
    if resend_domain.get("region"):
        data["region"] = resend_domain["region"]
    if "records" in resend_domain:
        data["records"] = [_record(as_object(r)) for r in as_list(resend_domain.get("records"))]
    if data.get("status") == "verified" and not data.get("verified_at"):
        data["verified_at"] = now_iso()
    rec.data = data
    rec.updated_at = now_iso()
    return rec


def _record(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("record", "name", "type", "ttl", "status", "value", "priority")
    return {k: r.get(k) for k in keys if k in r}


def _require(org_id: str) -> DomainRecord:
    rec = repo().get(org_id)
    if rec is None:
        raise errors.NotFound("No email domain is configured for this organization. Add one with POST /domains.")
    return rec


def get_domain(org_id: str) -> dict[str, Any]:
    return _public(_require(org_id))


def add_domain(org_id: str, body: DomainCreate) -> dict[str, Any]:
    """Create the domain in the org's Resend account and keep it as the org's one domain."""
    client = _client(org_id)
    if repo().get(org_id) is not None:
        raise errors.Conflict("This organization already has an email domain; delete it first.")
    created = client.create_domain(body.domain_name, body.region)
    now = now_iso()
    rec = _apply(DomainRecord(org_id, {"id": new_id(), "managed": True}, now, now), created)
    if not repo().create(rec):
        client.delete_domain(created["id"])  # lost a race with a parallel add: undo ours
        raise errors.Conflict("This organization already has an email domain; delete it first.")
    return _public(rec)


def delete_domain(org_id: str) -> None:
    """Forget the org's domain; removes it from Resend too when it was created through this API."""
    rec = _require(org_id)
    if rec.data.get("managed") and rec.data.get("resend_domain_id"):
        try:
            _client(org_id).delete_domain(rec.data["resend_domain_id"])
        except errors.NotFound:
            pass  # already gone at Resend
    repo().delete(org_id)


def list_resend_domains(org_id: str) -> dict[str, Any]:
    client = _client(org_id)
    current = repo().get(org_id)
    domains = [{"id": d.get("id"), "name": d.get("name"), "status": d.get("status"), "region": d.get("region"),
                "created_at": d.get("created_at")} for d in client.list_domains()]
    return {"domains": domains, "selected_domain_id": current.data.get("resend_domain_id") if current else None}


def sync_domain(org_id: str, body: DomainSync) -> dict[str, Any]:
    """Select an existing domain of the org's Resend account (replaces the current selection)."""
    client = _client(org_id)
    remote = client.get_domain(body.domain_id)
    current = repo().get(org_id)
    now = now_iso()
    if current is not None and current.data.get("resend_domain_id") == remote.get("id"):
        rec = current
    else:
        # A selected (pre-existing) domain is never deleted from Resend by DELETE /domains.
        rec = DomainRecord(org_id, {"id": new_id(), "managed": False}, now, now)
    rec = _apply(rec, remote)
    repo().put(rec)
    return _public(rec)


def verify_domain(org_id: str) -> dict[str, Any]:
    """Ask Resend to check the DNS records, then store its current status."""
    rec = _require(org_id)
    client = _client(org_id)
    client.verify_domain(rec.data["resend_domain_id"])
    rec = _apply(rec, client.get_domain(rec.data["resend_domain_id"]))
    repo().put(rec)
    return _public(rec)


def refresh_domain(org_id: str) -> dict[str, Any]:
    rec = _require(org_id)
    rec = _apply(rec, _client(org_id).get_domain(rec.data["resend_domain_id"]))
    repo().put(rec)
    return _public(rec)


def send_call_notification(org_id: str, to: str | list[str], subject: str, body: str) -> str | None:
    """Send a plain-text email from the org's verified domain; returns Resend's email id.

    None (and nothing sent) when the org has no verified domain or no Resend key; errors from Resend
    are logged, not raised: a notification must never fail the call pipeline.
    """
    rec = repo().get(org_id)
    if rec is None or rec.data.get("status") != "verified":
        logger.info("call notification skipped: no verified email domain", extra={"org_id": org_id})
        return None
    recipients = [to] if isinstance(to, str) else list(to)
    sender = f"{NOTIFICATION_SENDER} <{NOTIFICATION_LOCAL_PART}@{rec.data['domain_name']}>"
    try:
        return _client(org_id).send_email(sender, recipients, subject, body)
    except errors.ApiError as exc:
        logger.warning("call notification failed: %s", exc.message, extra={"org_id": org_id})
        return None
