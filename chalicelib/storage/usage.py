"""Usage logs: one row per finished call, sorted by ``<created_at>#<id>`` within an org."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.storage.tables import UsageModel
from chalicelib.timeutil import new_id, now_iso

# Upper bound for a sort key that starts with a timestamp: sorts after "<ts>#<any id>".
HIGH = "\uffff"


class UsageRepository:
    def add(self, org_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """Write one usage log. ``id`` and ``created_at`` are set here (``created_at`` may be given
        explicitly for backfills and tests). Returns the stored record."""
        data = dict(record)
        usage_id = new_id()
        created_at = data.pop("created_at", None) or now_iso()
        data.pop("id", None)
        UsageModel(org_id, f"{created_at}#{usage_id}", id=usage_id, data=data, created_at=created_at).save()
        return {"id": usage_id, **data, "created_at": created_at}

    def iterate(self, org_id: str, lo: str | None = None, hi: str | None = None,
                 page_size: int = 500) -> Iterator[tuple[str, dict[str, Any]]]:
        """Logs newest first as (sort key, record) with ``lo <= sort key <= hi``.

        Sort keys are ``<created_at>#<id>``: pass ``hi = <ts> + HIGH`` to include ``<ts>`` itself.
        One Query (paged by DynamoDB at 1 MB); never a Scan."""
        condition = UsageModel.sk.between(lo or "0", hi or HIGH)  # DynamoDB rejects an empty bound
        for item in UsageModel.query(org_id, condition, scan_index_forward=False, page_size=page_size):
            yield item.sk, {"id": item.id, **(item.data or {}), "created_at": item.created_at}
