"""The API edge: flat errors, body limits, auth, rate limiting, health, OpenAPI and docs."""

from __future__ import annotations

import json

import pytest

FLAT_KEYS = {"error", "message", "param", "details"}


def _flat(r, status, code):
    assert r.status_code == status, r.body
    body = json.loads(r.body)
    assert body["error"] == code and isinstance(body["message"], str) and body["message"]
    assert set(body) <= FLAT_KEYS
    assert "Traceback" not in r.body.decode()
    return body


def test_unknown_route_is_flat_404(api, client):
    _flat(api.get("/nope"), 404, "not_found")
    _flat(client.http.get("/totally/unknown"), 404, "not_found")
    _flat(api.post("/assistants/x/y", {}), 404, "not_found")


def test_wrong_method_is_flat_405(api):
    r = api.request("PUT", "/assistants", {"name": "x"})
    _flat(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET, POST"
    _flat(api.delete("/organizations"), 405, "method_not_allowed")


@pytest.mark.parametrize("raw", ["{bad", "[1, 2]", "", "\"str\"", "null"])
def test_malformed_or_non_object_body(api, raw):
    body = _flat(api.post("/assistants", raw=raw), 400, "invalid_request")
    assert "JSON" in body["message"]


def test_body_over_256kb_is_413(api):
    r = api.post("/assistants", raw=json.dumps({"name": "a", "first_message": "x" * (256 * 1024)}))
    _flat(r, 413, "payload_too_large")
    assert api.get("/assistants").data["assistants"] == []


def test_body_just_under_limit_is_parsed(api):
    r = api.post("/assistants", {"name": "a", "metadata": {"blob": "x" * 200_000}})
    assert r.status_code == 201


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer nope",
                                    "Bearer fl_live_" + "A" * 43, "Token fl_live_" + "A" * 43])
def test_missing_or_bad_key_is_401(client, org, header):
    headers = {} if header is None else {"Authorization": header}
    r = client.http.get("/api/v1/assistants", headers=headers)
    _flat(r, 401, "unauthorized")
    assert "X-RateLimit-Limit" not in r.headers


def test_revoked_key_is_401(api, org):
    from chalicelib.services.auth import revoke_by_prefix

    assert api.get("/assistants").status_code == 200
    revoked = revoke_by_prefix(org[1][:16])
    assert [k.org_id for k in revoked] == [org[0].id]
    body = _flat(api.get("/assistants"), 401, "unauthorized")
    assert "revoked" in body["message"]


def test_key_never_logged_or_echoed(api, org, caplog):
    r = api.get("/organizations")
    assert org[1] not in r.body.decode()
    assert org[1] not in caplog.text


def test_rate_limit_headers_and_429(api, other_api, monkeypatch):
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "3")
    reset_settings()
    try:
        seen = []
        for _ in range(3):
            r = api.get("/assistants")
            assert r.status_code == 200
            assert r.headers["X-RateLimit-Limit"] == "3"
            seen.append(int(r.headers["X-RateLimit-Remaining"]))
            reset = int(r.headers["X-RateLimit-Reset"])
        assert seen == [2, 1, 0]
        r = api.post("/assistants", {"name": "over"})
        body = _flat(r, 429, "rate_limit_exceeded")
        assert "retry" in body["message"].lower()
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert r.headers["X-RateLimit-Remaining"] == "0" and int(r.headers["X-RateLimit-Reset"]) == reset
        # per key: another org's key still has its own budget
        assert other_api.get("/assistants").status_code == 200
        # error responses of authenticated requests carry the headers too
        r = other_api.get("/assistants/nope")
        assert r.status_code == 404 and r.headers["X-RateLimit-Remaining"] == "1"
    finally:
        monkeypatch.delenv("RATE_LIMIT_PER_MINUTE")
        reset_settings()


def test_rate_limit_counter_has_ttl(api):
    from chalicelib.storage.tables import RateLimitModel

    api.get("/assistants")
    rows = list(RateLimitModel.scan())  # test-only inspection of the table
    assert len(rows) == 1 and rows[0].hits == 1 and rows[0].expires is not None


def test_authenticated_responses_carry_rate_headers(api):
    a = api.post("/assistants", {"name": "x"}).data["assistant"]
    for r in (api.get("/assistants"), api.get(f"/assistants/{a['id']}"), api.patch(f"/assistants/{a['id']}", {}),
              api.get("/organizations"), api.get("/tool-templates"), api.get("/analysis-templates"),
              api.post("/assistants", {}), api.delete(f"/assistants/{a['id']}")):
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(r.headers), r.headers


def test_health(client):
    r = client.http.get("/api/v1/health")
    assert r.status_code == 200 and json.loads(r.body) == {"status": "ok"}
    assert r.headers["Content-Type"] == "application/json"


def test_health_reports_missing_tables(client):
    from chalicelib.storage.tables import OrgModel

    OrgModel.delete_table()
    r = client.http.get("/api/v1/health")
    assert r.status_code == 503 and json.loads(r.body)["error"] == "unavailable"


