"""The one email sending domain of an org (a Resend domain), keyed by org id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist

from chalicelib.storage.base import is_condition_failure
from chalicelib.storage.tables import DomainModel


@dataclass
class DomainRecord:
    org_id: str
    data: dict[str, Any]
    created_at: str
    updated_at: str


class DomainRepository:
    def get(self, org_id: str) -> DomainRecord | None:
        try:
            item = DomainModel.get(org_id)
        except DoesNotExist:
            return None
        return DomainRecord(item.org_id, item.data or {}, item.created_at, item.updated_at)

    def put(self, rec: DomainRecord) -> None:
        DomainModel(rec.org_id, data=rec.data, created_at=rec.created_at, updated_at=rec.updated_at).save()

    def create(self, rec: DomainRecord) -> bool:
        """Store a first domain; False when the org already has one."""
        from pynamodb.exceptions import PutError

        try:
            DomainModel(rec.org_id, data=rec.data, created_at=rec.created_at, updated_at=rec.updated_at).save(
                condition=DomainModel.org_id.does_not_exist())
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def delete(self, org_id: str) -> bool:
        try:
            DomainModel(org_id).delete(condition=DomainModel.org_id.exists())
        except DeleteError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
