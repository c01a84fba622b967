"""Call use cases: place outbound calls, read calls, resolve an assistant config for a call.

A call row keeps the *resolved* assistant config (saved assistant + overrides, secrets removed)
so the media service, webhooks and analysis all see the same config. Secrets that came with a
transient or override config are stored encrypted on the row (``secrets_enc``); secrets of a
saved assistant stay on the assistant and are read through ``secret_assistant_id``.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

from chalicelib import errors
from chalicelib.jsonvalue import as_list, as_object
from chalicelib.models.assistant import ASSISTANT_DEFAULTS, AssistantFields
from chalicelib.models.calls import CallAssistantRequest, OutboundCallRequest
from chalicelib.models.common import is_uuid
from chalicelib.models.end_reasons import normalize_end_reason
from chalicelib.models.phone import normalize_e164
from chalicelib.security import make_call_token
from chalicelib.services import media_client
from chalicelib.services.call_secrets import encrypt_call_secrets
from chalicelib.services.media_urls import monitor_view
from chalicelib.settings import get_settings, table_name
from chalicelib.storage.calls import Call, CallFilter, CallRepository
from chalicelib.templating import render
from chalicelib.timeutil import new_id, now_iso, parse_datetime

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

log = logging.getLogger("voice.calls")

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
IN_FLIGHT_BUDGET_MS = 30_000
# How long a caller refused for capacity should wait: about the time the fleet needs to scale out a task.
CAPACITY_RETRY_AFTER_SECONDS = 30


@lru_cache(maxsize=1)
def repo() -> CallRepository:
    return CallRepository()


# ---------------------------------------------------------------- config resolution
@dataclass
class ResolvedAssistant:
    config: dict[str, Any]  # secrets removed
    assistant_id: str | None
    secrets: dict[str, str] = field(default_factory=dict)  # plaintext from transient/override blocks
    saved: bool = False


def _strip_secrets(block: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """Move webhook and tool secrets out of a config block into ``secrets`` (returns a copy)."""
    out = copy.deepcopy(block)
    if out.get("webhook_secret"):
        secrets["webhook_secret"] = out.pop("webhook_secret")
    else:
        out.pop("webhook_secret", None)
    for tool in as_list(as_object(out.get("llm_config")).get("tools")):
        tool = as_object(tool)
        if tool.get("type") == "function":
            secret = tool.pop("secret", None)
            if secret:
                secrets[f"tool:{tool['name']}"] = secret
    return out


def saved_config(doc: Any) -> dict[str, Any]:
    """The stored config of a saved assistant (defaults applied, no secrets, no ids)."""
    return {**ASSISTANT_DEFAULTS, **copy.deepcopy(doc.data)}


def resolve_assistant(org_id: str, *, assistant_id: str | None, transient: dict[str, Any] | None = None,
                      override: dict[str, Any] | None = None, check_active: bool = True) -> ResolvedAssistant:
    """Reference, transient or hybrid mode. Overrides replace whole top-level blocks."""
    from chalicelib.services.assistants import get_document

    secrets: dict[str, str] = {}
    if assistant_id:
        doc = get_document(org_id, assistant_id)
        config = saved_config(doc)
        if check_active and config.get("is_active") is False:
            raise errors.InvalidRequest(f"Assistant {assistant_id} is inactive.", param="assistant_id")
        if override:
            config.update(_strip_secrets(override, secrets))
        return ResolvedAssistant(config, doc.id, secrets, saved=True)
    config = {**ASSISTANT_DEFAULTS, **_strip_secrets(transient or {}, secrets)}
    config["is_active"] = True
    return ResolvedAssistant(config, None, secrets)


def missing_blocks(config: dict[str, Any]) -> list[str]:
    """Config blocks the provider mode needs but lacks (pipeline: STT+LLM+TTS; xai_realtime: LLM)."""
    llm = config.get("llm_config")
    if not llm:
        missing = ["llm_config"]
        return missing + [b for b in ("stt_config", "tts_config") if not config.get(b)]
    if llm.get("provider") == "xai_realtime":
        return []
    return [b for b in ("stt_config", "tts_config") if not config.get(b)]


def check_complete(config: dict[str, Any], where: str = "assistant") -> None:
    missing = missing_blocks(config)
    if missing:
        provider = as_object(config.get("llm_config")).get("provider")
        mode = "xai_realtime" if provider == "xai_realtime" else "the STT + LLM + TTS pipeline"
        details = [f"'{m}' is required for {mode}" for m in missing]
        raise errors.MissingField(f"The resolved {where} config is incomplete: missing {', '.join(missing)}.",
                                  param=missing[0], details=details)


def fill_variables(config: dict[str, Any], variables: dict[str, Any] | None) -> dict[str, Any]:
    """Replace ``{{var}}`` in the first message and system prompts; unknown names stay as written."""
    if not variables:
        return config
    if isinstance(config.get("first_message"), str):
        config["first_message"] = render(config["first_message"], variables)
    for msg in as_list(as_object(config.get("llm_config")).get("messages")):
        msg = as_object(msg)
        if msg.get("role") == "system" and isinstance(msg.get("content"), str):
            msg["content"] = render(msg["content"], variables)
    return config


# ---------------------------------------------------------------- numbers
def _number(org_id: str, number_id: str | None) -> dict[str, Any]:
    from chalicelib.services import numbers

    if number_id:
        number = numbers.get_number(org_id, number_id)
    else:
        number = numbers.any_active_number(org_id)
        if number is None:
            raise errors.InvalidRequest("The organization has no active phone number to call from; "
                                        "register one or pass 'number_id'.", param="number_id")
    if not number.get("is_active", True):
        raise errors.InvalidRequest(f"Number {number['id']} is inactive.", param="number_id")
    return number


# ---------------------------------------------------------------- outbound
def place_outbound_call(org_id: str, body: dict[str, Any], idempotency_key: str | None = None, *,
                        campaign_id: str | None = None, lead_id: str | None = None,
                        variables: dict[str, Any] | None = None, test_run_id: str | None = None) -> dict[str, Any]:
    """Validate, write the call row (``queued``) and dial through Twilio.

    Returns ``{"success": True, "call_id", "status": "dialing"}``. With an ``idempotency_key`` the
    same key and body within 24 h return the first response and dial once; the same key with a
    different body is a 409 ``conflict``. A ``test_run_id`` marks an eval's test call: listed with
    its run, never billed, and not refused for an empty balance.
    """
    if idempotency_key:
        return _place_idempotent(org_id, body, idempotency_key, campaign_id, lead_id, variables, test_run_id)
    return _place(org_id, body, campaign_id=campaign_id, lead_id=lead_id, variables=variables,
                  test_run_id=test_run_id)


@lru_cache(maxsize=4)
def _persistence(table: str) -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table)


class _InFlightBudget:
    """Stands in for the Lambda context Powertools reads the remaining time from."""

    def get_remaining_time_in_millis(self) -> int:
        return IN_FLIGHT_BUDGET_MS


def _place_from_payload(payload: dict[str, Any]) -> dict[str, Any]:
    req = payload["request"]
    return _place(payload["org_id"], req["body"], campaign_id=req.get("campaign_id"), lead_id=req.get("lead_id"),
                  variables=req.get("variables"), test_run_id=req.get("test_run_id"))


def _place_idempotent(org_id: str, body: dict[str, Any], key: str, campaign_id: str | None, lead_id: str | None,
                      variables: dict[str, Any] | None, test_run_id: str | None = None) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.idempotency.base import IdempotencyHandler
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    if len(key) > 255:
        raise errors.InvalidRequest("'Idempotency-Key' must be at most 255 characters.", param="Idempotency-Key")
    payload = {"org_id": org_id, "idempotency_key": key,
               "request": {"body": body, "campaign_id": campaign_id, "lead_id": lead_id, "variables": variables,
                           **({"test_run_id": test_run_id} if test_run_id else {})}}
    config = IdempotencyConfig(event_key_jmespath="[org_id, idempotency_key]", payload_validation_jmespath="request",
                               expires_after_seconds=IDEMPOTENCY_TTL_SECONDS, raise_on_no_idempotency_key=True)
    # Bounds the INPROGRESS lock: a request that crashed mid-dial frees its key after this budget
    # instead of blocking retries for 24 h (API Gateway gives a request at most 29 s).
    config.register_lambda_context(cast("LambdaContext", _InFlightBudget()))  # only the remaining time is read
    handler = IdempotencyHandler(function=_place_from_payload, function_payload=payload, config=config,
                                 persistence_store=_persistence(table_name("idempotency")),
                                 function_args=(), function_kwargs={"payload": payload})
    try:
        return handler.handle()
    except IdempotencyValidationError:
        raise errors.Conflict("This Idempotency-Key was already used with a different request body.",
                              param="Idempotency-Key") from None
    except IdempotencyAlreadyInProgressError:
        raise errors.Conflict("A request with this Idempotency-Key is still being processed; retry shortly.",
                              param="Idempotency-Key") from None


def resolve_call_assistant(org_id: str, req: CallAssistantRequest,
                           variables: dict[str, Any] | None) -> ResolvedAssistant:
    """The assistant a new call runs (saved, transient or overridden), with the request's first message,
    variables and metadata applied and its required settings checked (outbound and browser calls)."""
    transient = req.assistant.dump(exclude_unset=True) if req.assistant is not None else None
    override = req.assistant_override.dump(exclude_unset=True) if req.assistant_override is not None else None
    resolved = resolve_assistant(org_id, assistant_id=req.assistant_id, transient=transient, override=override)
    config = resolved.config
    if req.first_message is not None:
        config["first_message"] = req.first_message
    fill_variables(config, variables)
    check_complete(config)
    if req.metadata is not None:
        config["metadata"] = {**(config.get("metadata") or {}), **req.metadata}
    return resolved


def check_balance(org_id: str) -> None:
    """402 when billing is enforced and the organization has no minutes left."""
    if not get_settings().billing_enforcement:
        return
    from chalicelib.storage.orgs import OrgRepository

    org = OrgRepository().get(org_id)
    if org is None or org.minutes_balance <= 0:
        raise errors.InsufficientCredits("The organization has no minutes left; top up to place calls.")


def _place(org_id: str, body: dict[str, Any], *, campaign_id: str | None, lead_id: str | None,
           variables: dict[str, Any] | None, test_run_id: str | None = None) -> dict[str, Any]:
    req = OutboundCallRequest.model_validate(body)  # ValidationError -> 400 at the API edge
    try:
        destination = normalize_e164(req.destination)
    except ValueError as exc:
        raise errors.InvalidRequest(f"'destination' {exc}.", param="destination") from None
    if not test_run_id:
        check_balance(org_id)
    resolved = resolve_call_assistant(org_id, req, variables)
    number = _number(org_id, req.number_id)
    config = resolved.config

    call_id = new_id()
    now = now_iso()
    data: dict[str, Any] = {
        "assistant_id": resolved.assistant_id,
        "number_id": number["id"],
        "number_name": number.get("name"),
        "transfer_trunk_id": number.get("transfer_trunk_id"),
        "campaign_id": campaign_id,
        "lead_id": lead_id,
        "test_run_id": test_run_id,
        "caller_phone": destination,
        "assistant_phone": number["phone_number"],
        "agent_name": config.get("name"),
        "business_name": config.get("business_name"),
        "config": config,
        "first_message": config.get("first_message"),
        "context": req.context,
        "metadata": config.get("metadata"),
        "variables": variables,
        "secret_assistant_id": resolved.assistant_id if resolved.saved else None,
        "secrets_enc": encrypt_call_secrets(org_id, call_id, resolved.secrets) or None,
    }
    call = repo().create(Call(org_id, call_id, "queued", "outbound", now, now, data=data))
    admit_or_refuse(call)
    dial(call)
    return {"success": True, "call_id": call_id, "status": "dialing"}


def admit_or_refuse(call: Call) -> None:
    """Ask the media fleet for a slot (the ring-time prepare) before Twilio dials.

    When every media task is at capacity the call is not dialed: its row is ``failed``
    (``failed_to_connect``, error ``capacity_exceeded``) and 503 ``capacity_exceeded`` with Retry-After
    is raised. Serving it anyway would degrade every call on the task that got it."""
    if media_client.admit(call.org_id, call.id) is not media_client.Admission.FULL:
        return
    repo().set_status(call.org_id, call.id, "failed", from_statuses=("queued",),
                      data_updates={"error": "capacity_exceeded", "end_reason": "failed_to_connect",
                                    "ended_at": now_iso()})
    raise errors.CapacityExceeded("Every media task is at capacity; retry the call shortly.",
                                  headers={"Retry-After": str(CAPACITY_RETRY_AFTER_SECONDS)})


def callback_url(path: str, call: Call) -> str:
    base = get_settings().public_base_url
    return f"{base}{path}?{urlencode({'org_id': call.org_id, 'call_id': call.id})}"


def stream_twiml_for(call: Call, *, pause_seconds: int = 0) -> str:
    """The call's ``<Connect><Stream>``; when the stream ends Twilio asks /twilio/stream-ended what next."""
    from chalicelib.telephony.twiml import stream_twiml

    s = get_settings()
    token = make_call_token(s.call_token_secret, call.id, call.org_id)
    return stream_twiml(s.media_ws_url, call.id, call.org_id, token,
                        action_url=callback_url("/twilio/stream-ended", call), pause_seconds=pause_seconds)


