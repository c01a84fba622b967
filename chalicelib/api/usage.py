"""/usage: per-call usage logs and a summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.framework import ApiRouter, RequestContext
from chalicelib.api.openapi import register_component
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    from chalicelib.services import usage as svc
else:  # imported on first use: keeps the cold start of every function short
    svc = lazy_module("chalicelib.services.usage")

bp = Blueprint(__name__)
api = ApiRouter(bp, "Usage")
_I, _N, _B, _SN = {"type": "integer"}, {"type": "number"}, {"type": "boolean"}, {"type": ["string", "null"]}
register_component("UsageLog", {"type": "object", "properties": {
    "id": {"type": "string"}, "call_id": _SN, "duration_seconds": _I, "duration_sec": _I,
    "minutes_used": {"type": "integer", "description": "Duration rounded up to the minute"},
    "cost": {"type": "number", "description": "In the deployment's currency (see `currency`)"},
    "byok_stt": _B, "byok_llm": _B, "byok_tts": _B, "phone_number": _SN, "agent_name": _SN, "business_name": _SN,
    "call_type": {"type": "string", "enum": ["phone", "web"]}, "created_at": {"type": "string"},
}})
QUERY = [
    ("limit", "integer", "Page size (default 100, max 1000)"),
    ("offset", "integer", "Logs to skip"),
    ("cursor", "string", "next_cursor of the previous page (instead of offset)"),
    ("start_date", "string", "RFC 3339 date-time or date; created_at >= start_date"),
    ("end_date", "string", "RFC 3339 date-time or date (a date includes the whole day)"),
]


@api.route("/usage", "GET", summary="Usage logs and summary", query=QUERY, response_schema={
    "logs": {"type": "array", "items": {"$ref": "#/components/schemas/UsageLog"}},
    "pagination": {"type": "object"}, "next_cursor": _SN, "summary": {"type": "object"},
    "currency": {"type": "string"}})
def list_usage(ctx: RequestContext) -> dict[str, Any]:
    return svc.list_usage(ctx.org_id, ctx.page(), ctx.query)
