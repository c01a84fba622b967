"""/campaigns and /campaigns/{id}/leads (contract: Campaigns; docs/workflows.md for the run)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.framework import ApiRouter, RequestContext
from chalicelib.api.openapi import register_component
from chalicelib.lazy import lazy_module
from chalicelib.models.campaigns import CampaignCreate, CampaignUpdate, LeadCreate

if TYPE_CHECKING:
    from chalicelib.services import campaigns as svc
else:  # imported on first use: keeps the cold start of every function short
    svc = lazy_module("chalicelib.services.campaigns")

bp = Blueprint(__name__)
router = ApiRouter(bp, "Campaigns")
CAMPAIGN = {"$ref": "#/components/schemas/Campaign"}
LEAD = {"$ref": "#/components/schemas/CampaignLead"}
OK = {"success": {"type": "boolean"}}
PAGE_QUERY = [("limit", "integer", "Page size (default 100, max 1000)"),
              ("offset", "integer", "Leads to skip"),
              ("cursor", "string", "next_cursor of the previous page (cheaper than offset)")]


def _register_schemas() -> None:
    register_component("Campaign", {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
        "status": {"type": "string", "enum": ["draft", "scheduled", "running", "paused", "completed", "cancelled"]},
        "agent_id": {"type": "string", "format": "uuid"}, "number_id": {"type": "string", "nullable": True},
        "system_message_template": {"type": "string", "nullable": True},
        "schedule_start_time": {"type": "string", "example": "09:00:00"},
        "schedule_end_time": {"type": "string", "example": "17:00:00"},
        "timezone": {"type": "string", "example": "Europe/Amsterdam"},
        "calling_days": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 7}},
        "max_concurrent_calls": {"type": "integer"}, "max_attempts": {"type": "integer"},
        "retry_delay_minutes": {"type": "integer"}, "total_leads": {"type": "integer"},
        "completed_leads": {"type": "integer"}, "failed_leads": {"type": "integer"},
        "pending_leads": {"type": "integer"}, "active_calls": {"type": "integer"},
        "error": {"type": "string", "nullable": True}, "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"}}})
    register_component("CampaignLead", {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, "campaign_id": {"type": "string", "format": "uuid"},
        "phone_number": {"type": "string"}, "name": {"type": "string", "nullable": True},
        "variables": {"type": "object", "additionalProperties": {"type": "string"}},
        "status": {"type": "string", "enum": ["pending", "calling", "completed", "failed", "no_answer", "busy",
                                              "voicemail", "skipped"]},
        "call_id": {"type": "string", "nullable": True}, "attempts": {"type": "integer"},
        "last_attempt_at": {"type": "string", "nullable": True},
        "next_attempt_at": {"type": "string", "nullable": True},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"}}})


_register_schemas()


@router.route("/campaigns", "GET", summary="List campaigns (oldest first)", query=PAGE_QUERY,
              response_schema={"campaigns": {"type": "array", "items": CAMPAIGN},
                               "next_cursor": {"type": "string", "nullable": True}})
def list_campaigns(ctx: RequestContext) -> dict[str, Any]:
    campaigns, next_cursor = svc.list_campaigns(ctx.org_id, ctx.page())
    return {"campaigns": campaigns, "next_cursor": next_cursor}


@router.route("/campaigns", "POST", status=201, summary="Create a campaign (optionally with leads)",
              request_model=CampaignCreate, response_schema={"campaign": CAMPAIGN})
def create_campaign(ctx: RequestContext) -> dict[str, Any]:
    return {"campaign": svc.create_campaign(ctx.org_id, ctx.parse(CampaignCreate))}


@router.route("/campaigns/{campaign_id}", "GET", summary="Get a campaign", response_schema={"campaign": CAMPAIGN})
def get_campaign(ctx: RequestContext) -> dict[str, Any]:
    return {"campaign": svc.get_campaign(ctx.org_id, ctx.path_params["campaign_id"])}


@router.route("/campaigns/{campaign_id}", "PATCH",
              summary="Update a campaign; status scheduled starts or resumes it, paused pauses, cancelled stops",
              request_model=CampaignUpdate, response_schema={"campaign": CAMPAIGN})
def update_campaign(ctx: RequestContext) -> dict[str, Any]:
    body = ctx.parse(CampaignUpdate)
    return {"campaign": svc.update_campaign(ctx.org_id, ctx.path_params["campaign_id"], body)}


@router.route("/campaigns/{campaign_id}", "DELETE", summary="Delete a campaign (a running one is cancelled first)",
              response_schema=OK)
def delete_campaign(ctx: RequestContext) -> dict[str, Any]:
    svc.delete_campaign(ctx.org_id, ctx.path_params["campaign_id"])
    return {"success": True}


@router.route("/campaigns/{campaign_id}/leads", "GET", summary="List a campaign's leads", query=PAGE_QUERY,
              response_schema={"leads": {"type": "array", "items": LEAD}, "pagination": {"type": "object"},
                               "next_cursor": {"type": "string", "nullable": True}})
def list_leads(ctx: RequestContext) -> dict[str, Any]:
    page = ctx.page()
    leads, pagination, next_key = svc.list_leads(ctx.org_id, ctx.path_params["campaign_id"], limit=page.limit,
                                                 offset=page.offset, cursor=page.cursor)
    return {"leads": leads, "pagination": pagination, "next_cursor": page.next_cursor(next_key)}


@router.route("/campaigns/{campaign_id}/leads", "POST", status=201, summary="Add a lead (picked up while running)",
              request_model=LeadCreate, response_schema={"lead": LEAD})
def add_lead(ctx: RequestContext) -> dict[str, Any]:
    return {"lead": svc.add_lead(ctx.org_id, ctx.path_params["campaign_id"], ctx.parse(LeadCreate))}


@router.route("/campaigns/{campaign_id}/leads/{lead_id}", "DELETE", summary="Remove a lead", response_schema=OK)
def delete_lead(ctx: RequestContext) -> dict[str, Any]:
    svc.delete_lead(ctx.org_id, ctx.path_params["campaign_id"], ctx.path_params["lead_id"])
    return {"success": True}
