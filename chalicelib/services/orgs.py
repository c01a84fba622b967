"""Organizations: the caller's org view and child-org creation."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib import errors
from chalicelib.models.orgs import OrganizationCreate
from chalicelib.services.auth import issue_key
from chalicelib.settings import get_settings
from chalicelib.storage.orgs import Org, OrgRepository
from chalicelib.timeutil import new_id


@lru_cache(maxsize=1)
def repo() -> OrgRepository:
    return OrgRepository()


def _monthly(org: Org) -> float:
    from chalicelib.timeutil import utcnow

    return org.monthly_usage_minutes if org.usage_month == utcnow().strftime("%Y-%m") else 0.0


def get_organization(org_id: str, include_children: bool = False) -> dict[str, Any]:
    org = repo().get(org_id)
    if org is None:
        raise errors.NotFound("Organization not found.")
    out: dict[str, Any] = {
        "id": org.id,
        "name": org.name,
        "minutes_balance": org.minutes_balance,
        "monthly_usage_minutes": _monthly(org),
        **repo().counts(org_id),
        "has_local_models_access": org.has_local_models_access,
        "parent_org_id": org.parent_org_id,
        "created_at": org.created_at,
    }
    if include_children:
        out["children"] = [{"id": c.id, "name": c.name, "created_at": c.created_at} for c in repo().children(org_id)]
    return out


def create_org(name: str, parent_org_id: str | None, minutes_balance: float | None = None) -> tuple[Org, str]:
    """Create an org and its first API key (admin CLI and child creation)."""
    balance = get_settings().default_minutes_balance if minutes_balance is None else minutes_balance
    org = repo().create(new_id(), name, parent_org_id, balance)
    key, _ = issue_key(org.id)
    return org, key


def create_child_organization(caller_org_id: str, body: OrganizationCreate) -> dict[str, Any]:
    parent = body.parent_org_id or caller_org_id
    if parent != caller_org_id:
        raise errors.Forbidden("A key may only create children of its own organization.", param="parent_org_id")
    org, key = create_org(body.name, parent)
    return {"id": org.id, "name": org.name, "parent_org_id": org.parent_org_id, "api_key": key,
            "created_at": org.created_at}
