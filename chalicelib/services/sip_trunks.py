"""SIP trunk use cases (transfer targets). The password is write-only and stored encrypted."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib import errors
from chalicelib.crypto import decrypt_secret, encrypt_secret
from chalicelib.models.common import is_uuid
from chalicelib.models.resources import SipTrunkCreate
from chalicelib.storage.documents import Document
from chalicelib.storage.numbers import SipTrunkRepository
from chalicelib.timeutil import new_id, now_iso


@lru_cache(maxsize=1)
def repo() -> SipTrunkRepository:
    return SipTrunkRepository()


def _context(org_id: str, trunk_id: str) -> dict[str, str]:
    return {"org_id": org_id, "purpose": f"sip_trunk:{trunk_id}:password"}


def _public(doc: Document) -> dict[str, Any]:
    d = doc.data
    return {
        "id": doc.id,
        "org_id": doc.org_id,
        "name": d.get("name"),
        "host": d.get("host"),
        "port": d.get("port", 5060),
        "transport": d.get("transport", "udp"),
        "username": d.get("username"),
        "password_set": bool(doc.extra.get("password_enc")),
        "created_at": doc.created_at,
        "updated_at": doc.updated_at,
    }


def _get(org_id: str, trunk_id: str) -> Document:
    doc = repo().get(org_id, trunk_id) if is_uuid(trunk_id) else None
    if doc is None:
        raise errors.NotFound(f"SIP trunk {trunk_id} not found.")
    return doc


def create_trunk(org_id: str, body: SipTrunkCreate) -> dict[str, Any]:
    trunk_id = new_id()
    data = body.dump(exclude={"password"})
    password_enc = encrypt_secret(body.password, _context(org_id, trunk_id)) if body.password else None
    now = now_iso()
    doc = Document(org_id, trunk_id, data, now, now, {"password_enc": password_enc, "numbers_in_use": None})
    repo().create(doc)
    return _public(doc)


def list_trunks(org_id: str, limit: int = 100, offset: int = 0,
                cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of trunks (oldest first) and the cursor to continue from."""
    page = repo().page(org_id, limit, offset, cursor)
    return [_public(d) for d in page.items], page.next_cursor


def get_trunk(org_id: str, trunk_id: str, with_password: bool = False) -> dict[str, Any]:
    """The SipTrunk object; ``with_password`` adds the decrypted ``password`` (runtime transfers only,
    never an API response). NotFound for an unknown id or another org's trunk."""
    doc = _get(org_id, trunk_id)
    out = _public(doc)
    if with_password:
        blob = doc.extra.get("password_enc")
        out["password"] = decrypt_secret(blob, _context(org_id, trunk_id)) if blob else None
    return out


def delete_trunk(org_id: str, trunk_id: str) -> None:
    """Delete a trunk; 409 while a number uses it for transfers (checked atomically)."""
    if not is_uuid(trunk_id):
        raise errors.NotFound(f"SIP trunk {trunk_id} not found.")
    outcome = repo().delete_unused(org_id, trunk_id)
    if outcome == "missing":
        raise errors.NotFound(f"SIP trunk {trunk_id} not found.")
    if outcome == "in_use":
        raise errors.Conflict(f"SIP trunk {trunk_id} is used by a number for transfers; "
                              "unassign it from those numbers first.")
