"""Tenant-owned JSON documents: tables keyed (org_id, id) with a ``data`` JSON attribute.

Assistants, tool templates, analysis templates, SIP trunks, numbers and campaigns share this
shape; the repository gives every one of them get/list/put/delete scoped to one org.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError
from pynamodb.models import Model

from chalicelib.storage.base import is_condition_failure

M = TypeVar("M", bound=Model)


@dataclass
class Document:
    org_id: str
    id: str
    data: dict[str, Any]
    created_at: str
    updated_at: str
    extra: dict[str, Any] = field(default_factory=dict)  # other attributes of the row (secrets ...)


class DocumentRepository(Generic[M]):
    """CRUD for one document table. ``extra_attrs`` names extra columns copied in and out."""

    def __init__(self, model: type[M], extra_attrs: tuple[str, ...] = ()):
        self.model = model
        self.extra_attrs = extra_attrs

    def _doc(self, item: Any) -> Document:
        return Document(
            org_id=item.org_id, id=item.id, data=item.data or {}, created_at=item.created_at,
            updated_at=item.updated_at, extra={a: getattr(item, a) for a in self.extra_attrs},
        )

    def _item(self, doc: Document) -> Any:
        return self.model(doc.org_id, doc.id, data=doc.data, created_at=doc.created_at,
                          updated_at=doc.updated_at, **doc.extra)

    def get(self, org_id: str, doc_id: str) -> Document | None:
        try:
            return self._doc(self.model.get(org_id, doc_id))
        except DoesNotExist:
            return None

    def list(self, org_id: str) -> list[Document]:
        docs = [self._doc(i) for i in self.model.query(org_id)]
        docs.sort(key=lambda d: d.created_at)
        return docs

    def count(self, org_id: str) -> int:
        return self.model.count(org_id)

    def create(self, doc: Document) -> Document:
        item = self._item(doc)
        item.save(condition=self.model._hash_key_attribute().does_not_exist())
        return doc

    def replace(self, doc: Document) -> bool:
        """Overwrite an existing document; False when it no longer exists."""
        item = self._item(doc)
        try:
            item.save(condition=self.model._hash_key_attribute().exists())
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def delete(self, org_id: str, doc_id: str) -> bool:
        try:
            self.model(org_id, doc_id).delete(condition=self.model._hash_key_attribute().exists())
        except DeleteError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
