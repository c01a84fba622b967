"""The control plane's service interface for the media service (the only entry point it uses).

Every function takes or returns a model of ``chalicelib.models.media``. They are synchronous
(DynamoDB, KMS, Twilio, webhooks): the media service runs them in threads, never on its event loop.
The media service reaches this module only through its port, ``media.controlplane``.
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib import errors
from chalicelib.models.media import (
    CallEnded,
    CallProgress,
    CallSetup,
    CallStarted,
    LiveEvent,
    PreparedGreeting,
    ToolInvocation,
    TransferRequest,
)
from chalicelib.services import byok, call_events, recordings
from chalicelib.services.call_secrets import secret_for_call
from chalicelib.services.numbers import get_number
from chalicelib.services.sip_trunks import get_trunk
from chalicelib.storage.calls import CallRepository
from chalicelib.storage.greetings import GreetingRepository, StoredGreeting
from chalicelib.telephony.twilio_client import TwilioCallError, telephony
from chalicelib.telephony.twiml import transfer_twiml
from chalicelib.webhooks.delivery import call_tool_webhook

log = logging.getLogger("voice.media_gateway")

# Runtime names of a pipeline slot's provider where BYOK stores the key under another name.
KEY_PROVIDER = {"xai_realtime": "xai"}
SANDBOX_KEY = "sandbox-key"  # what the sandbox providers accept when no key is configured at all
# A ring-time greeting outlives no ringing phone (Twilio gives up ringing after 60 s by default).
GREETING_TTL_SECONDS = 180


def load_call(org_id: str, call_id: str) -> CallSetup | None:
    """The call's resolved config and parties, or None when the call does not exist."""
    call = CallRepository().get(org_id, call_id)
    if call is None:
        return None
    return CallSetup(org_id=org_id, call_id=call_id, direction=call.direction, data=dict(call.data))


def live_call_owner(org_id: str, call_id: str) -> str | None:
    """The control address of the media task holding a call in progress (None: not live, or not yet owned)."""
    call = CallRepository().get(org_id, call_id)
    if call is None or call.status != "in-progress":
        return None
    owner = call.data.get("control_url")
    return owner if isinstance(owner, str) and owner else None


def claim_web_call(org_id: str, call_id: str) -> bool:
    """A browser call's socket connected: claim the call once (its token is single use)."""
    from chalicelib.services.web_calls import claim_socket

    return claim_socket(org_id, call_id) is not None


def call_started(event: CallStarted) -> None:
    """The media task took the stream: the call is live and owned by ``control_url``.

    Its ring-time greeting was read before this (or never will be): it is deleted now rather than
    left to the TTL, since it is the caller's personal first message."""
    call_events.call_started(event.org_id, event.call_id, control_url=event.control_url)
    GreetingRepository().delete(event.org_id, event.call_id)


def store_greeting(greeting: PreparedGreeting) -> bool:
    """Keep a call's ring-time greeting for whichever media task receives its stream.

    False when it is too large to store (that task synthesizes it at answer instead)."""
    stored = StoredGreeting(greeting.org_id, greeting.call_id, greeting.fingerprint, greeting.audio)
    return GreetingRepository().put(stored, GREETING_TTL_SECONDS)


def load_greeting(org_id: str, call_id: str) -> PreparedGreeting | None:
    """The call's stored ring-time greeting, or None (none, expired, or another org's call)."""
    stored = GreetingRepository().get(org_id, call_id)
    if stored is None:
        return None
    return PreparedGreeting(org_id=org_id, call_id=call_id, fingerprint=stored.fingerprint, audio=stored.audio)


def call_progress(event: CallProgress) -> bool:
    """Heartbeat plus the transcript so far; False when the call is no longer in progress."""
    return call_events.call_progress(event.org_id, event.call_id, event.messages)


def call_ended(event: CallEnded) -> None:
    """The media task's final report: transcript, latency, end reason and extras."""
    call_events.call_ended(event.org_id, event.call_id, end_reason=event.end_reason, messages=event.messages,
                           latency=event.latency, duration_seconds=event.duration_seconds, error=event.error,
                           extra=event.extra)


