"""Browser calls and live listening: the web-call use case and the signed socket URLs of the media service.

A web call is a normal call row (``direction`` ``web``, webhooks' ``web_call``) whose audio arrives
over the media service's ``/web/{call_id}`` WebSocket instead of a Twilio Media Stream. Its URL carries
a short-lived token bound to the call; the media service claims the row when the socket connects
(``queued`` -> ``ringing``, one conditional write), so the token opens one socket only. A call whose
socket never connects is failed (``no_answer``) by a delayed check after the token expired.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from chalicelib.models.calls import WebCallRequest
from chalicelib.security import WEB_TOKEN_TTL_SECONDS
from chalicelib.services.call_secrets import encrypt_call_secrets
from chalicelib.services.calls import check_balance, repo, resolve_call_assistant
from chalicelib.services.media_urls import media_socket_url
from chalicelib.storage.calls import Call
from chalicelib.timeutil import iso, new_id, now_iso

log = logging.getLogger("voice.calls")

EXPIRY_CHECK_SLACK_SECONDS = 5  # the delayed check runs a little after the token can no longer be used


def create_web_call(org_id: str, body: dict[str, Any], *, test_run_id: str | None = None) -> dict[str, Any]:
    """Write the call row (``queued``, direction ``web``) and answer its single-use socket URL.

    A ``test_run_id`` marks an eval's test call (docs/evals.md): not refused for an empty balance, not billed."""
    req = WebCallRequest.model_validate(body)  # ValidationError -> 400 at the API edge
    if not test_run_id:
        check_balance(org_id)
    resolved = resolve_call_assistant(org_id, req, None)
    config = resolved.config

    call_id, now = new_id(), now_iso()
    data: dict[str, Any] = {
        "assistant_id": resolved.assistant_id,
        "agent_name": config.get("name"),
        "business_name": config.get("business_name"),
        "config": config,
        "first_message": config.get("first_message"),
        "context": req.context,
        "metadata": config.get("metadata"),
        "test_run_id": test_run_id,
        "secret_assistant_id": resolved.assistant_id if resolved.saved else None,
        "secrets_enc": encrypt_call_secrets(org_id, call_id, resolved.secrets) or None,
    }
    repo().create(Call(org_id, call_id, "queued", "web", now, now, data=data))
    expires = int(time.time()) + WEB_TOKEN_TTL_SECONDS
    _schedule_expiry(org_id, call_id)
    return {"call_id": call_id, "websocket_url": media_socket_url("web", call_id, org_id, expires),
            "expires_at": iso(datetime.fromtimestamp(expires, UTC))}


def _schedule_expiry(org_id: str, call_id: str) -> None:
    from chalicelib.webhooks.delivery import enqueue

    try:
        enqueue({"kind": "web_call_check", "org_id": org_id, "call_id": call_id},
                WEB_TOKEN_TTL_SECONDS + EXPIRY_CHECK_SLACK_SECONDS)
    except Exception:  # noqa: BLE001 - the call is placed; a lost check only leaves an unused row queued
        log.exception("web call %s: expiry check not scheduled", call_id)


def expire_unclaimed(org_id: str, call_id: str) -> Call | None:
    """Fail a web call whose socket never connected (its token has expired); None when it did connect."""
    from chalicelib.services.call_events import finalize

    current = repo().get(org_id, call_id)
    if current is None or current.direction != "web" or current.status != "queued":
        return None
    return finalize(org_id, call_id, "failed", end_reason="no_answer",
                    error="The browser did not connect before the call's token expired.")


def claim_socket(org_id: str, call_id: str) -> Call | None:
    """The media service takes a web call's socket: ``queued`` -> ``ringing`` once (check-and-set).

    None when the call does not exist, is not a web call, or its socket was already claimed.
    """
    current = repo().get(org_id, call_id)
    if current is None or current.direction != "web":
        return None
    return repo().set_status(org_id, call_id, "ringing", from_statuses=("queued",),
                             data_updates={"socket_connected_at": now_iso()})
