"""Inbound calls: Twilio's voice webhook for a number -> TwiML.

Number lookup -> saved assistant -> optional assistant-request webhook (5 s; every response form
of the contract; on timeout or error the saved config is used) -> call row (``ringing``) -> the
same ``<Connect><Stream>`` TwiML as outbound calls.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from chalicelib import errors
from chalicelib.jsonvalue import object_or_none
from chalicelib.services import media_client
from chalicelib.services.call_secrets import encrypt_call_secrets
from chalicelib.settings import get_settings
from chalicelib.storage.calls import Call
from chalicelib.telephony.twiml import say_and_hang_up
from chalicelib.timeutil import new_id, now_iso

log = logging.getLogger("voice.calls")

NOT_AVAILABLE = "Sorry, this number is not available right now. Goodbye."
NO_CREDITS = "Sorry, this service is currently unavailable. Please try again later. Goodbye."
BUSY = "Sorry, all our agents are busy right now. Please call again in a few minutes. Goodbye."


def _first(answer: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in answer:
            return answer[name]
    return None


def apply_assistant_answer(org_id: str, answer: dict[str, Any], saved: Any) -> tuple[Any, str | None]:
    """Apply an assistant-request answer to the saved resolution. Returns (resolved, rejection)."""
    from chalicelib.services.calls import resolve_assistant, validate_assistant_fields

    rejection = answer.get("error")
    if rejection:
        return saved, str(rejection)
    resolved = saved
    try:
        other_id = _first(answer, "assistant_id", "assistantId")
        override_block = object_or_none(_first(answer, "assistant_override", "assistantOverride"))
        inline = object_or_none(answer.get("assistant"))
        if other_id:
            override = validate_assistant_fields(override_block) if override_block is not None else None
            resolved = resolve_assistant(org_id, assistant_id=str(other_id), override=override)
        elif inline is not None:
            override = validate_assistant_fields(inline)
            resolved = resolve_assistant(org_id, assistant_id=saved.assistant_id, override=override,
                                         check_active=False)
    except (ValidationError, errors.ApiError) as exc:
        log.warning("assistant-request answer not usable (%s); using the saved assistant", type(exc).__name__)
        resolved = saved
    cap = _first(answer, "max_duration_seconds", "maxDurationSeconds")
    if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0:
        resolved.config["max_duration_seconds"] = cap
    return resolved, None


def handle_voice(form: dict[str, str]) -> str:
    """Answer Twilio's incoming-call webhook with TwiML."""
    from chalicelib.services import numbers
    from chalicelib.services.assistants import get_document, secret_for
    from chalicelib.services.calls import (
        check_complete,
        repo,
        resolve_assistant,
        stream_twiml_for,
    )

    call_sid = form.get("CallSid") or ""
    existing = repo().find_by_twilio_sid(call_sid) if call_sid else None
    if existing is not None:  # Twilio retried the webhook: answer the same way, create nothing
        call = repo().get(*existing)
        if call is not None and call.is_live:
            return stream_twiml_for(call)
        return say_and_hang_up((call.data.get("refusal") if call else None) or NOT_AVAILABLE)

    number = numbers.lookup_inbound(form.get("To") or "")
    if not number or not number.get("is_active", True) or not number.get("agent_id"):
        return say_and_hang_up(NOT_AVAILABLE)
    org_id = number["org_id"]
    try:
        doc = get_document(org_id, number["agent_id"])
        saved = resolve_assistant(org_id, assistant_id=doc.id)
    except errors.ApiError:  # deleted or inactive assistant
        return say_and_hang_up(NOT_AVAILABLE)

    call_id = new_id()
    now = now_iso()
    data: dict[str, Any] = {
        "assistant_id": doc.id, "number_id": number["id"], "number_name": number.get("name"),
        "transfer_trunk_id": number.get("transfer_trunk_id"), "caller_phone": form.get("From"),
        "assistant_phone": number["phone_number"], "secret_assistant_id": doc.id,
    }

    if not _has_balance(org_id):
        _refused(org_id, call_id, call_sid, data, saved.config, "insufficient_credits", NO_CREDITS,
                 "The organization has no minutes left.")
        return say_and_hang_up(NO_CREDITS)

    config = saved.config
    resolved = saved
    if config.get("webhook_url") and "assistant-request" in (config.get("webhook_events") or []):
        from chalicelib.webhooks.delivery import build_envelope, request_assistant

        probe = Call(org_id, call_id, "ringing", "inbound", now, now, twilio_call_sid=call_sid,
                     data={**data, "config": config, "metadata": config.get("metadata")})
        answer = request_assistant(config["webhook_url"], secret_for(doc, "webhook_secret"),
                                   build_envelope("assistant-request", probe))
        if answer is not None:
            resolved, rejection = apply_assistant_answer(org_id, answer, saved)
            if rejection:
                _refused(org_id, call_id, call_sid, data, config, "assistant_request_rejected", rejection,
                         rejection)
                return say_and_hang_up(rejection)
        config = resolved.config
    try:
        check_complete(config)
    except errors.ApiError as exc:
        _refused(org_id, call_id, call_sid, data, config, "error", NOT_AVAILABLE, exc.message)
        return say_and_hang_up(NOT_AVAILABLE)

    data.update({
        "assistant_id": resolved.assistant_id, "config": config, "agent_name": config.get("name"),
        "business_name": config.get("business_name"), "first_message": config.get("first_message"),
        "metadata": config.get("metadata"), "secret_assistant_id": resolved.assistant_id,
        "secrets_enc": encrypt_call_secrets(org_id, call_id, resolved.secrets) or None,
    })
    call = repo().create(Call(org_id, call_id, "ringing", "inbound", now, now, twilio_call_sid=call_sid, data=data))
    if media_client.admit(org_id, call_id) is media_client.Admission.FULL:
        # Every media task is at capacity: a short busy message, and the caller is not connected.
        repo().set_status(org_id, call_id, "failed", from_statuses=("ringing",),
                          data_updates={"end_reason": "busy", "error": "capacity_exceeded", "refusal": BUSY,
                                        "ended_at": now_iso(), "duration_seconds": 0})
        return say_and_hang_up(BUSY)
    return stream_twiml_for(call)


def _has_balance(org_id: str) -> bool:
    if not get_settings().billing_enforcement:
        return True
    from chalicelib.storage.orgs import OrgRepository

    org = OrgRepository().get(org_id)
    return org is not None and org.minutes_balance > 0


def _refused(org_id: str, call_id: str, call_sid: str, data: dict[str, Any], config: dict[str, Any],
             end_reason: str, spoken: str, error: str) -> None:
    """Record a refused inbound call (visible in GET /calls) without starting anything."""
    from chalicelib.services.calls import repo

    now = now_iso()
    row = {**data, "config": config, "agent_name": config.get("name"), "business_name": config.get("business_name"),
           "metadata": config.get("metadata"), "end_reason": end_reason, "error": error, "refusal": spoken,
           "ended_at": now, "duration_seconds": 0}
    repo().create(Call(org_id, call_id, "failed", "inbound", now, now, twilio_call_sid=call_sid or None, data=row))