def live_event(event: LiveEvent) -> None:
    """Send a live event to the call's webhook when its assistant subscribes (signed, numbered in order)."""
    from chalicelib.webhooks.delivery import emit

    call = CallRepository().get(event.org_id, event.call_id)
    if call is not None:
        emit(event.org_id, event.event, call, event.data)


def provider_key(org_id: str, provider: str) -> tuple[str, bool]:
    """(key, is_byok) for a pipeline provider: the org's BYOK key, else the platform key (cached 60 s)."""
    key, is_byok = byok.provider_key(org_id, KEY_PROVIDER.get(provider, provider))
    return (key, is_byok) if key else (SANDBOX_KEY, False)


def invoke_tool(invocation: ToolInvocation) -> Any:
    """Deliver a tool call (signed with the tool's or the assistant's secret); the tool's result.

    Errors come back as ``{"error": ...}`` results the LLM can speak; the call goes on.
    """
    secret = _tool_secret(invocation)
    out = call_tool_webhook(invocation.url, secret, invocation.payload, timeout=invocation.timeout_seconds)
    if out.get("error"):
        return {"error": out["error"]}
    return out.get("result")


def _tool_secret(invocation: ToolInvocation) -> str | None:
    """The tool's own secret when it has its own URL, else the assistant's webhook secret.

    Read through the call row: secrets sent with a transient assistant or overrides live encrypted
    on the row (``secrets_enc``), a saved assistant's on the assistant (``secret_assistant_id``).
    """
    call = CallRepository().get(invocation.org_id, invocation.call_id)
    if call is None:
        return None
    if "secret_assistant_id" not in call.data and not call.data.get("secrets_enc") and invocation.assistant_id:
        # A row written before secrets were resolved per call: read the saved assistant directly.
        call.data = {**call.data, "secret_assistant_id": invocation.assistant_id}
    if invocation.own_url:
        return secret_for_call(call, f"tool:{invocation.tool_name}") or secret_for_call(call, "webhook_secret")
    return secret_for_call(call, "webhook_secret")


def hang_up(call_sid: str | None) -> bool:
    """End the call at Twilio; False when there is no Twilio, no CallSid, or Twilio refused."""
    tel = telephony()
    if tel is None or not call_sid:
        return False
    try:
        tel.hang_up(call_sid)
    except TwilioCallError as exc:
        log.warning("hang-up failed: %s", exc.reason)
        return False
    return True


def transfer(request: TransferRequest) -> bool:
    """Replace the call's TwiML with a ``<Dial>``: the number's transfer trunk for phone numbers when it
    has one. The ``<Connect><Stream>`` ends, so the media task sees Twilio's ``stop``."""
    tel = telephony()
    if tel is None:
        return False
    trunk = None if request.destination.startswith("sip:") else _transfer_trunk(request.org_id, request.number_id)
    twiml = transfer_twiml(request.destination, caller_id=None if trunk else request.caller_id, trunk=trunk)
    try:
        tel.redirect(request.call_sid, twiml)
    except TwilioCallError as exc:
        log.warning("transfer failed: %s", exc.reason)
        return False
    return True


def _transfer_trunk(org_id: str, number_id: str | None) -> dict[str, Any] | None:
    """The number's transfer trunk (with password) or None."""
    if not number_id:
        return None
    try:
        number = get_number(org_id, number_id)
        if not number.get("transfer_trunk_id"):
            return None
        return get_trunk(org_id, number["transfer_trunk_id"], with_password=True)
    except errors.NotFound:
        return None


def recording_enabled() -> bool:
    """Is there a bucket to store recordings in?"""
    return recordings.enabled()


def store_recording(org_id: str, call_id: str, wav: bytes) -> str:
    """Upload a call's WAV; the object key to record on the call."""
    return recordings.upload_wav(org_id, call_id, wav)
