"""The media service's calls into the control plane (call rows, lifecycle events, tool webhooks).

Everything here is synchronous (pynamodb, boto3, httpx in the shared code) and is run in a thread
by the session so the event loop serving audio never blocks.
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.storage.calls import Call, CallRepository

log = logging.getLogger("voice.media.control_plane")


def load_call(org_id: str, call_id: str) -> Call | None:
    return CallRepository().get(org_id, call_id)


def call_started(org_id: str, call_id: str, control_url: str) -> None:
    from chalicelib.services.call_events import call_started as started

    started(org_id, call_id, control_url=control_url)


def call_ended(org_id: str, call_id: str, **kwargs: Any) -> None:
    from chalicelib.services.call_events import call_ended as ended

    ended(org_id, call_id, **kwargs)


def tool_secret(org_id: str, call_id: str, assistant_id: str | None, tool_name: str, own_url: bool) -> str | None:
    """The tool's own secret when it has its own URL, else the assistant's webhook secret.

    Read through the call row: secrets sent with a transient assistant or overrides live encrypted
    on the row (``secrets_enc``), a saved assistant's on the assistant (``secret_assistant_id``).
    """
    from chalicelib.services.calls import secret_for_call

    call = CallRepository().get(org_id, call_id)
    if call is None:
        return None
    if "secret_assistant_id" not in call.data and not call.data.get("secrets_enc") and assistant_id:
        # A row written before secrets were resolved per call: read the saved assistant directly.
        call.data = {**call.data, "secret_assistant_id": assistant_id}
    if own_url:
        return secret_for_call(call, f"tool:{tool_name}") or secret_for_call(call, "webhook_secret")
    return secret_for_call(call, "webhook_secret")


def call_tool_webhook(url: str, secret: str | None, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    from chalicelib.webhooks.delivery import call_tool_webhook as deliver

    return deliver(url, secret, payload, timeout=timeout)


def transfer_trunk(org_id: str, number_id: str | None) -> dict[str, Any] | None:
    """The number's transfer trunk (with password) or None."""
    if not number_id:
        return None
    from chalicelib import errors
    from chalicelib.services.numbers import get_number
    from chalicelib.services.sip_trunks import get_trunk

    try:
        number = get_number(org_id, number_id)
        if not number.get("transfer_trunk_id"):
            return None
        return get_trunk(org_id, number["transfer_trunk_id"], with_password=True)
    except errors.NotFound:
        return None
