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
    ("POST", "/calls/web"): {"$ref": "WebCallResult"},
    ("GET", "/calls/{call_id}/webhooks"): {"webhooks": _list("WebhookDelivery"), "next_cursor": _NULL_STR},
    ("GET", "/campaigns/{campaign_id}/leads"): {"leads": _list("CampaignLead"), **_PAGED},
    ("GET", "/usage"): {"logs": _list("UsageLog"), **_PAGED, "summary": _ref("UsageSummary"),
                        "currency": {"type": "string"}},
    ("GET", "/byok"): {"byok_keys": _ref("ByokKeys")},
    ("POST", "/byok"): _BYOK_CHANGED,
    ("DELETE", "/byok"): _BYOK_CHANGED,
    ("GET", "/byok/config"): {"providers": _list("Provider")},
    ("GET", "/health"): {"status": {"const": "ok"}},
    ("GET", "/voices"): {"voices": _list("Voice"), "next_cursor": _NULL_STR,
                         "warnings": {"type": "array", "items": {"type": "string"},
                                      "description": "Present when the ElevenLabs voices could not be listed"}},
}
_OPTIONAL_KEYS = {"warnings", "children"}
_NON_JSON = {"/docs": "text/html", "/docs/assets/redoc.standalone.js": "application/javascript"}

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
    "405": "Method not allowed on the path the URL resolves to (also when an empty id makes it name the "
           "collection); the Allow header lists the methods",
    "409": "Conflict with the current state (duplicate, wrong status, reused Idempotency-Key)",
    "413": "Request body larger than 256 KB",
    "415": "Content-Type is not application/json (unsupported_media_type)",
    "429": "Rate limit exceeded (Retry-After)",
    "500": "Unexpected error on our side (internal_error; never a stack trace)",
    "503": "Storage is not reachable (error: unavailable); on POST /calls/outbound also every media task at "
           "capacity (capacity_exceeded, Retry-After in seconds): the call was not dialed",
    "502": "An upstream provider (Twilio, Resend, ElevenLabs, the media service) failed (upstream_error)",
}
# Which operations can answer which of the conditional codes (from the services' raises).
_CONFLICT = {("POST", "/numbers"), ("PATCH", "/numbers/{number_id}"), ("POST", "/sip-trunks"),
             ("DELETE", "/sip-trunks/{trunk_id}"), ("POST", "/domains"), ("POST", "/domains/sync"),
             ("POST", "/calls/outbound"), ("PATCH", "/campaigns/{campaign_id}"),
             ("DELETE", "/campaigns/{campaign_id}"), ("POST", "/campaigns/{campaign_id}/leads"),
             ("DELETE", "/campaigns/{campaign_id}/leads/{lead_id}"),
             # the call is in progress on its row but its media task refuses the command (ending, gone)
             ("POST", "/calls/{call_id}/control")}
_CREDITS = {("POST", "/calls/outbound"), ("PATCH", "/campaigns/{campaign_id}")}
_FORBIDDEN = {("POST", "/organizations")}
_UPSTREAM_TAGS = {"Domains", "Voices"}
_UPSTREAM = {("POST", "/calls/outbound"), ("POST", "/calls/{call_id}/control"), ("POST", "/numbers"),
             ("DELETE", "/numbers/{number_id}"), ("PATCH", "/campaigns/{campaign_id}")}


