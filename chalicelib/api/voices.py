"""/voices: ElevenLabs voices of the org's (or the platform's) account plus the xAI realtime voices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.framework import PAGE_QUERY, ApiRouter, RequestContext
from chalicelib.api.openapi import register_component
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    from chalicelib.services import voices as svc
else:  # imported on first use: keeps the cold start of every function short
    svc = lazy_module("chalicelib.services.voices")

bp = Blueprint(__name__)
api = ApiRouter(bp, "Voices")
register_component("Voice", {"type": "object", "properties": {
    "id": {"type": "string"}, "name": {"type": "string"},
    "provider": {"type": "string", "enum": ["elevenlabs", "xai"]},
    "language": {"type": ["string", "null"]},
    "description": {"type": ["object", "null"], "properties": {"en": {"type": "string"}, "nl": {"type": "string"}}},
    "preview_url": {"type": ["string", "null"]},
    "style": {"type": "string", "description": "xAI realtime voices only"},
}})


@api.route("/voices", "GET", summary="List voices", query=PAGE_QUERY,
           response_schema={"voices": {"type": "array", "items": {"$ref": "#/components/schemas/Voice"}},
                            "next_cursor": {"type": "string", "nullable": True},
                            "warnings": {"type": "array", "items": {"type": "string"}}})
def list_voices(ctx: RequestContext) -> dict[str, Any]:
    return svc.list_voices(ctx.org_id, ctx.page())
