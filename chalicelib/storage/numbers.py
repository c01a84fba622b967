"""Phone numbers, their deployment-wide claims, and SIP trunks.

A number row (org_id, id) and its claim row (phone_number) are written and removed together in one
DynamoDB transaction: the claim's ``attribute_not_exists`` condition is what makes an E.164 number
unique across the deployment, with no read-then-write race. The same transactions keep the
``numbers_in_use`` counter of the transfer trunk, so a trunk in use cannot be deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.aws import aws_region
from chalicelib.storage.base import is_condition_failure
from chalicelib.storage.documents import Document, DocumentRepository, page_sorted
from chalicelib.storage.tables import AssistantModel, NumberClaimModel, NumberModel, SipTrunkModel


@dataclass
class NumberRecord:
    org_id: str
    id: str
    phone_number: str
    data: dict[str, Any]
    created_at: str
    updated_at: str


class NumberWriteConflict(Exception):
    """A number transaction was cancelled; ``reason`` says which condition failed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "claimed" | "trunk_missing" | "number_missing"


@dataclass
class NameLookup:
    """Display names of assistants and trunks referenced by numbers (one BatchGet per table)."""

    assistants: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"name", "business_name"}
    trunks: dict[str, str | None] = field(default_factory=dict)  # id -> name


def _record(item: NumberModel) -> NumberRecord:
    return NumberRecord(item.org_id, item.id, item.phone_number, item.data or {}, item.created_at,
                        item.updated_at)


def _route(rec: NumberRecord) -> dict[str, Any]:
    return {"data": rec.data, "created_at": rec.created_at, "updated_at": rec.updated_at}


def _claim(rec: NumberRecord) -> NumberClaimModel:
    return NumberClaimModel(rec.phone_number, org_id=rec.org_id, number_id=rec.id, route=_route(rec))


def _item(rec: NumberRecord) -> NumberModel:
    return NumberModel(rec.org_id, rec.id, phone_number=rec.phone_number, data=rec.data,
                       created_at=rec.created_at, updated_at=rec.updated_at)


def _tx() -> TransactWrite:
    return TransactWrite(connection=Connection(region=aws_region()))


def _trunk_add(tx: TransactWrite, org_id: str, trunk_id: str, delta: int) -> None:
    # Only an increment needs the trunk to exist: a referenced trunk cannot be deleted (its counter
    # is above 0), so a decrement always finds it.
    condition = SipTrunkModel.id.exists() if delta > 0 else None
    tx.update(SipTrunkModel(org_id, trunk_id), actions=[SipTrunkModel.numbers_in_use.add(delta)],
              condition=condition)


def _reason(exc: TransactWriteError, labels: list[str]) -> str:
    """Name the first cancelled item of a transaction (labels follow the order of the writes)."""
    reasons = exc.cancellation_reasons or []
    for label, reason in zip(labels, reasons, strict=False):
        if reason is not None and reason.code == "ConditionalCheckFailed":
            return label
    raise exc


