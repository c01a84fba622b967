"""OpenAPI 3.1 document generated from the registered endpoints and their pydantic models."""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.framework import ENDPOINTS

# Component schemas of response objects, registered by the modules that own them.
COMPONENTS: dict[str, dict[str, Any]] = {}


def register_component(name: str, schema: dict[str, Any]) -> None:
    """Hand-written component (a pydantic response model of the same name, if any, takes precedence)."""
    COMPONENTS[name] = schema


_REF = "#/components/schemas/{model}"
_NULL_STR = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


# Response bodies whose wrapper the handler module describes only loosely: (method, path) -> properties.
_PAGED = {"pagination": _ref("Pagination"), "next_cursor": _NULL_STR}
_BYOK_CHANGED = {"success": {"const": True}, "byok_keys": _ref("ByokKeys")}
RESPONSE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/calls"): {"calls": _list("Call"), **_PAGED},
    ("POST", "/calls/outbound"): {"$ref": "OutboundCallResult"},
    ("GET", "/calls/{call_id}/webhooks"): {"webhooks": _list("WebhookDelivery")},
    ("GET", "/campaigns/{campaign_id}/leads"): {"leads": _list("CampaignLead"), **_PAGED},
    ("GET", "/usage"): {"logs": _list("UsageLog"), **_PAGED, "summary": _ref("UsageSummary"),
                        "currency": {"type": "string"}},
    ("GET", "/byok"): {"byok_keys": _ref("ByokKeys")},
    ("POST", "/byok"): _BYOK_CHANGED,
    ("DELETE", "/byok"): _BYOK_CHANGED,
    ("GET", "/byok/config"): {"providers": _list("Provider")},
    ("GET", "/voices"): {"voices": _list("Voice"),
                         "warnings": {"type": "array", "items": {"type": "string"},
                                      "description": "Present when the ElevenLabs voices could not be listed"}},
}
_OPTIONAL_KEYS = {"warnings", "children"}

# Query parameters whose values form a closed set or have bounds.
_QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    "offset": {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0},
    "include_children": {"type": "boolean"},
    "start_date": {"type": "string", "description": "RFC 3339 date-time or date"},
    "end_date": {"type": "string", "description": "RFC 3339 date-time or date"},
}
_CALL_STATUS_FILTER = {"type": "string", "enum": ["connecting", "in-progress", "ended", "failed"]}

_ERRORS = {
    "400": "Malformed or invalid request (invalid_request, missing_field, invalid_parameter, call_not_active)",
    "401": "Missing, malformed or revoked API key",
    "402": "Insufficient credits (billing enforcement)",
    "403": "Action on an organization the key does not own",
    "404": "Unknown id (also another organization's id)",
    "409": "Conflict with the current state (duplicate, wrong status, reused Idempotency-Key)",
    "413": "Request body larger than 256 KB",
    "415": "Content-Type is not application/json (unsupported_media_type)",
    "429": "Rate limit exceeded (Retry-After)",
    "500": "Unexpected error on our side (internal_error; never a stack trace)",
    "502": "An upstream provider (Twilio, Resend, ElevenLabs, the media service) failed (upstream_error)",
}
# Which operations can answer which of the conditional codes (from the services' raises).
_CONFLICT = {("POST", "/numbers"), ("PATCH", "/numbers/{number_id}"), ("POST", "/sip-trunks"),
             ("DELETE", "/sip-trunks/{trunk_id}"), ("POST", "/domains"), ("POST", "/domains/sync"),
             ("POST", "/calls/outbound"), ("PATCH", "/campaigns/{campaign_id}"),
             ("DELETE", "/campaigns/{campaign_id}"), ("POST", "/campaigns/{campaign_id}/leads"),
             ("DELETE", "/campaigns/{campaign_id}/leads/{lead_id}")}
