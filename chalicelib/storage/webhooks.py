"""Webhook deliveries: one row per (event, call) delivery with every attempt recorded in ``data``.

``data`` keys: url, body (the exact bytes sent, as text), attempts ([{at, status_code, error,
duration_ms}]), next_attempt_at, first_attempt_at, secret_source, last_error.

Each call also has one counter row (id ``seq#<call_id>``) from which its events take their
``sequence`` numbers; the repository never returns it as a delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.storage.base import is_condition_failure
from chalicelib.storage.tables import WebhookDeliveryModel
from chalicelib.timeutil import now_iso


@dataclass
class Delivery:
    org_id: str
    id: str
    call_id: str | None
    event: str
    status: str  # held (waiting behind an earlier event of its call) | pending | delivered | failed
    created_at: str
    updated_at: str
    data: dict[str, Any] = field(default_factory=dict)
    sequence: int | None = None  # the event's number within its call (1, 2, ...)


COUNTER_PREFIX = "seq#"


def _delivery(item: WebhookDeliveryModel) -> Delivery:
    return Delivery(item.org_id, item.id, item.call_id, item.event, item.status, item.created_at,
                    item.updated_at, item.data or {}, int(item.sequence) if item.sequence is not None else None)


def _item(d: Delivery) -> WebhookDeliveryModel:
    return WebhookDeliveryModel(d.org_id, d.id, call_id=d.call_id, event=d.event, status=d.status,
                                created_at=d.created_at, updated_at=d.updated_at, data=d.data,
                                sequence=d.sequence)


class WebhookDeliveryRepository:
    def create(self, d: Delivery) -> Delivery:
        _item(d).save(condition=WebhookDeliveryModel.id.does_not_exist())
        return d

    def get(self, org_id: str, delivery_id: str) -> Delivery | None:
        try:
            return _delivery(WebhookDeliveryModel.get(org_id, delivery_id))
        except DoesNotExist:
            return None

    def save(self, d: Delivery, *, expect_updated_at: str | None = None) -> bool:
        """Overwrite; with ``expect_updated_at`` only if nobody wrote it since (duplicate SQS messages)."""
        d.updated_at = now_iso()
        condition = WebhookDeliveryModel.id.exists()
        if expect_updated_at is not None:
            condition = condition & (WebhookDeliveryModel.updated_at == expect_updated_at)
        try:
            _item(d).save(condition=condition)
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def for_call(self, org_id: str, call_id: str) -> list[Delivery]:
        """Deliveries of one call (a query on the org's partition filtered by call id)."""
        items = WebhookDeliveryModel.query(org_id, filter_condition=WebhookDeliveryModel.call_id == call_id)
        out = [_delivery(i) for i in items if not i.id.startswith(COUNTER_PREFIX)]
        out.sort(key=lambda d: (d.sequence if d.sequence is not None else 0, d.created_at))
        return out

    def next_sequence(self, org_id: str, call_id: str) -> int:
        """The next event number of a call (1, 2, ...): one atomic ADD on the call's counter row."""
        now = now_iso()
        counter = WebhookDeliveryModel(org_id, COUNTER_PREFIX + call_id)
        counter.update(actions=[
            WebhookDeliveryModel.sequence.add(1),
            WebhookDeliveryModel.event.set(WebhookDeliveryModel.event | "sequence"),
            WebhookDeliveryModel.status.set("counter"),
            WebhookDeliveryModel.created_at.set(WebhookDeliveryModel.created_at | now),
            WebhookDeliveryModel.updated_at.set(now),
        ])
        return int(counter.sequence or 0)

    def list(self, org_id: str, *, status: str | None = None) -> list[Delivery]:
        cond = WebhookDeliveryModel.status == status if status else None
        out = [_delivery(i) for i in WebhookDeliveryModel.query(org_id, filter_condition=cond)
               if not i.id.startswith(COUNTER_PREFIX)]
        out.sort(key=lambda d: d.created_at)
        return out
