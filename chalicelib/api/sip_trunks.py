"""/sip-trunks: transfer targets (the password is write-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.framework import PAGE_QUERY, ApiRouter, RequestContext
from chalicelib.api.openapi import register_component
from chalicelib.lazy import lazy_module
from chalicelib.models.resources import SipTrunkCreate

if TYPE_CHECKING:
    from chalicelib.services import sip_trunks as svc
else:  # imported on first use: keeps the cold start of every function short
    svc = lazy_module("chalicelib.services.sip_trunks")

bp = Blueprint(__name__)
api = ApiRouter(bp, "SIP Trunks")
REF = {"$ref": "#/components/schemas/SipTrunk"}
OK = {"success": {"type": "boolean"}}
register_component("SipTrunk", {"type": "object", "properties": {
    "id": {"type": "string", "format": "uuid"}, "org_id": {"type": "string"}, "name": {"type": "string"},
    "host": {"type": "string"}, "port": {"type": "integer", "default": 5060},
    "transport": {"type": "string", "enum": ["udp", "tcp", "tls"], "default": "udp"},
    "username": {"type": ["string", "null"]},
    "password_set": {"type": "boolean", "description": "The password itself is never returned"},
    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
}})


@api.route("/sip-trunks", "GET", summary="List SIP trunks", query=PAGE_QUERY,
           response_schema={"trunks": {"type": "array", "items": REF}, "next_cursor": {"type": ["string", "null"]}})
def list_trunks(ctx: RequestContext) -> dict[str, Any]:
    page = ctx.page()
    items, nxt = svc.list_trunks(ctx.org_id, page.limit, page.offset, page.cursor)
    return {"trunks": items, "next_cursor": page.next_cursor(nxt)}


@api.route("/sip-trunks", "POST", status=201, summary="Create a SIP trunk",
           request_model=SipTrunkCreate, response_schema={"trunk": REF})
def create_trunk(ctx: RequestContext) -> dict[str, Any]:
    return {"trunk": svc.create_trunk(ctx.org_id, ctx.parse(SipTrunkCreate))}


@api.route("/sip-trunks/{trunk_id}", "GET", summary="Get a SIP trunk", response_schema={"trunk": REF})
def get_trunk(ctx: RequestContext) -> dict[str, Any]:
    return {"trunk": svc.get_trunk(ctx.org_id, ctx.path_params["trunk_id"])}


@api.route("/sip-trunks/{trunk_id}", "DELETE", summary="Delete a SIP trunk (409 while a number uses it)",
           response_schema=OK)
def delete_trunk(ctx: RequestContext) -> dict[str, Any]:
    svc.delete_trunk(ctx.org_id, ctx.path_params["trunk_id"])
    return {"success": True}
