"""Every operation's real responses conform to the OpenAPI document (so the two cannot drift)."""

from __future__ import annotations

import json

from tests.calls.conftest import PIPELINE

SECRET_RESEND = "re_SECRET_resend_0123456789"  # noqa: S105 - the fake Resend accepts it
TOOL = {"type": "function", "name": "book", "description": "Book a slot", "url": "https://hooks.example.test/book",
        "parameters": {"type": "object", "properties": {"day": {"type": "string"}}}, "async": True}


def _exercise(api, org, twilio, resend) -> None:
    """Call every operation of the document at least once, successes and typical errors."""
    r = api.post("/assistants", {
        "name": "Receptionist", **json.loads(json.dumps(PIPELINE)), "webhook_secret": "s3cret",
        "analysis_plan": {"structured_data_plan": {"enabled": True, "schema": {"type": "object"}}}})
    assistant = r.data["assistant"]
    api.patch(f"/assistants/{assistant['id']}", {"llm_config": {**PIPELINE["llm_config"], "tools": [TOOL]}})
    api.get("/assistants")
    api.get(f"/assistants/{assistant['id']}")
    api.get("/assistants/" + "0" * 36)
    agent = api.post("/agents", {"name": "Old style"}).data["agent"]
    api.get("/agents")
    api.get(f"/agents/{agent['id']}")
    api.patch(f"/agents/{agent['id']}", {"name": "N"})
    api.delete(f"/agents/{agent['id']}")
    api.post("/assistants", {"frist_message": "typo"})

    tt = api.post("/tool-templates", {"name": "Book", "tool_type": "function", "tool_config": TOOL}).data
    tid = tt["tool_template"]["id"]
    api.get("/tool-templates")
    api.get(f"/tool-templates/{tid}")
    api.patch(f"/tool-templates/{tid}", {"name": "B"})
    api.delete(f"/tool-templates/{tid}")
    at = api.post("/analysis-templates", {"name": "Lead", "schema": {"type": "object"}}).data["analysis_template"]
    api.get("/analysis-templates")
    api.get(f"/analysis-templates/{at['id']}")
    api.patch(f"/analysis-templates/{at['id']}", {"name": "Lead 2"})
    api.delete(f"/analysis-templates/{at['id']}")

    trunk = api.post("/sip-trunks", {"name": "PBX", "host": "pbx.example.test", "password": "pw"}).data["trunk"]
    api.get("/sip-trunks")
    api.get(f"/sip-trunks/{trunk['id']}")
    number = api.post("/numbers", {"phone_number": "+14155550100", "agent_id": assistant["id"],
                                   "transfer_trunk_id": trunk["id"]}).data["number"]
    api.post("/numbers", {"phone_number": "+14155550100"})  # 409
    api.get("/numbers")
    api.get(f"/numbers/{number['id']}")
    api.patch(f"/numbers/{number['id']}", {"name": "Main"})

    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": assistant["id"],
                                     "metadata": {"crm": 1}})
    call_id = r.data["call_id"]
    twilio.progress(list(twilio.calls)[-1], "completed")
    api.get("/calls")
    api.get("/calls?status=ended&limit=5")
    api.get(f"/calls/{call_id}")
    api.get(f"/calls/{call_id}/webhooks")
    web_call_id = api.post("/calls/web", {"assistant_id": assistant["id"]}).data["call_id"]
    api.get(f"/calls/{web_call_id}")
    api.post(f"/calls/{call_id}/control", {"type": "say", "message": "hi"})  # 400 call_not_active

    camp = api.post("/campaigns", {"name": "Recall", "agent_id": assistant["id"]}).data["campaign"]
    cid = camp["id"]
    lead = api.post(f"/campaigns/{cid}/leads", {"phone_number": "+31612345679", "name": "Ann",
                                                "variables": {"x": "1"}}).data["lead"]
    api.get("/campaigns")
    api.get(f"/campaigns/{cid}")
    api.get(f"/campaigns/{cid}/leads")
    api.patch(f"/campaigns/{cid}", {"name": "Recall 2"})
    api.delete(f"/campaigns/{cid}/leads/{lead['id']}")
    api.delete(f"/campaigns/{cid}")
    suite = api.post("/test-suites", {"name": "Front desk", "assistant_id": assistant["id"], "scenarios": [
        {"name": "Books", "caller": {"lines": ["Hi"]}, "criteria": ["Says 'hello'"],
         "expect": [{"type": "no_unanswered_turn"}]}]}).data["test_suite"]
    run = api.post(f"/test-suites/{suite['id']}/runs", {}).data["test_run"]
    api.get("/test-suites")
    api.get(f"/test-suites/{suite['id']}")
    api.get(f"/test-suites/{suite['id']}/runs")
    api.get(f"/test-runs/{run['id']}")
    api.patch(f"/test-suites/{suite['id']}", {"name": "Front desk 2"})
    api.delete(f"/test-suites/{suite['id']}")

    api.get("/byok")
    api.get("/byok/config")
    api.post("/byok", {"provider": "resend", "api_key": SECRET_RESEND})
    api.delete("/byok", {"provider": "openai"})
    api.get("/voices")
    api.get("/usage")
    api.get("/usage?start_date=2026-01-01")
    api.get("/organizations")
    api.get("/organizations?include_children=true")
    api.get("/account")
    api.post("/organizations", {"name": "Child"})
    api.get("/health")
    api.get("/openapi.json")
    api.get("/docs/assets/redoc.standalone.js")

    api.post("/domains", {"domain_name": "mail.acme.example"})
    api.get("/domains")
    api.post("/domains/verify")
    api.post("/domains/refresh")
    api.get("/domains/sync")
    api.post("/domains/sync", {"domain_id": "nope"})
    api.delete("/domains")

    api.delete(f"/numbers/{number['id']}")
    api.delete(f"/sip-trunks/{trunk['id']}")
    api.delete(f"/assistants/{assistant['id']}")


def test_every_operation_answers_as_documented(checked, org, twilio, resend, contract):
    _exercise(checked, org, twilio, resend)
    documented = {(m.upper(), p) for p, item in contract.doc["paths"].items() for m in item}
    missing = documented - contract.seen - {("GET", "/docs")}  # HTML, checked in test_docs_page
    assert not missing, sorted(missing)


def test_wire_names_and_31_typing(contract):
    schemas = contract.doc["components"]["schemas"]
    text = json.dumps(contract.doc)
    assert '"nullable"' not in text and '"schema_"' not in text and '"async_"' not in text
    assert "schema" in schemas["StructuredDataPlan"]["properties"]
    assert "async" in schemas["FunctionTool"]["properties"]
    assert "secret" not in schemas["FunctionToolOut"]["properties"]
    call = schemas["Call"]["properties"]
    for field in ("first_message", "context", "twilio_call_sid", "recording_url"):
        assert field in call, field
    assert call["created_at"]["format"] == "date-time" and call["id"]["format"] == "uuid"
    assert schemas["PhoneNumber"]["properties"]["phone_number"]["pattern"].startswith("^\\+")
    for path, item in contract.doc["paths"].items():
        for method, op in item.items():
            if "requestBody" in op:
                assert {"413", "415"} <= set(op["responses"]), (method, path)
            if op["security"]:
                assert {"400", "401", "429"} <= set(op["responses"]), (method, path)