def dial(call: Call) -> None:
    """Ask Twilio to place the call; a refusal marks the row failed and raises 502."""
    from chalicelib.telephony.twilio_client import DialRequest, TwilioCallError, telephony

    tel = telephony()
    if tel is None:
        _dial_failed(call, "Twilio is not configured for this deployment")
        raise errors.UpstreamError("Twilio is not configured for this deployment.")
    config = call.data["config"]
    amd = callback_url("/twilio/amd", call) if config.get("voicemail_detection") else None
    max_duration = int(config.get("max_duration_seconds") or 600)
    req = DialRequest(to=call.data["caller_phone"], from_=call.data["assistant_phone"], twiml=stream_twiml_for(call),
                      status_callback=callback_url("/twilio/status", call), amd_callback=amd,
                      time_limit=max_duration + 60)  # the media service ends it first; this is a backstop
    try:
        sid = tel.dial(req)
    except TwilioCallError as exc:
        _dial_failed(call, exc.reason)
        raise errors.UpstreamError(f"Twilio refused the call: {exc.reason}") from None
    repo().set_twilio_sid(call.org_id, call.id, sid)


def _dial_failed(call: Call, reason: str) -> None:
    repo().set_status(call.org_id, call.id, "failed", from_statuses=("queued",),
                      data_updates={"error": reason, "end_reason": "failed_to_connect", "ended_at": now_iso()})


