"""/tool-templates and /analysis-templates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.framework import PAGE_QUERY, ApiRouter, RequestContext
from chalicelib.lazy import lazy_module
from chalicelib.models.templates import (
    AnalysisTemplateCreate,
    AnalysisTemplateUpdate,
    ToolTemplateCreate,
    ToolTemplateUpdate,
)

if TYPE_CHECKING:
    from chalicelib.services import templates as svc
else:  # imported on first use: keeps the cold start of every function short
    svc = lazy_module("chalicelib.services.templates")

bp = Blueprint(__name__)
tools = ApiRouter(bp, "Tool Templates")
analysis = ApiRouter(bp, "Analysis Templates")
TOOL = {"$ref": "#/components/schemas/ToolTemplate"}
ANALYSIS = {"$ref": "#/components/schemas/AnalysisTemplate"}
OK = {"success": {"type": "boolean"}}


NEXT = {"next_cursor": {"type": ["string", "null"]}}


@tools.route("/tool-templates", "GET", summary="List all tool templates", query=PAGE_QUERY,
             response_schema={"tool_templates": {"type": "array", "items": TOOL}, **NEXT})
def list_tool_templates(ctx: RequestContext) -> dict[str, Any]:
    page = ctx.page()
    items, nxt = svc.page_tool_templates(ctx.org_id, page.limit, page.offset, page.cursor)
    return {"tool_templates": items, "next_cursor": page.next_cursor(nxt)}


@tools.route("/tool-templates", "POST", status=201, summary="Create a new tool template",
             request_model=ToolTemplateCreate, response_schema={"tool_template": TOOL})
def create_tool_template(ctx: RequestContext) -> dict[str, Any]:
    return {"tool_template": svc.create_tool_template(ctx.org_id, ctx.parse(ToolTemplateCreate))}


@tools.route("/tool-templates/{template_id}", "GET", summary="Get a tool template",
             response_schema={"tool_template": TOOL})
def get_tool_template(ctx: RequestContext) -> dict[str, Any]:
    return {"tool_template": svc.get_tool_template(ctx.org_id, ctx.path_params["template_id"])}


@tools.route("/tool-templates/{template_id}", "PATCH", summary="Update a tool template",
             request_model=ToolTemplateUpdate, response_schema={"tool_template": TOOL})
def update_tool_template(ctx: RequestContext) -> dict[str, Any]:
    body = ctx.parse(ToolTemplateUpdate)
    return {"tool_template": svc.update_tool_template(ctx.org_id, ctx.path_params["template_id"], body)}


@tools.route("/tool-templates/{template_id}", "DELETE", summary="Delete a tool template", response_schema=OK)
def delete_tool_template(ctx: RequestContext) -> dict[str, Any]:
    svc.delete_tool_template(ctx.org_id, ctx.path_params["template_id"])
    return {"success": True}


@analysis.route("/analysis-templates", "GET", summary="List analysis templates", query=PAGE_QUERY,
                response_schema={"analysis_templates": {"type": "array", "items": ANALYSIS}, **NEXT})
def list_analysis_templates(ctx: RequestContext) -> dict[str, Any]:
    page = ctx.page()
    items, nxt = svc.page_analysis_templates(ctx.org_id, page.limit, page.offset, page.cursor)
    return {"analysis_templates": items, "next_cursor": page.next_cursor(nxt)}


@analysis.route("/analysis-templates", "POST", status=201, summary="Create analysis template",
                request_model=AnalysisTemplateCreate, response_schema={"analysis_template": ANALYSIS})
def create_analysis_template(ctx: RequestContext) -> dict[str, Any]:
    return {"analysis_template": svc.create_analysis_template(ctx.org_id, ctx.parse(AnalysisTemplateCreate))}


@analysis.route("/analysis-templates/{template_id}", "GET", summary="Get analysis template",
                response_schema={"analysis_template": ANALYSIS})
def get_analysis_template(ctx: RequestContext) -> dict[str, Any]:
    return {"analysis_template": svc.get_analysis_template(ctx.org_id, ctx.path_params["template_id"])}


@analysis.route("/analysis-templates/{template_id}", "PATCH", summary="Update analysis template",
                request_model=AnalysisTemplateUpdate, response_schema={"analysis_template": ANALYSIS})
def update_analysis_template(ctx: RequestContext) -> dict[str, Any]:
    body = ctx.parse(AnalysisTemplateUpdate)
    return {"analysis_template": svc.update_analysis_template(ctx.org_id, ctx.path_params["template_id"], body)}


@analysis.route("/analysis-templates/{template_id}", "DELETE", summary="Delete analysis template",
                response_schema=OK)
def delete_analysis_template(ctx: RequestContext) -> dict[str, Any]:
    svc.delete_analysis_template(ctx.org_id, ctx.path_params["template_id"])
    return {"success": True}
