"""/assistants and the deprecated /agents alias."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.framework import PAGE_QUERY, ApiRouter, RequestContext
from chalicelib.lazy import lazy_module
from chalicelib.models.assistant import AssistantCreate, AssistantUpdate

if TYPE_CHECKING:
    from chalicelib.services import assistants as svc
else:  # imported on first use: keeps the cold start of every function short
    svc = lazy_module("chalicelib.services.assistants")

bp = Blueprint(__name__)
api = ApiRouter(bp, "Assistants")
agents = ApiRouter(bp, "Agents (deprecated)")
DEPRECATED = {"Deprecation": "true", "Link": '</api/v1/assistants>; rel="successor-version"'}
REF = {"$ref": "#/components/schemas/Assistant"}


NEXT = {"next_cursor": {"type": ["string", "null"]}}


def _page(ctx: RequestContext, key: str) -> dict[str, Any]:
    page = ctx.page()
    items, nxt = svc.page_assistants(ctx.org_id, page.limit, page.offset, page.cursor)
    return {key: items, "next_cursor": page.next_cursor(nxt)}


@api.route("/assistants", "GET", summary="List all assistants", query=PAGE_QUERY,
           response_schema={"assistants": {"type": "array", "items": REF}, **NEXT})
def list_assistants(ctx: RequestContext) -> dict[str, Any]:
    return _page(ctx, "assistants")


@api.route("/assistants", "POST", status=201, summary="Create a new assistant",
           request_model=AssistantCreate, response_schema={"assistant": REF})
def create_assistant(ctx: RequestContext) -> dict[str, Any]:
    return {"assistant": svc.create_assistant(ctx.org_id, ctx.parse(AssistantCreate))}


@api.route("/assistants/{assistant_id}", "GET", summary="Get an assistant", response_schema={"assistant": REF})
def get_assistant(ctx: RequestContext) -> dict[str, Any]:
    return {"assistant": svc.get_assistant(ctx.org_id, ctx.path_params["assistant_id"])}


@api.route("/assistants/{assistant_id}", "PATCH", summary="Update an assistant",
           request_model=AssistantUpdate, response_schema={"assistant": REF})
def update_assistant(ctx: RequestContext) -> dict[str, Any]:
    body = ctx.parse(AssistantUpdate)
    return {"assistant": svc.update_assistant(ctx.org_id, ctx.path_params["assistant_id"], body)}


@api.route("/assistants/{assistant_id}", "DELETE", summary="Delete an assistant",
           response_schema={"success": {"type": "boolean"}})
def delete_assistant(ctx: RequestContext) -> dict[str, Any]:
    svc.delete_assistant(ctx.org_id, ctx.path_params["assistant_id"])
    return {"success": True}


# ---- deprecated /agents: same store, agent/agents wrappers, Deprecation header
@agents.route("/agents", "GET", summary="List all agents (deprecated)", deprecated=True, headers=DEPRECATED,
              query=PAGE_QUERY, response_schema={"agents": {"type": "array", "items": REF}, **NEXT})
def list_agents(ctx: RequestContext) -> dict[str, Any]:
    return _page(ctx, "agents")


@agents.route("/agents", "POST", status=201, summary="Create a new agent (deprecated)", deprecated=True,
              headers=DEPRECATED, request_model=AssistantCreate, response_schema={"agent": REF})
def create_agent(ctx: RequestContext) -> dict[str, Any]:
    return {"agent": svc.create_assistant(ctx.org_id, ctx.parse(AssistantCreate))}


@agents.route("/agents/{agent_id}", "GET", summary="Get an agent (deprecated)", deprecated=True,
              headers=DEPRECATED, response_schema={"agent": REF})
def get_agent(ctx: RequestContext) -> dict[str, Any]:
    return {"agent": svc.get_assistant(ctx.org_id, ctx.path_params["agent_id"])}


@agents.route("/agents/{agent_id}", "PATCH", summary="Update an agent (deprecated)", deprecated=True,
              headers=DEPRECATED, request_model=AssistantUpdate, response_schema={"agent": REF})
def update_agent(ctx: RequestContext) -> dict[str, Any]:
    body = ctx.parse(AssistantUpdate)
    return {"agent": svc.update_assistant(ctx.org_id, ctx.path_params["agent_id"], body)}


@agents.route("/agents/{agent_id}", "DELETE", summary="Delete an agent (deprecated)", deprecated=True,
              headers=DEPRECATED, response_schema={"success": {"type": "boolean"}})
def delete_agent(ctx: RequestContext) -> dict[str, Any]:
    svc.delete_assistant(ctx.org_id, ctx.path_params["agent_id"])
    return {"success": True}