# ---------------------------------------------------------------- reads
STATUS_FILTERS = {
    "connecting": ("queued", "ringing"),
    "queued": ("queued",),
    "ringing": ("ringing",),
    "in-progress": ("in-progress",),
    "ended": ("ended",),
    "failed": ("failed",),
}

PUBLIC_DATA_KEYS = (
    "caller_phone", "assistant_phone", "end_reason", "error", "started_at", "ended_at", "duration_seconds",
    "summary", "analysis_result", "messages", "latency", "costs", "metadata", "recording_url", "answered_by",
    "campaign_id", "lead_id", "test_run_id", "number_id", "agent_name", "business_name", "first_message", "context",
)


def _recording_url(data: dict[str, Any]) -> str | None:
    if not data.get("recording_key"):
        return None  # no S3 client for calls without a recording
    from chalicelib.services.recordings import url_for

    return url_for(data)


def public_call(call: Call) -> dict[str, Any]:
    """The Call object of the contract (no secrets, no control address, no tokens)."""
    d = call.data
    out: dict[str, Any] = {"id": call.id, "org_id": call.org_id, "direction": call.direction, "status": call.status}
    for key in PUBLIC_DATA_KEYS:
        out[key] = d.get(key)
    out["end_reason"] = normalize_end_reason(d.get("end_reason"))  # rows written before the closed set
    # Presigned on read from the stored key (never stored itself; the key is not exposed).
    out["recording_url"] = _recording_url(d)
    out["agent_id"] = d.get("assistant_id")
    out["assistant_id"] = d.get("assistant_id")
    out["phone_number"] = d.get("assistant_phone")
    out["room_name"] = None
    out["twilio_call_sid"] = call.twilio_call_sid
    out["created_at"] = call.created_at
    out["updated_at"] = call.updated_at
    out["monitor"] = monitor_view(call)
    return out


