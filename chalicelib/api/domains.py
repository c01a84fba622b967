"""/domains: the org's email sending domain in its own Resend account (BYOK Resend key required)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.framework import PAGE_QUERY, ApiRouter, RequestContext
from chalicelib.api.openapi import register_component
from chalicelib.lazy import lazy_module
from chalicelib.models.resources import DomainCreate, DomainSync
from chalicelib.paging import slice_list

if TYPE_CHECKING:
    from chalicelib.services import domains as svc
else:  # imported on first use: keeps the cold start of every function short
    svc = lazy_module("chalicelib.services.domains")

bp = Blueprint(__name__)
api = ApiRouter(bp, "Domains")
REF = {"$ref": "#/components/schemas/Domain"}
_SN = {"type": ["string", "null"]}
register_component("Domain", {"type": "object", "properties": {
    "id": {"type": "string"}, "org_id": {"type": "string"}, "domain_name": {"type": "string"},
    "resend_domain_id": {"type": "string"},
    "status": {"type": "string", "description": "Resend's status: not_started, pending, verified, failed, "
                                                "temporary_failure, ..."},
    "region": _SN, "records": {"type": "array", "items": {"type": "object"}},
    "created_at": {"type": "string"}, "updated_at": {"type": "string"}, "verified_at": _SN,
}})


@api.route("/domains", "GET", summary="Get your domain", response_schema={"domain": REF})
def get_domain(ctx: RequestContext) -> dict[str, Any]:
    return {"domain": svc.get_domain(ctx.org_id)}


@api.route("/domains", "POST", status=201, summary="Add a domain (created in your Resend account)",
           request_model=DomainCreate, response_schema={"domain": REF})
def add_domain(ctx: RequestContext) -> dict[str, Any]:
    return {"domain": svc.add_domain(ctx.org_id, ctx.parse(DomainCreate))}


@api.route("/domains", "DELETE", summary="Delete your domain", response_schema={"success": {"type": "boolean"}})
def delete_domain(ctx: RequestContext) -> dict[str, Any]:
    svc.delete_domain(ctx.org_id)
    return {"success": True}


@api.route("/domains/sync", "GET", summary="List the domains of your Resend account",
           query=PAGE_QUERY, response_schema={"domains": {"type": "array", "items": {"type": "object"}},
                                              "selected_domain_id": _SN, "next_cursor": _SN})
def list_resend_domains(ctx: RequestContext) -> dict[str, Any]:
    page = ctx.page()
    out = svc.list_resend_domains(ctx.org_id)
    out["domains"], out["next_cursor"] = slice_list(out["domains"], page)
    return out


@api.route("/domains/sync", "POST", summary="Select and sync one domain of your Resend account",
           request_model=DomainSync, response_schema={"success": {"type": "boolean"}, "domain": REF})
def sync_domain(ctx: RequestContext) -> dict[str, Any]:
    return {"success": True, "domain": svc.sync_domain(ctx.org_id, ctx.parse(DomainSync))}


@api.route("/domains/verify", "POST", summary="Ask Resend to verify the DNS records",
           response_schema={"verified": {"type": "boolean"}, "status": {"type": "string"}, "domain": REF})
def verify_domain(ctx: RequestContext) -> dict[str, Any]:
    domain = svc.verify_domain(ctx.org_id)
    return {"verified": domain["status"] == "verified", "status": domain["status"], "domain": domain}


@api.route("/domains/refresh", "POST", summary="Fetch the latest status from Resend", response_schema={"domain": REF})
def refresh_domain(ctx: RequestContext) -> dict[str, Any]:
    return {"domain": svc.refresh_domain(ctx.org_id)}
