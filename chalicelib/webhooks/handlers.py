"""Webhook retry consumer: a Chalice ``on_sqs_message`` handler on the delay queue.

Each message names one pending delivery ``{"kind": "delivery", "org_id", "delivery_id"}``; the handler
runs its next attempt, which either settles it or schedules the following one with a new delayed
message. ``{"kind": "call_check", "org_id", "call_id"}`` ends a call Twilio reported completed when the
media service did not report its end in time (a crashed media task must not leave it in progress);
``{"kind": "web_call_check", ...}`` fails a browser call whose socket never connected before its token expired.
"""

from __future__ import annotations

import json
import logging
import os

from chalice.app import Blueprint

bp = Blueprint(__name__)
log = logging.getLogger("voice.webhooks")

# The queue name is a deployment setting (CDK passes it); read once when the app is built.
WEBHOOK_QUEUE_NAME = os.environ.get("WEBHOOK_QUEUE_NAME", "voice-dev-webhooks")


@bp.on_sqs_message(queue=WEBHOOK_QUEUE_NAME, batch_size=10)
def webhook_retry(event) -> None:  # noqa: ANN001 - chalice SQSEvent
    """Run the next attempt of every delivery named in the batch (and delayed call checks)."""
    from chalicelib.services.call_events import finalize_if_stale
    from chalicelib.services.web_calls import expire_unclaimed
    from chalicelib.webhooks.delivery import retry_delivery

    for record in event:
        try:
            msg = json.loads(record.body)
            if msg.get("kind") == "call_check":
                finalize_if_stale(msg["org_id"], msg["call_id"])
            elif msg.get("kind") == "web_call_check":
                expire_unclaimed(msg["org_id"], msg["call_id"])
            else:
                retry_delivery(msg["org_id"], msg["delivery_id"])
        except (ValueError, KeyError, TypeError, AttributeError):
            log.error("dropping malformed webhook queue message %s", record.body[:200])