def get_call(org_id: str, call_id: str) -> Call:
    call = repo().get(org_id, call_id) if is_uuid(call_id) else None
    if call is None:
        raise errors.NotFound(f"Call {call_id} not found.")
    return call


def get_call_public(org_id: str, call_id: str) -> dict[str, Any]:
    return public_call(get_call(org_id, call_id))


def list_call_webhooks(org_id: str, call_id: str) -> list[dict[str, Any]]:
    """The durable webhook deliveries of one call with every attempt (bodies are not returned)."""
    from chalicelib.storage.webhooks import WebhookDeliveryRepository

    get_call(org_id, call_id)  # 404 for unknown and other orgs' calls
    out: list[dict[str, Any]] = []
    for d in WebhookDeliveryRepository().for_call(org_id, call_id):
        out.append({"id": d.id, "event": d.event, "status": d.status, "url": d.data.get("url"),
                    "sequence": d.sequence, "attempts": d.data.get("attempts") or [],
                    "last_error": d.data.get("last_error"),
                    "created_at": d.created_at, "updated_at": d.updated_at})
    return out


def _date_param(query: dict[str, str], name: str, end: bool) -> str | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        dt = parse_datetime(raw)
    except ValueError:
        raise errors.InvalidRequest(f"'{name}' must be an RFC 3339 date-time or a date (YYYY-MM-DD).",
                                    param=name) from None
    from chalicelib.timeutil import iso

    text = iso(dt)
    if end and len(raw.strip()) == 10:
        text = text[:11] + "23:59:59.999Z"  # a plain end date includes that whole day
    return text


