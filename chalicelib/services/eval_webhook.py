"""``test-run.completed``: the run's outcome, signed like every webhook we send (docs/webhooks.md).

Sent to the ``webhook_url`` of the run's assistant (version A) when that assistant lists
``test-run.completed`` in ``webhook_events``, with its ``webhook_secret``. One attempt: the run
itself stays readable at ``GET /test-runs/{id}``, and the attempt is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.jsonvalue import as_object
from chalicelib.storage.evals import Run
from chalicelib.timeutil import now_iso

log = logging.getLogger("voice.evals")
EVENT = "test-run.completed"


def envelope(run_view: dict[str, Any]) -> dict[str, Any]:
    return {"message": {"type": EVENT, "timestamp": now_iso(), "test_run": run_view}}


def send_run_completed(run: Run, view: dict[str, Any]) -> dict[str, Any] | None:
    """POST the event (``view``: the run as the API shows it) when the assistant subscribes to it.

    Returns the attempt (None when not sent)."""
    from chalicelib.services.assistants import repo as assistants
    from chalicelib.services.assistants import secret_for
    from chalicelib.webhooks.delivery import DEFAULT_TIMEOUT, encode, post

    assistant_id = as_object(as_object(run.data.get("versions")).get("a")).get("assistant_id")
    doc = assistants().get(run.org_id, str(assistant_id)) if assistant_id else None
    if doc is None:
        return None
    url = doc.data.get("webhook_url")
    if not url or EVENT not in (doc.data.get("webhook_events") or []):
        return None
    body = encode(envelope(view))
    attempt = post(str(url), EVENT, body, secret_for(doc, "webhook_secret"), DEFAULT_TIMEOUT)
    if attempt.get("error"):
        log.warning("test-run.completed for run %s not delivered: %s", run.id, attempt["error"])
    return attempt
