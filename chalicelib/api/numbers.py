"""/numbers: phone numbers registered to the org (E.164, unique across the deployment)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.framework import PAGE_QUERY, ApiRouter, RequestContext
from chalicelib.api.openapi import register_component
from chalicelib.lazy import lazy_module
from chalicelib.models.resources import NumberCreate, NumberUpdate

if TYPE_CHECKING:
    from chalicelib.services import numbers as svc
else:  # imported on first use: keeps the cold start of every function short
    svc = lazy_module("chalicelib.services.numbers")

bp = Blueprint(__name__)
api = ApiRouter(bp, "Numbers")
REF = {"$ref": "#/components/schemas/PhoneNumber"}
OK = {"success": {"type": "boolean"}}
_S, _SN = {"type": "string"}, {"type": ["string", "null"]}
register_component("PhoneNumber", {"type": "object", "properties": {
    "id": {"type": "string", "format": "uuid"}, "org_id": _S,
    "phone_number": {"type": "string", "description": "E.164"}, "name": _SN,
    "agent_id": _SN, "agent_name": _SN, "business_name": _SN,
    "transfer_trunk_id": _SN, "transfer_trunk_name": _SN,
    "source": {"type": "string", "enum": ["twilio", "sip_forwarding"],
               "description": "twilio: the deployment's Twilio account owns the number and its webhooks point "
                              "here; sip_forwarding: the customer forwards calls to the deployment."},
    "is_active": {"type": "boolean"},
    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
}})


@api.route("/numbers", "GET", summary="List phone numbers", query=PAGE_QUERY,
           response_schema={"numbers": {"type": "array", "items": REF}, "next_cursor": _SN})
def list_numbers(ctx: RequestContext) -> dict[str, Any]:
    page = ctx.page()
    items, nxt = svc.list_numbers(ctx.org_id, page.limit, page.offset, page.cursor)
    return {"numbers": items, "next_cursor": page.next_cursor(nxt)}


@api.route("/numbers", "POST", status=201, summary="Register a phone number",
           request_model=NumberCreate, response_schema={"number": REF})
def create_number(ctx: RequestContext) -> dict[str, Any]:
    return {"number": svc.create_number(ctx.org_id, ctx.parse(NumberCreate))}


@api.route("/numbers/{number_id}", "GET", summary="Get a phone number", response_schema={"number": REF})
def get_number(ctx: RequestContext) -> dict[str, Any]:
    return {"number": svc.get_number_public(ctx.org_id, ctx.path_params["number_id"])}


@api.route("/numbers/{number_id}", "PATCH", summary="Update a phone number (null unassigns agent or trunk)",
           request_model=NumberUpdate, response_schema={"number": REF})
def update_number(ctx: RequestContext) -> dict[str, Any]:
    body = ctx.parse(NumberUpdate)
    return {"number": svc.update_number(ctx.org_id, ctx.path_params["number_id"], body)}


@api.route("/numbers/{number_id}", "DELETE", summary="Delete a phone number (releases it)", response_schema=OK)
def delete_number(ctx: RequestContext) -> dict[str, Any]:
    svc.delete_number(ctx.org_id, ctx.path_params["number_id"])
    return {"success": True}