DIRECTIONS = ("inbound", "outbound", "web")


def _id_param(query: dict[str, str], *names: str) -> str | None:
    """An id filter (the first of ``names`` given); a malformed id is a 400 naming the parameter."""
    for name in names:
        value = (query.get(name) or "").strip()
        if value:
            if not is_uuid(value):
                raise errors.InvalidRequest(f"'{name}' must be a UUID.", param=name)
            return value
    return None


def call_filter(query: dict[str, str]) -> CallFilter:
    """GET /calls' filters from its query string (400 naming the parameter for a bad value)."""
    status = (query.get("status") or "").strip()
    statuses: tuple[str, ...] = ()
    if status:
        if status not in STATUS_FILTERS:
            raise errors.InvalidRequest("'status' must be one of connecting, in-progress, ended, failed.",
                                        param="status")
        statuses = STATUS_FILTERS[status]
    direction = (query.get("direction") or "").strip() or None
    if direction is not None and direction not in DIRECTIONS:
        raise errors.InvalidRequest("'direction' must be one of inbound, outbound, web.", param="direction")
    start = _date_param(query, "start_date", end=False)
    end = _date_param(query, "end_date", end=True)
    if start and end and start > end:
        raise errors.InvalidRequest("'start_date' is after 'end_date'.", param="start_date")
    # Another organization's assistant or campaign id matches none of this organization's calls: an empty
    # list, never a hint that the id exists elsewhere.
    return CallFilter(statuses=statuses, direction=direction, assistant_id=_id_param(query, "assistant_id", "agent_id"),
                      campaign_id=_id_param(query, "campaign_id"), start=start, end=end)


def list_calls(org_id: str, query: dict[str, str], limit: int, offset: int,
               cursor: dict[str, Any] | None) -> dict[str, Any]:
    """Newest first, narrowed by ``call_filter``."""
    where = call_filter(query)
    if cursor is not None:
        items, last_key = repo().list(org_id, limit=limit, start_key=cursor, where=where)
    else:
        items, last_key = repo().list(org_id, limit=offset + limit, where=where)
        items = items[offset:]
    total = repo().count(org_id, where=where)
    next_key = last_key if len(items) >= limit and last_key else None
    return {"calls": [public_call(c) for c in items], "total": total, "next_key": next_key}


def validate_assistant_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Validate an override/transient block (assistant-request answers); returns the dumped block."""
    return AssistantFields.model_validate(data).dump(exclude_unset=True)

