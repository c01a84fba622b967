"""``test-run.completed``: the run's outcome, signed like every webhook we send (docs/webhooks.md).

Sent to the ``webhook_url`` of the run's assistant (version A) when that assistant lists
``test-run.completed`` in ``webhook_events``, signed with its ``webhook_secret``. Delivered like
status-update: recorded in webhook_deliveries and retried through the delay queue for up to 15 minutes.
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.jsonvalue import as_object
from chalicelib.storage.evals import Run
from chalicelib.storage.webhooks import Delivery
from chalicelib.timeutil import now_iso

log = logging.getLogger("voice.evals")
EVENT = "test-run.completed"
# The delivery row keeps the exact body for retries and DynamoDB items stop at 400 KB: a body larger
# than this goes without ``results`` (the receiver reads them from GET /test-runs/{id}).
MAX_BODY_BYTES = 300_000


def envelope(run_view: dict[str, Any]) -> dict[str, Any]:
    return {"message": {"type": EVENT, "timestamp": now_iso(), "test_run": run_view}}


def bounded_envelope(run_view: dict[str, Any]) -> dict[str, Any]:
    """The envelope, without the per-attempt results when they would make it too large to keep."""
    from chalicelib.webhooks.delivery import encode

    payload = envelope(run_view)
    if len(encode(payload)) <= MAX_BODY_BYTES:
        return payload
    slim = {k: v for k, v in run_view.items() if k != "results"}
    return envelope({**slim, "results_omitted": True})


def send_run_completed(run: Run, view: dict[str, Any]) -> Delivery | None:
    """Deliver the event (``view``: the run as the API shows it) when the assistant subscribes to it.

    Returns the recorded delivery (None when not sent)."""
    from chalicelib.services.assistants import repo as assistants
    from chalicelib.webhooks.delivery import deliver

    assistant_id = as_object(as_object(run.data.get("versions")).get("a")).get("assistant_id")
    doc = assistants().get(run.org_id, str(assistant_id)) if assistant_id else None
    if doc is None:
        return None
    url = doc.data.get("webhook_url")
    if not url or EVENT not in (doc.data.get("webhook_events") or []):
        return None
    delivery = deliver(run.org_id, EVENT, str(url), bounded_envelope(view), secret_assistant_id=doc.id,
                       subject={"test_run_id": run.id})
    if delivery.status != "delivered":
        log.warning("test-run.completed for run %s: %s (%s)", run.id, delivery.status,
                    delivery.data.get("last_error"))
    return delivery