def _error_response(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": _ref("Error")}}}


def _error_codes(method: str, public: str, ep: Any, has_body: bool) -> list[str]:
    key = (method, public)
    codes = ["405", "500"]
    if ep.auth:
        codes += ["400", "401", "429"]
    elif ep.query or has_body:
        codes.append("400")
    if "{" in public or (has_body and ep.auth) or public.startswith("/domains"):
        # /domains is a per-org singleton: 404 until one is added.
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
    if key in (("GET", "/health"), ("POST", "/calls/outbound")):
        codes.append("503")
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
        # Property titles are pydantic's "Webhook Secret Set" noise; model titles stay (generators use them).
        props = {k: ({kk: vv for kk, vv in v.items() if kk != "title"} if isinstance(v, dict) else v)
                 for k, v in props.items()}
        renamed = {(k[:-1] if k.endswith("_") and not k.startswith("_") else k): v for k, v in props.items()}
        out["properties"] = renamed
        if isinstance(out.get("required"), list):
            out["required"] = [r[:-1] if r.endswith("_") else r for r in out["required"]]
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        # anyOf [{type: X, ...}, {type: null}] -> type: [X, "null"] (same meaning, the compact 3.1 form)
        other = options[0] if options[1] == {"type": "null"} else options[1]
        if isinstance(other, dict) and isinstance(other.get("type"), str) and not (
                {"$ref", "enum", "const", "anyOf", "oneOf", "allOf"} & set(other)):
            out.pop("anyOf")
            out = {**other, **out, "type": [other["type"], "null"]}
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
        for name in shared:
            resp_defs[f"{name}Out"]["title"] = f"{name}Out"  # generators name models after the title
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


_WEBHOOK_EVENTS = {
    "status-update": "The call became in-progress, or ended. Retried for up to 15 minutes; delivered in "
                     "sequence order per call.",
    "end-of-call-report": "Transcript, summary, analysis and recording after the call. Retried like status-update.",
    "assistant-request": "An inbound call rings: answer within 5 s with {}, {assistant}, {assistant_id, "
                         "assistant_override}, {max_duration_seconds} or {error}. Never retried.",
    "tool-calls": "The model calls a function tool: answer within 10 s with {results: [{tool_call_id, result}]}, "
                  "{result} or {error}. Never retried.",
    "transcript": "A final line of the live conversation: role (user or assistant), transcript, "
                  "transcript_type final. Sent once, in sequence order with the call's other events.",
    "speech-update": "The caller or the agent started or stopped speaking: role, status (started, stopped). "
                     "Sent once, in sequence order.",
    "conversation-update": "After each new line: messages, the whole conversation so far (as in the call's "
                           "messages). Sent once, in sequence order.",
    "test-run.completed": "A test run finished (docs/evals.md): the run as GET /test-runs/{id} shows it, with "
                          "results. Sent to the run's assistant's webhook_url; retried like status-update.",
}
# Events whose body is not the call envelope: event -> component schema.
_WEBHOOK_BODIES = {"test-run.completed": "TestRunCompletedEnvelope"}


def _webhooks() -> dict[str, Any]:
    """OpenAPI 3.1 ``webhooks``: the requests we send to an assistant's webhook_url (docs/webhooks.md)."""
    headers = [
        {"name": "X-Webhook-Event", "in": "header", "required": True,
         "schema": {"type": "string", "enum": list(_WEBHOOK_EVENTS)}},
        {"name": "X-Webhook-Timestamp", "in": "header", "required": True,
         "schema": {"type": "string", "pattern": "^[0-9]+$"}, "description": "Unix seconds of this attempt"},
        {"name": "X-Webhook-Signature", "in": "header", "required": False,
         "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
         "description": "HMAC-SHA256 of '<X-Webhook-Timestamp>.<raw body>' keyed with webhook_secret; "
                        "absent when no secret is set"},
    ]
    return {event: {"post": {
        "summary": event, "description": text, "operationId": f"webhook_{event.replace('-', '_')}",
        "tags": ["Webhooks"], "parameters": headers,
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": _ref(_WEBHOOK_BODIES.get(event, "WebhookEnvelope"))}}},
        "responses": {"200": {"description": "Received (any 2xx)"}},
    }} for event, text in _WEBHOOK_EVENTS.items()}


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
            if ep.request_model is not None:
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": _ref(ep.request_model.__name__)}}}
            media = _NON_JSON.get(public)
            if media:
                content = {media: {"schema": {"type": "string"}}}
            else:
                content = {"application/json": {"schema": wire_names(_body_schema(method, public, ep))}}
            op["responses"][str(ep.status)] = {"description": "Success", "content": content}
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
                           "{error, message, param?, details?}. Lists accept limit/offset/cursor. Field names are "
                           "snake_case; on input the documented camelCase spellings (firstMessage, voiceId, "
                           "structuredDataPlan ...) are accepted too. "
                           "Outgoing webhooks: see docs/webhooks.md; campaigns: docs/campaigns.md.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "webhooks": _webhooks(),
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


def docs_html() -> str:
    """The reference page: Redoc (vendored, served from /docs/assets/) rendering openapi.json."""
    spec = build_spec()
    title = html.escape(spec["info"]["title"])
    # Without JavaScript: at least the list of operations.
    rows = "".join(
        f"<li><code>{method.upper()} /api/v1{html.escape(path)}</code> {html.escape(op.get('summary', ''))}</li>"
        for path, item in spec["paths"].items() for method, op in item.items())
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<style>body{margin:0;font-family:sans-serif}header{padding:8px 16px;border-bottom:1px solid #ddd;"
        "font-size:14px}header a{margin-right:16px}</style></head><body>"
        "<header><a href='openapi.json'>openapi.json</a>"
        "Guides in the repository: <code>docs/api.md</code>, <code>docs/webhooks.md</code> "
        "(events, signing, retries, ordering), <code>docs/campaigns.md</code> (calling window, retries, "
        "counters). Authenticate with <code>Authorization: Bearer &lt;API_KEY&gt;</code>.</header>"
        "<redoc spec-url='openapi.json' hide-hostname='true' path-in-middle-panel='true'></redoc>"
        f"<noscript><ul>{rows}</ul></noscript>"
        "<script src='docs/assets/redoc.standalone.js'></script>"
        "</body></html>"
    )
