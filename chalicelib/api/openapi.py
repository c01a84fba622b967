"""OpenAPI 3.1 document generated from the registered endpoints and their pydantic models."""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.framework import ENDPOINTS

# Component schemas of response objects, registered by the modules that own them.
COMPONENTS: dict[str, dict[str, Any]] = {}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "Machine-readable code, e.g. invalid_request"},
        "message": {"type": "string"},
        "param": {"type": "string", "description": "The offending field, when one is at fault"},
        "details": {"type": "array", "items": {"type": "string"}},
    },
}


def register_component(name: str, schema: dict[str, Any]) -> None:
    COMPONENTS[name] = schema


def _timestamps() -> dict[str, Any]:
    return {"created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"}}


def _builtin_components(defs: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.models.assistant import AssistantFields

    fields = AssistantFields.model_json_schema(by_alias=False, ref_template="#/components/schemas/{model}")
    props = dict(fields.get("properties", {}))
    props.pop("webhook_secret", None)
    assistant = {
        "type": "object",
        "properties": {"id": {"type": "string", "format": "uuid"}, "org_id": {"type": "string", "format": "uuid"},
                       **props, "webhook_secret_set": {"type": "boolean"}, **_timestamps()},
    }
    for name, schema in (fields.get("$defs") or {}).items():
        defs.setdefault(name, schema)
    return {
        "Error": ERROR_SCHEMA,
        "Assistant": assistant,
        "ToolTemplate": {"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "org_id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"}, "description": {"type": ["string", "null"]},
            "tool_type": {"enum": ["function", "endCall", "transferCall"]}, "tool_config": {"type": "object"},
            **_timestamps()}},
        "AnalysisTemplate": {"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "org_id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"}, "description": {"type": ["string", "null"]},
            "system_prompt": {"type": ["string", "null"]}, "user_prompt": {"type": ["string", "null"]},
            "schema": {"type": "object"}, **_timestamps()}},
        "Organization": {"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
            "minutes_balance": {"type": "number"}, "monthly_usage_minutes": {"type": "number"},
            "active_numbers": {"type": "integer"}, "active_agents": {"type": "integer"},
            "active_calls": {"type": "integer"}, "has_local_models_access": {"type": "boolean"},
            "parent_org_id": {"type": ["string", "null"]},
            "children": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "name": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"}}}}}},
        "OrganizationCreated": {"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
            "parent_org_id": {"type": ["string", "null"]},
            "api_key": {"type": "string", "description": "Shown once"},
            "created_at": {"type": "string", "format": "date-time"}}},
    }


_ERRORS = {
    "400": "Malformed or invalid request",
    "401": "Missing, malformed or revoked API key",
    "404": "Unknown id (also another organization's id)",
    "429": "Rate limit exceeded",
}


def _error_response(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


@lru_cache(maxsize=1)
def build_spec() -> dict[str, Any]:
    models: list[type[BaseModel]] = []
    for methods in ENDPOINTS.values():
        for ep in methods.values():
            if ep.request_model is not None and ep.request_model not in models:
                models.append(ep.request_model)
    _, top = models_json_schema([(m, "validation") for m in models], by_alias=False,
                                ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    components = {**defs, **_builtin_components(defs), **COMPONENTS}
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
            params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                      for p in re.findall(r"{([^}]+)}", path)]
            params += [{"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
                       for n, t, d in ep.query]
            if params:
                op["parameters"] = params
            if ep.request_model is not None:
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{ep.request_model.__name__}"}}}}
            schema: dict[str, Any] = {"type": "object"}
            if ep.response_schema:
                schema = ep.response_schema if "$ref" in ep.response_schema else {
                    "type": "object", "properties": ep.response_schema}
            op["responses"][str(ep.status)] = {"description": "Success",
                                               "content": {"application/json": {"schema": schema}}}
            for code, desc in _ERRORS.items():
                if code in {"401", "429"} and not ep.auth:
                    continue
                op["responses"][code] = _error_response(desc)
            if ep.auth:
                op["security"] = [{"bearerAuth": []}]
            else:
                op["security"] = []
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
                           "{error, message, param?, details?}. Lists accept limit/offset/cursor.",
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