def test_openapi_document(client):
    r = client.http.get("/api/v1/openapi.json")
    assert r.status_code == 200
    spec = json.loads(r.body)
    assert spec["openapi"].startswith("3.1")
    for path in ("/assistants", "/assistants/{assistant_id}", "/agents", "/agents/{agent_id}", "/tool-templates",
                 "/tool-templates/{template_id}", "/analysis-templates", "/analysis-templates/{template_id}",
                 "/organizations", "/account", "/health"):
        assert path in spec["paths"], path
    post = spec["paths"]["/assistants"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schemas = spec["components"]["schemas"]
    create = schemas[ref.rsplit("/", 1)[1]]
    assert create["required"] == ["name"]
    for field in ("first_message", "stt_config", "llm_config", "tts_config", "analysis_plan", "webhook_secret"):
        assert field in create["properties"]
    assert "webhook_secret" not in schemas["Assistant"]["properties"]
    assert schemas["Assistant"]["properties"]["webhook_secret_set"] == {"type": "boolean"}
    assert spec["paths"]["/agents"]["get"]["deprecated"] is True
    assert spec["paths"]["/health"]["get"]["security"] == []
    assert "bearerAuth" in spec["components"]["securitySchemes"]
    assert "ToolTemplateCreate" in schemas and "AnalysisTemplateCreate" in schemas
    # every $ref resolves
    for ref in set(_refs(spec)):
        assert ref.rsplit("/", 1)[1] in schemas, ref


def _refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def test_docs_page(client):
    r = client.http.get("/api/v1/docs")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    page = r.body.decode()
    assert "<html" in page and "/assistants" in page and "openapi.json" in page


@pytest.mark.parametrize("raw,needle", [
    ("[" * 50_000, "nested"),
    ('{"name": "a", "metadata": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}", "nested"),
    ('{"name": "a", "metadata": {"x": NaN}}', "NaN"),
    ('{"name": "a", "metadata": {"x": -Infinity}}', "Infinity"),
    ('{"name": "a", "metadata": {"k": "\\udc00"}}', "unicode"),
    ('{"name": "a", "metadata": {"\\ud800": 1}}', "unicode"),
])
def test_hostile_json_is_400_not_500(api, raw, needle):
    body = _flat(api.post("/assistants", raw=raw), 400, "invalid_request")
    assert needle in body["message"]
    assert api.get("/assistants").data["assistants"] == []


def test_reasonable_nesting_in_metadata_is_fine(api):
    deep = {"a": 1}
    for _ in range(30):
        deep = {"a": deep}
    r = api.post("/assistants", {"name": "a", "metadata": deep})
    assert r.status_code == 201 and r.data["assistant"]["metadata"] == deep


def test_openapi_leaves_out_twilio_callbacks(client):
    spec = client.http.get("/api/v1/openapi.json").json_body
    assert spec["servers"] == [{"url": "/api/v1"}]
    assert not [p for p in spec["paths"] if p.startswith("/twilio")]
    assert "/calls/outbound" in spec["paths"] and "/assistants" in spec["paths"]


def test_lambda_invocations_emit_request_counts_as_emf(client, api, monkeypatch, capsys):
    """Inside Lambda the Powertools middleware flushes one EMF record per invocation."""
    import json

    from chalicelib.settings import reset_settings

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "voice-api")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    # A deployed function refuses the local-development secrets (chalicelib.settings.deployment_problem).
    monkeypatch.setenv("CALL_TOKEN_SECRET", "deployed-call-token-secret")
    monkeypatch.setenv("MEDIA_CONTROL_SECRET", "deployed-media-control-secret")
    monkeypatch.setenv("LOCAL_SECRET_KEY", "deployed-local-secret-key")
    reset_settings()
    capsys.readouterr()
    assert api.get("/assistants").status_code == 200
    assert api.get("/assistants/not-a-uuid").status_code == 404
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = [m["Name"] for r in records for d in r["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    assert names.count("Api2xx") == 1 and names.count("Api4xx") == 1
    assert all(r["_aws"]["CloudWatchMetrics"][0]["Namespace"] for r in records)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/json",
                                          "application/xml", "multipart/form-data; boundary=x", None])
def test_a_json_body_under_another_content_type_is_415(api, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    r = api.client.http.request("POST", "/api/v1/assistants", body=json.dumps({"name": "x"}),
                                headers={"Authorization": f"Bearer {api.key}", **headers})
    assert r.status_code == 415, (content_type, r.body)
    assert json.loads(r.body)["error"] == "unsupported_media_type"
    assert api.get("/assistants").data["assistants"] == []


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON", "application/merge-patch+json"])
def test_json_content_types_are_accepted(api, content_type):
    r = api.post("/assistants", {"name": "x"}, headers={"Content-Type": content_type})
    assert r.status_code == 201, (content_type, r.body)


def test_body_less_requests_need_no_content_type(api):
    r = api.client.http.request("GET", "/api/v1/assistants", headers={"Authorization": f"Bearer {api.key}"})
    assert r.status_code == 200
    a = api.post("/assistants", {"name": "x"}).data["assistant"]
    r = api.client.http.request("DELETE", f"/api/v1/assistants/{a['id']}", body=b"",
                                headers={"Authorization": f"Bearer {api.key}", "Content-Type": "text/plain"})
    assert r.status_code == 200, r.body


def test_a_lambda_left_with_local_secrets_serves_nothing(api, monkeypatch):
    """Fail closed: a deployed function whose secrets are the local defaults answers 500, never a signed token."""
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "voice-api")
    reset_settings()
    r = api.get("/assistants")
    assert (r.status_code, r.data) == (500, {"error": "internal_error", "message": "Something went wrong on our side."})


def test_an_invalid_deployment_setting_is_a_500_not_the_clients_400(api, monkeypatch):
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "lots")
    reset_settings()
    r = api.get("/assistants")
    assert (r.status_code, r.data["error"]) == (500, "internal_error")
    assert "RATE_LIMIT" not in r.body.decode().upper()
