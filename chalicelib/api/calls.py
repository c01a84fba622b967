"""/calls: list, get, outbound, live control."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.framework import PAGE_QUERY, ApiRouter, RequestContext
from chalicelib.api.openapi import register_component
from chalicelib.lazy import lazy_module
from chalicelib.models.calls import ControlRequest, OutboundCallRequest, WebCallRequest
from chalicelib.models.end_reasons import END_REASONS
from chalicelib.paging import slice_list

if TYPE_CHECKING:
    from chalicelib.services import call_control, web_calls
    from chalicelib.services import calls as svc
else:  # imported on first use: keeps the cold start of every function short
    call_control = lazy_module("chalicelib.services.call_control")
    svc = lazy_module("chalicelib.services.calls")
    web_calls = lazy_module("chalicelib.services.web_calls")

bp = Blueprint(__name__)
api = ApiRouter(bp, "Calls")
REF = {"$ref": "#/components/schemas/Call"}
_NULLABLE_STR = {"type": ["string", "null"]}

register_component("Call", {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "org_id": {"type": "string"},
        "direction": {"type": "string", "enum": ["inbound", "outbound", "web"]},
        "status": {"type": "string", "enum": ["queued", "ringing", "in-progress", "ended", "failed"]},
        "end_reason": {"type": ["string", "null"], "enum": [*END_REASONS, None],
                       "description": "Why the call ended, from a closed set (docs/calls.md, End reasons)"},
        "error": _NULLABLE_STR,
        "caller_phone": _NULLABLE_STR, "assistant_phone": _NULLABLE_STR, "phone_number": _NULLABLE_STR,
        "agent_id": _NULLABLE_STR, "assistant_id": _NULLABLE_STR, "number_id": _NULLABLE_STR,
        "agent_name": _NULLABLE_STR, "business_name": _NULLABLE_STR,
        "campaign_id": _NULLABLE_STR, "lead_id": _NULLABLE_STR, "test_run_id": _NULLABLE_STR,
        "started_at": _NULLABLE_STR, "ended_at": _NULLABLE_STR,
        "duration_seconds": {"type": ["integer", "null"]},
        "summary": _NULLABLE_STR, "analysis_result": {"type": ["object", "null"]},
        "messages": {"type": ["array", "null"], "items": {"type": "object"}},
        "latency": {"type": ["object", "null"]}, "costs": {"type": ["object", "null"]},
        "metadata": {"type": ["object", "null"]}, "recording_url": {
            "type": ["string", "null"],
            "description": "Presigned HTTPS GET URL of the stereo WAV recording (caller left, agent right), "
                           "made on every read and valid for RECORDING_URL_EXPIRY_SECONDS (default 1 hour); "
                           "null when the call was not recorded (gdpr_mode, recording_enabled false)."},
        "room_name": _NULLABLE_STR, "monitor": {"type": "object", "properties": {
            "listen_url": _NULLABLE_STR, "control_url": {"type": "string"}}},
        "answered_by": _NULLABLE_STR, "created_at": {"type": "string"}, "updated_at": {"type": "string"},
    },
})

LIST_QUERY = [
    ("status", "string", "connecting (queued or ringing), in-progress, ended, failed"),
    ("start_date", "string", "created_at from this RFC 3339 date-time or date"),
    ("end_date", "string", "created_at until this RFC 3339 date-time or date (a date includes the whole day)"),
    ("direction", "string", "inbound, outbound or web"),
    ("assistant_id", "string", "calls of this assistant (UUID; agent_id is an alias)"),
    ("campaign_id", "string", "calls of this campaign (UUID)"),
    *PAGE_QUERY,
]


@api.route("/calls", "GET", summary="List calls (newest first)", query=LIST_QUERY,
           response_schema={"calls": {"type": "array", "items": REF}, "pagination": {"type": "object"},
                            "next_cursor": _NULLABLE_STR})
def list_calls(ctx: RequestContext) -> dict[str, Any]:
    page = ctx.page()
    out = svc.list_calls(ctx.org_id, ctx.query, page.limit, page.offset, page.cursor)
    return {"calls": out["calls"], "pagination": {"total": out["total"], "limit": page.limit, "offset": page.offset},
            "next_cursor": page.next_cursor(out["next_key"])}


@api.route("/calls/outbound", "POST", summary="Start an outbound call", request_model=OutboundCallRequest,
           response_schema={"success": {"type": "boolean"}, "call_id": {"type": "string"},
                            "status": {"type": "string", "enum": ["dialing"]}})
def outbound(ctx: RequestContext) -> dict[str, Any]:
    """Reference (assistant_id), transient (assistant) or hybrid (assistant_id + assistant_override) mode.
    Honors Idempotency-Key: same key and body within 24 h return the first response and dial once;
    the same key with another body is 409 conflict."""
    key = (ctx.headers.get("idempotency-key") or "").strip() or None
    return svc.place_outbound_call(ctx.org_id, ctx.body_object(), key)


@api.route("/calls/web", "POST", status=201, summary="Start a browser call (WebSocket, docs/web-calls.md)",
           request_model=WebCallRequest,
           response_schema={"call_id": {"type": "string"}, "websocket_url": {"type": "string"},
                            "expires_at": {"type": "string"}})
def web_call(ctx: RequestContext) -> dict[str, Any]:
    """Reference, transient or hybrid mode as for outbound calls; the answer's websocket_url opens the
    call's audio socket once, before expires_at."""
    return web_calls.create_web_call(ctx.org_id, ctx.body_object())


@api.route("/calls/{call_id}", "GET", summary="Get one call", response_schema=REF)
def get_call(ctx: RequestContext) -> dict[str, Any]:
    return svc.get_call_public(ctx.org_id, ctx.path_params["call_id"])


@api.route("/calls/{call_id}/webhooks", "GET", summary="Webhook deliveries of a call (status-update, "
           "end-of-call-report) with every attempt", query=PAGE_QUERY,
           response_schema={"webhooks": {"type": "array", "items": {"type": "object"}},
                            "next_cursor": _NULLABLE_STR})
def call_webhooks(ctx: RequestContext) -> dict[str, Any]:
    page = ctx.page()
    webhooks, next_cursor = slice_list(svc.list_call_webhooks(ctx.org_id, ctx.path_params["call_id"]), page)
    return {"webhooks": webhooks, "next_cursor": next_cursor}


@api.route("/calls/{call_id}/control", "POST", summary="Send a live control command", request_model=ControlRequest,
           response_schema={"success": {"type": "boolean"}, "message": {"type": "string"}})
def control(ctx: RequestContext) -> dict[str, Any]:
    """inject-context, say, end-call or transfer; the call must be in progress; 10 per minute per call."""
    return call_control.send_control(ctx.org_id, ctx.path_params["call_id"], ctx.body_object())
