"""/organizations, /account (deprecated) and /health."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.framework import ApiRouter, RequestContext
from chalicelib.lazy import lazy_module
from chalicelib.models.orgs import OrganizationCreate
from chalicelib.paging import parse_bool

if TYPE_CHECKING:
    from chalicelib.services import health
    from chalicelib.services import orgs as svc
else:  # imported on first use: keeps the cold start of every function short
    health = lazy_module("chalicelib.services.health")
    svc = lazy_module("chalicelib.services.orgs")

bp = Blueprint(__name__)
api = ApiRouter(bp, "Organization")
ORG = {"$ref": "#/components/schemas/Organization"}


@api.route("/organizations", "GET", summary="Get organization information",
           query=[("include_children", "boolean", "Also list child organizations")], response_schema=ORG)
def get_organization(ctx: RequestContext) -> dict[str, Any]:
    return svc.get_organization(ctx.org_id, parse_bool(ctx.query, "include_children"))


@api.route("/organizations", "POST", status=201, summary="Create organization (a child of the caller's)",
           request_model=OrganizationCreate, response_schema={"$ref": "#/components/schemas/OrganizationCreated"})
def create_organization(ctx: RequestContext) -> dict[str, Any]:
    return svc.create_child_organization(ctx.org_id, ctx.parse(OrganizationCreate))


@api.route("/account", "GET", summary="Get organization information (deprecated)", deprecated=True,
           headers={"Deprecation": "true", "Link": '</api/v1/organizations>; rel="successor-version"'},
           response_schema=ORG)
def get_account(ctx: RequestContext) -> dict[str, Any]:
    return svc.get_organization(ctx.org_id)


@api.route("/health", "GET", auth=False, summary="Health check (no auth)",
           response_schema={"status": {"type": "string"}})
def get_health(ctx: RequestContext) -> object:
    return health.check()