_CREDITS = {("POST", "/calls/outbound"), ("PATCH", "/campaigns/{campaign_id}")}
_FORBIDDEN = {("POST", "/organizations")}
_UPSTREAM_TAGS = {"Domains", "Voices"}
_UPSTREAM = {("POST", "/calls/outbound"), ("POST", "/calls/{call_id}/control"), ("POST", "/numbers"),
             ("DELETE", "/numbers/{number_id}"), ("PATCH", "/campaigns/{campaign_id}")}


def _error_response(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": _ref("Error")}}}


def _error_codes(method: str, public: str, ep: Any, has_body: bool) -> list[str]:
    key = (method, public)
    codes = ["500"]
    if ep.auth:
        codes += ["400", "401", "429"]
    elif ep.query or has_body:
        codes.append("400")
    if "{" in public or (has_body and ep.auth):
        codes.append("404")  # ids in the path, or ids in the body (agent_id, number_id, ...)
    if has_body:
        codes += ["413", "415"]
    if key in _CONFLICT:
        codes.append("409")
    if key in _CREDITS:
        codes.append("402")
    if key in _FORBIDDEN:
        codes.append("403")
    if key in _UPSTREAM or ep.tag in _UPSTREAM_TAGS:
        codes.append("502")
    return sorted(set(codes))


def wire_names(schema: Any, models: dict[str, type[BaseModel]] | None = None) -> Any:
    """Rename Python-keyword fields (``schema_``, ``async_``) to their wire names and make ``nullable``
    OpenAPI 3.1 (``type: [X, "null"]``), recursively."""
    if isinstance(schema, list):
        return [wire_names(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: wire_names(v) for k, v in schema.items()}
    props = out.get("properties")
    if isinstance(props, dict) and not out.get("x-free-form"):
        renamed = {(k[:-1] if k.endswith("_") and not k.startswith("_") else k): v for k, v in props.items()}
        out["properties"] = renamed
        if isinstance(out.get("required"), list):
            out["required"] = [r[:-1] if r.endswith("_") else r for r in out["required"]]
    if out.pop("nullable", False):
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif "$ref" in out or "enum" in out:
            inner = {k: v for k, v in out.items() if k not in ("description", "title", "default")}
            out = {"anyOf": [inner, {"type": "null"}],
                   **{k: v for k, v in out.items() if k in ("description", "title", "default")}}
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _model_components() -> tuple[dict[str, Any], dict[str, Any]]:
    """(request components, response components), both generated from the pydantic models."""
    from chalicelib.models.responses import RESPONSE_MODELS

    requests: list[type[BaseModel]] = []
    for methods in ENDPOINTS.values():
        for ep in methods.values():
            if ep.request_model is not None and ep.request_model not in requests:
                requests.append(ep.request_model)
    _, top = models_json_schema([(m, "validation") for m in requests], by_alias=False, ref_template=_REF)
    req_defs: dict[str, Any] = dict(top.get("$defs", {}))
    # Validation mode on purpose: ApiModel's wrap serializer makes serialization schemas opaque, and the
    # response models have no serializers (what they accept is what the handlers emit).
    _, top = models_json_schema([(m, "validation") for m in RESPONSE_MODELS], by_alias=False, ref_template=_REF)
    resp_defs: dict[str, Any] = dict(top.get("$defs", {}))
    # A nested request model shown in a response (STTConfig, FunctionTool ...) gets its own "<Name>Out"
    # component: responses replace write-only secrets with *_set flags.
    top_level = {m.__name__ for m in RESPONSE_MODELS}
    shared = {n for n in resp_defs if n in req_defs and n not in top_level}
    if shared:
        text = json.dumps(resp_defs)
        for name in shared:
            text = text.replace(f'"#/components/schemas/{name}"', f'"#/components/schemas/{name}Out"')
        resp_defs = {(f"{k}Out" if k in shared else k): v for k, v in json.loads(text).items()}
    tool = resp_defs.get("FunctionToolOut")
    if tool:
        tool["properties"].pop("secret", None)
        tool["properties"]["secret_set"] = {"type": "boolean", "description": "A signing secret is stored"}
    return req_defs, resp_defs


def _body_schema(method: str, public: str, ep: Any) -> dict[str, Any]:
    override = RESPONSE_BODIES.get((method, public))
    props = override if override is not None else ep.response_schema
    if not props:
        return {"type": "object"}
    if "$ref" in props:
        ref = props["$ref"]
        return ref if isinstance(ref, dict) else _ref(ref) if "/" not in ref else {"$ref": ref}
    props = {k: ({"const": True} if k == "success" else v) for k, v in props.items()}
    return {"type": "object", "properties": props,
            "required": [k for k in props if k not in _OPTIONAL_KEYS],
            "additionalProperties": False}


@lru_cache(maxsize=1)
def build_spec() -> dict[str, Any]:
    req_defs, resp_defs = _model_components()
    components = wire_names({**COMPONENTS, **req_defs, **resp_defs})
    paths: dict[str, Any] = {}
    for path, methods in sorted(ENDPOINTS.items()):
        if not path.startswith("/api/v1"):
            continue  # Twilio callbacks (/twilio/...) are not part of the public API
        public = path[len("/api/v1"):] or "/"
        item: dict[str, Any] = {}
        for method, ep in sorted(methods.items()):
            op: dict[str, Any] = {
                "summary": ep.summary.strip().splitlines()[0] if ep.summary else "",
                "tags": [ep.tag],
                "operationId": f"{method.lower()}_{re.sub(r'[^a-zA-Z0-9]+', '_', public).strip('_')}",
                "responses": {},
            }
            if ep.summary and len(ep.summary.strip().splitlines()) > 1:
                op["description"] = " ".join(x.strip() for x in ep.summary.strip().splitlines()[1:])
            params: list[dict[str, Any]] = [
                {"name": p, "in": "path", "required": True,
                 "schema": {"type": "string", "format": "uuid"} if p.endswith("_id") else {"type": "string"}}
                for p in re.findall(r"{([^}]+)}", path)]
            for n, t, d in ep.query:
                schema = dict(_QUERY_SCHEMAS.get(n, {"type": t}))
                if n == "status" and public == "/calls":
                    schema = dict(_CALL_STATUS_FILTER)
                params.append({"name": n, "in": "query", "required": False, "schema": schema, "description": d})
            if params:
                op["parameters"] = params
            has_body = ep.request_model is not None
            if has_body:
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": _ref(ep.request_model.__name__)}}}
            op["responses"][str(ep.status)] = {"description": "Success", "content": {"application/json": {
                "schema": wire_names(_body_schema(method, public, ep))}}}
            for code in _error_codes(method, public, ep, has_body):
                op["responses"][code] = _error_response(_ERRORS[code])
            op["security"] = [{"bearerAuth": []}] if ep.auth else []
            if ep.deprecated:
                op["deprecated"] = True
            item[method.lower()] = op
        paths[public] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Voice agent platform API (Flireo-compatible)",
            "version": "1.0.0",
            "description": "REST API for AI phone agents. Errors use the flat shape "
                           "{error, message, param?, details?}. Lists accept limit/offset/cursor. "
                           "Outgoing webhooks: see docs/webhooks.md; campaigns: docs/campaigns.md.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


def docs_html() -> str:
    spec = build_spec()
    rows = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            dep = " <em>(deprecated)</em>" if op.get("deprecated") else ""
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            ref = body.get("$ref", "").rsplit("/", 1)[-1]
            fields = ""
            if ref:
                props = spec["components"]["schemas"].get(ref, {}).get("properties", {})
                fields = ", ".join(html.escape(k) for k in props)
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('summary', ''))}{dep}</td><td>{fields}</td></tr>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>API reference</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:4px 8px;border-bottom:1px solid #ddd}"
        "</style></head><body><h1>" + html.escape(spec["info"]["title"]) + "</h1>"
        "<p>Machine-readable document: <a href='openapi.json'>openapi.json</a>. Authenticate with "
        "<code>Authorization: Bearer &lt;API_KEY&gt;</code>.</p>"
        "<table><tr><th>Method</th><th>Path</th><th>Summary</th><th>Body fields</th></tr>"
        + "".join(rows) + "</table></body></html>"
    )
