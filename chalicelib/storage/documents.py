"""Tenant-owned JSON documents: tables keyed (org_id, id) with a ``data`` JSON attribute.

Assistants, tool templates, analysis templates, SIP trunks, numbers and campaigns share this
shape; the repository gives every one of them get/list/put/delete scoped to one org.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pynamodb.attributes import Attribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError
from pynamodb.models import Model

from chalicelib.errors import Conflict, InvalidRequest
from chalicelib.storage.base import is_condition_failure

M = TypeVar("M", bound=Model)


class Keyed(Protocol):
    """Anything listed oldest first by (created_at, id): documents, numbers."""

    id: str
    created_at: str


K = TypeVar("K", bound=Keyed)


@dataclass
class Document:
    org_id: str
    id: str
    data: dict[str, Any]
    created_at: str
    updated_at: str
    extra: dict[str, Any] = field(default_factory=dict)  # other attributes of the row (secrets ...)


@dataclass
class DocumentPage(Generic[K]):
    items: list[K]
    next_cursor: dict[str, Any] | None  # opaque key to pass back as ``cursor``; None at the end


def page_sorted(docs: list[K], org_id: str, limit: int, offset: int,
                cursor: dict[str, Any] | None) -> DocumentPage[K]:
    """Page over documents already sorted by (created_at, id); the cursor is the last item's key."""
    start = 0
    if cursor:
        if cursor.get("org_id") != org_id:
            raise InvalidRequest("'cursor' is not a valid cursor.", param="cursor")
        key = (str(cursor.get("created_at")), str(cursor.get("id")))
        start = next((n for n, d in enumerate(docs) if (d.created_at, d.id) > key), len(docs))
    chunk = docs[start + offset:start + offset + limit]
    more = start + offset + limit < len(docs)
    nxt = {"org_id": org_id, "id": chunk[-1].id, "created_at": chunk[-1].created_at} if more and chunk else None
    return DocumentPage(chunk, nxt)


def _checked_key(cursor: dict[str, Any], org_id: str) -> dict[str, Any]:
    """A client-supplied LastEvaluatedKey must be one of this org's index keys (else 400, never a 500)."""
    ok = set(cursor) == {"org_id", "id", "created_at"} and all(
        isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in cursor.values())
    if not ok or cursor["org_id"]["S"] != org_id:
        raise InvalidRequest("'cursor' is not a valid cursor.", param="cursor")
    return cursor


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
        """Every document of the org, oldest first (one paged Query; for internal use)."""
        index = getattr(self.model, "by_created", None)
        if index is not None:
            return [self._doc(i) for i in index.query(org_id)]
        docs = [self._doc(i) for i in self.model.query(org_id)]
        docs.sort(key=lambda d: (d.created_at, d.id))
        return docs

    def page(self, org_id: str, limit: int, offset: int = 0,
             cursor: dict[str, Any] | None = None) -> DocumentPage[Document]:
        """One page, oldest first: ``offset`` items skipped after ``cursor``, then ``limit`` items.

        Uses the ``by_created`` LSI when the model has one (a single Query of offset+limit items);
        without it, falls back to reading the partition (small tables only).
        """
        index = getattr(self.model, "by_created", None)
        if index is None:
            return page_sorted(self.list(org_id), org_id, limit, offset, cursor)
        want = offset + limit
        if cursor is not None:
            cursor = _checked_key(cursor, org_id)
        # One Query of offset+limit+1 items: the extra item only says whether another page exists.
        rows = list(index.query(org_id, limit=want + 1, page_size=min(want + 1, 1000), last_evaluated_key=cursor))
        items = [self._doc(i) for i in rows[:want]][offset:]
        nxt = None
        if len(rows) > want and items:
            last = items[-1]
            nxt = {"org_id": {"S": org_id}, "id": {"S": last.id}, "created_at": {"S": last.created_at}}
        return DocumentPage(items, nxt)

    def count(self, org_id: str) -> int:
        return self.model.count(org_id)

    def _hash_key(self) -> Attribute[Any]:
        attribute = self.model._hash_key_attribute()  # pyright: ignore[reportPrivateUsage] - pynamodb's only accessor
        if attribute is None:
            raise TypeError(f"{self.model.__name__} has no hash key")
        return attribute

    def create(self, doc: Document) -> Document:
        """Insert a new document; Conflict when the id is already taken in this org."""
        item = self._item(doc)
        try:
            item.save(condition=self._hash_key().does_not_exist())
        except PutError as exc:
            if is_condition_failure(exc):
                raise Conflict(f"Document {doc.id} already exists.") from None
            raise
        return doc

    def replace(self, doc: Document) -> bool:
        """Overwrite an existing document; False when it no longer exists."""
        item = self._item(doc)
        try:
            item.save(condition=self._hash_key().exists())
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def delete(self, org_id: str, doc_id: str) -> bool:
        try:
            self.model(org_id, doc_id).delete(condition=self._hash_key().exists())
        except DeleteError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