class NumberRepository:
    def get(self, org_id: str, number_id: str) -> NumberRecord | None:
        try:
            return _record(NumberModel.get(org_id, number_id))
        except DoesNotExist:
            return None

    def list(self, org_id: str) -> list[NumberRecord]:
        """Every number of the org, oldest first (one paged Query; an org has few numbers)."""
        out = [_record(i) for i in NumberModel.query(org_id)]
        out.sort(key=lambda r: (r.created_at, r.id))
        return out

    def page(self, org_id: str, limit: int, offset: int = 0,
             cursor: dict[str, Any] | None = None) -> tuple[list[NumberRecord], dict[str, Any] | None]:
        """One page, oldest first, and the cursor of its last item (None at the end)."""
        page = page_sorted(self.list(org_id), org_id, limit, offset, cursor)
        return page.items, page.next_cursor

    def get_by_phone(self, phone_number: str) -> NumberRecord | None:
        """The number registered under an E.164 number: one GetItem on its claim (which carries a
        copy of the number row); a second GetItem only for claims written without that copy."""
        try:
            item = NumberClaimModel.get(phone_number)
        except DoesNotExist:
            return None
        if item.route:
            r = item.route
            return NumberRecord(item.org_id, item.number_id, item.phone_number, r.get("data") or {},
                                r.get("created_at", ""), r.get("updated_at", ""))
        return self.get(item.org_id, item.number_id)

    def create(self, rec: NumberRecord) -> None:
        """Put the number and its claim (and count it on its trunk) atomically.

        Raises NumberWriteConflict("claimed") when any org already holds the number and
        NumberWriteConflict("trunk_missing") when the transfer trunk is gone.
        """
        labels = ["number", "claimed"]
        try:
            with _tx() as tx:
                tx.save(_item(rec), condition=NumberModel.id.does_not_exist())
                tx.save(_claim(rec), condition=NumberClaimModel.phone_number.does_not_exist())
                trunk_id = rec.data.get("transfer_trunk_id")
                if trunk_id:
                    _trunk_add(tx, rec.org_id, trunk_id, 1)
                    labels.append("trunk_missing")
        except TransactWriteError as exc:
            raise NumberWriteConflict(_reason(exc, labels)) from exc

    def replace(self, rec: NumberRecord, old_trunk_id: str | None) -> None:
        """Overwrite an existing number; moves the trunk reference when it changed."""
        new_trunk_id = rec.data.get("transfer_trunk_id")
        labels = ["number_missing"]
        try:
            with _tx() as tx:
                tx.save(_item(rec), condition=NumberModel.id.exists())
                tx.update(NumberClaimModel(rec.phone_number), actions=[NumberClaimModel.route.set(_route(rec))],
                          condition=NumberClaimModel.number_id == rec.id)
                labels.append("number_missing")
                if new_trunk_id != old_trunk_id:
                    if new_trunk_id:
                        _trunk_add(tx, rec.org_id, new_trunk_id, 1)
                        labels.append("trunk_missing")
                    if old_trunk_id:
                        _trunk_add(tx, rec.org_id, old_trunk_id, -1)
                        labels.append("old_trunk")
        except TransactWriteError as exc:
            raise NumberWriteConflict(_reason(exc, labels)) from exc

    def delete(self, rec: NumberRecord) -> bool:
        """Remove the number, release its claim and its trunk reference. False when already gone."""
        try:
            with _tx() as tx:
                tx.delete(NumberModel(rec.org_id, rec.id), condition=NumberModel.id.exists())
                tx.delete(NumberClaimModel(rec.phone_number), condition=NumberClaimModel.number_id == rec.id)
                trunk_id = rec.data.get("transfer_trunk_id")
                if trunk_id:
                    _trunk_add(tx, rec.org_id, trunk_id, -1)
        except TransactWriteError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def names(self, org_id: str, assistant_ids: set[str], trunk_ids: set[str]) -> NameLookup:
        """Resolve display names with one BatchGetItem per table (no per-number GetItem)."""
        out = NameLookup()
        if assistant_ids:
            for item in AssistantModel.batch_get([(org_id, a) for a in assistant_ids]):
                data = item.data or {}
                out.assistants[item.id] = {"name": data.get("name"), "business_name": data.get("business_name")}
        if trunk_ids:
            for item in SipTrunkModel.batch_get([(org_id, t) for t in trunk_ids]):
                out.trunks[item.id] = (item.data or {}).get("name")
        return out


class SipTrunkRepository(DocumentRepository[SipTrunkModel]):
    """SIP trunks: documents plus the encrypted password and the in-use counter."""

    def __init__(self) -> None:
        super().__init__(SipTrunkModel, extra_attrs=("password_enc", "numbers_in_use"))

    def delete_unused(self, org_id: str, trunk_id: str) -> str:
        """Delete a trunk no number uses. Returns "deleted", "missing" or "in_use"."""
        unused = SipTrunkModel.numbers_in_use.does_not_exist() | (SipTrunkModel.numbers_in_use <= 0)
        try:
            SipTrunkModel(org_id, trunk_id).delete(condition=SipTrunkModel.id.exists() & unused)
        except DeleteError as exc:
            if not is_condition_failure(exc):
                raise
            return "in_use" if self.get(org_id, trunk_id) is not None else "missing"
        return "deleted"


__all__ = ["Document", "NameLookup", "NumberRecord", "NumberRepository", "NumberWriteConflict",
           "SipTrunkRepository"]
