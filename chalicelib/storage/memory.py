"""In-memory DocumentRepository: same contract as the pynamodb one (tests, experiments).

The contract suite in tests/foundation/test_storage_contract.py runs against both.
"""

from __future__ import annotations

import copy
from typing import Any

from chalicelib.errors import Conflict
from chalicelib.storage.documents import Document, DocumentPage, page_sorted


class MemoryDocumentRepository:
    def __init__(self, extra_attrs: tuple[str, ...] = ()):
        self.extra_attrs = extra_attrs
        self._rows: dict[tuple[str, str], Document] = {}

    def _copy(self, doc: Document) -> Document:
        extra = {a: doc.extra.get(a) for a in self.extra_attrs}
        return Document(doc.org_id, doc.id, copy.deepcopy(doc.data), doc.created_at, doc.updated_at,
                        copy.deepcopy(extra))

    def get(self, org_id: str, doc_id: str) -> Document | None:
        doc = self._rows.get((org_id, doc_id))
        return self._copy(doc) if doc else None

    def list(self, org_id: str) -> list[Document]:
        docs = [self._copy(d) for (o, _), d in self._rows.items() if o == org_id]
        docs.sort(key=lambda d: (d.created_at, d.id))
        return docs

    def page(self, org_id: str, limit: int, offset: int = 0, cursor: dict[str, Any] | None = None) -> DocumentPage:
        return page_sorted(self.list(org_id), org_id, limit, offset, cursor)

    def count(self, org_id: str) -> int:
        return sum(1 for (o, _) in self._rows if o == org_id)

    def create(self, doc: Document) -> Document:
        if (doc.org_id, doc.id) in self._rows:
            raise Conflict(f"Document {doc.id} already exists.")
        self._rows[(doc.org_id, doc.id)] = self._copy(doc)
        return doc

    def replace(self, doc: Document) -> bool:
        if (doc.org_id, doc.id) not in self._rows:
            return False
        self._rows[(doc.org_id, doc.id)] = self._copy(doc)
        return True

    def delete(self, org_id: str, doc_id: str) -> bool:
        return self._rows.pop((org_id, doc_id), None) is not None
