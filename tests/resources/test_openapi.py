"""The resources endpoints and their response objects are part of the generated OpenAPI document."""

from __future__ import annotations

import json


def test_resources_in_openapi(client):
    doc = json.loads(client.http.get("/api/v1/openapi.json").body)
    paths = doc["paths"]
    expected = {
        "/numbers": {"get", "post"}, "/numbers/{number_id}": {"get", "patch", "delete"},
        "/sip-trunks": {"get", "post"}, "/sip-trunks/{trunk_id}": {"get", "delete"},
        "/byok": {"get", "post", "delete"}, "/byok/config": {"get"}, "/voices": {"get"},
        "/domains": {"get", "post", "delete"}, "/domains/sync": {"get", "post"}, "/domains/verify": {"post"},
        "/domains/refresh": {"post"}, "/usage": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    for name in ("PhoneNumber", "SipTrunk", "Voice", "Domain", "UsageLog"):
        assert name in doc["components"]["schemas"], name
    trunk = doc["components"]["schemas"]["SipTrunk"]["properties"]
    assert "password" not in trunk and "password_set" in trunk
    usage_params = {p["name"] for p in paths["/usage"]["get"].get("parameters", [])}
    assert {"limit", "offset", "cursor", "start_date", "end_date"} <= usage_params
