"""BYOK provider keys: one row per (org, provider), holding only the envelope ciphertext."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import DeleteError, DoesNotExist

from chalicelib.storage.base import is_condition_failure
from chalicelib.storage.tables import ByokKeyModel


@dataclass
class ByokKey:
    org_id: str
    provider: str
    secret_id: str
    ciphertext: str
    created_at: str
    updated_at: str


def _key(item: ByokKeyModel) -> ByokKey:
    return ByokKey(item.org_id, item.provider, item.secret_id, item.ciphertext, item.created_at, item.updated_at)


class ByokRepository:
    def list(self, org_id: str) -> list[ByokKey]:
        return [_key(i) for i in ByokKeyModel.query(org_id)]

    def get(self, org_id: str, provider: str) -> ByokKey | None:
        try:
            return _key(ByokKeyModel.get(org_id, provider))
        except DoesNotExist:
            return None

    def put(self, key: ByokKey) -> None:
        """Add or replace (rotation) the key of one provider."""
        ByokKeyModel(key.org_id, key.provider, secret_id=key.secret_id, ciphertext=key.ciphertext,
                     created_at=key.created_at, updated_at=key.updated_at).save()

    def delete(self, org_id: str, provider: str) -> bool:
        try:
            ByokKeyModel(org_id, provider).delete(condition=ByokKeyModel.provider.exists())
        except DeleteError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
