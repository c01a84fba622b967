"""/byok: bring-your-own provider keys (write-only) and the provider catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.framework import ApiRouter, RequestContext
from chalicelib.lazy import lazy_module
from chalicelib.models.resources import BYOK_PROVIDERS, ByokDelete, ByokSet

if TYPE_CHECKING:
    from chalicelib.services import byok as svc
else:  # imported on first use: keeps the cold start of every function short
    svc = lazy_module("chalicelib.services.byok")

bp = Blueprint(__name__)
api = ApiRouter(bp, "BYOK")
KEYS = {"byok_keys": {"type": "object", "properties": {
    f"{p}_secret_id": {"type": ["string", "null"], "description": f"Reference to the stored {p} key; null when "
                                                                  "the platform key is used"}
    for p in BYOK_PROVIDERS}}}
CHANGED = {"success": {"type": "boolean"}, **KEYS}


@api.route("/byok", "GET", summary="Which providers use your own key", response_schema=KEYS)
def get_keys(ctx: RequestContext) -> dict[str, Any]:
    return {"byok_keys": svc.list_keys(ctx.org_id)}


@api.route("/byok", "POST", summary="Add or rotate a provider key", request_model=ByokSet, response_schema=CHANGED)
def set_key(ctx: RequestContext) -> dict[str, Any]:
    return {"success": True, "byok_keys": svc.set_key(ctx.org_id, ctx.parse(ByokSet))}


@api.route("/byok", "DELETE", summary="Remove a provider key (JSON body {provider}); falls back to the platform key",
           request_model=ByokDelete, response_schema=CHANGED)
def delete_key(ctx: RequestContext) -> dict[str, Any]:
    return {"success": True, "byok_keys": svc.delete_key(ctx.org_id, ctx.parse(ByokDelete))}


@api.route("/byok/config", "GET", summary="Provider catalog",
           response_schema={"providers": {"type": "array", "items": {"type": "object"}}})
def config(ctx: RequestContext) -> dict[str, Any]:
    return {"providers": svc.catalog()}
