"""Tool templates and analysis templates: CRUD, tool_type spellings, tool_config by type, schemas."""

from __future__ import annotations

import pytest

FN_CONFIG = {"name": "lookup_customer", "description": "Find a customer", "url": "https://t.example/lookup",
             "async": True, "asyncResponse": "One moment", "parameters": {"type": "object"}}
SCHEMA = {"type": "object", "properties": {"booked": {"type": "boolean"}}, "required": ["booked"]}


@pytest.mark.parametrize("spelling,stored", [("function", "function"), ("endCall", "endCall"),
                                             ("end_call", "endCall"), ("transferCall", "transferCall"),
                                             ("transfer_call", "transferCall")])
def test_tool_type_spellings(api, spelling, stored):
    config = {"function": FN_CONFIG, "endCall": {}, "transferCall": {
        "destinations": [{"type": "number", "number": "+31612345678", "description": "desk"}]}}[stored]
    r = api.post("/tool-templates", {"name": "T", "tool_type": spelling, "tool_config": config})
    assert r.status_code == 201, r.body
    t = r.data["tool_template"]
    assert t["tool_type"] == stored and t["name"] == "T" and t["description"] is None
    assert api.get(f"/tool-templates/{t['id']}").data["tool_template"] == t


def test_function_config_normalized(api):
    r = api.post("/tool-templates", {"name": "Lookup", "description": "d", "toolType": "function",
                                     "toolConfig": {**FN_CONFIG, "secret": "never-echo-me"}})
    assert r.status_code == 201, r.body
    cfg = r.data["tool_template"]["tool_config"]
    assert cfg == {"name": "lookup_customer", "description": "Find a customer", "url": "https://t.example/lookup",
                   "async": True, "async_response": "One moment", "parameters": {"type": "object"}}
    assert "never-echo-me" not in r.body.decode()


@pytest.mark.parametrize("body,param", [
    ({"tool_type": "function", "tool_config": {}}, "name"),
    ({"name": "T", "tool_config": {}}, "tool_type"),
    ({"name": "T", "tool_type": "function"}, "tool_config"),
    ({"name": "T", "tool_type": "webhook", "tool_config": {}}, "tool_type"),
    ({"name": "T", "tool_type": "function", "tool_config": {"name": "1bad"}}, "tool_config.name"),
    ({"name": "T", "tool_type": "function", "tool_config": {"description": "no name"}}, "tool_config.name"),
    ({"name": "T", "tool_type": "function", "tool_config": {"name": "ok", "url": "nope"}}, "tool_config.url"),
    ({"name": "T", "tool_type": "function", "tool_config": {"name": "ok", "bogus": 1}}, "tool_config.bogus"),
    ({"name": "T", "tool_type": "transferCall", "tool_config": {}}, "tool_config.destinations"),
    ({"name": "T", "tool_type": "transferCall", "tool_config": {"destinations": [{"number": "12"}]}},
     "tool_config.destinations[0]"),
    ({"name": "T", "tool_type": "endCall", "tool_config": {"destinations": []}}, "tool_config.destinations"),
    ({"name": "x" * 201, "tool_type": "endCall", "tool_config": {}}, "name"),
    ({"name": "T", "tool_type": "endCall", "tool_config": {}, "extra": 1}, "extra"),
])
def test_tool_template_validation(api, body, param):
    r = api.post("/tool-templates", body)
    assert r.status_code == 400, r.body
    assert r.data["param"] == param, r.data
    assert r.data["error"] in {"invalid_request", "missing_field"} and r.data["details"]
    assert api.get("/tool-templates").data["tool_templates"] == []


def test_tool_template_crud_and_isolation(api, other_api):
    t = api.post("/tool-templates", {"name": "End", "tool_type": "endCall", "tool_config": {}}).data["tool_template"]
    r = api.get("/tool-templates")
    assert r.status_code == 200 and [x["id"] for x in r.data["tool_templates"]] == [t["id"]]
    r = api.patch(f"/tool-templates/{t['id']}", {"description": "hang up"})
    assert r.status_code == 200 and r.data["tool_template"]["description"] == "hang up"
    assert r.data["tool_template"]["tool_type"] == "endCall"
    # switching type revalidates the config
    r = api.patch(f"/tool-templates/{t['id']}", {"tool_type": "function"})
    assert r.status_code == 400 and r.data["param"] == "tool_config.name"
    r = api.patch(f"/tool-templates/{t['id']}", {"tool_type": "function", "tool_config": FN_CONFIG})
    assert r.status_code == 200 and r.data["tool_template"]["tool_config"]["name"] == "lookup_customer"
    r = api.patch(f"/tool-templates/{t['id']}", {"name": None})
    assert r.status_code == 400 and r.data["param"] == "name"
    for resp in (other_api.get(f"/tool-templates/{t['id']}"), other_api.delete(f"/tool-templates/{t['id']}"),
                 other_api.patch(f"/tool-templates/{t['id']}", {"name": "x"})):
        assert resp.status_code == 404 and resp.data["error"] == "not_found"
    assert other_api.get("/tool-templates").data["tool_templates"] == []
    assert api.delete(f"/tool-templates/{t['id']}").data == {"success": True}
    assert api.get(f"/tool-templates/{t['id']}").status_code == 404
    assert api.delete(f"/tool-templates/{t['id']}").status_code == 404
    assert api.get("/tool-templates/nope").status_code == 404


def test_analysis_template_crud(api, other_api):
    r = api.post("/analysis-templates", {"name": "Booking", "systemPrompt": "Extract.",
                                         "userPrompt": "{{transcript}}", "schema": SCHEMA})
    assert r.status_code == 201, r.body
    t = r.data["analysis_template"]
    assert t["schema"] == SCHEMA and t["system_prompt"] == "Extract." and t["user_prompt"] == "{{transcript}}"
    assert t["description"] is None and "schema_" not in t
    assert api.get(f"/analysis-templates/{t['id']}").data["analysis_template"] == t
    assert [x["id"] for x in api.get("/analysis-templates").data["analysis_templates"]] == [t["id"]]
    new_schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    r = api.patch(f"/analysis-templates/{t['id']}", {"schema": new_schema, "description": "v2"})
    assert r.status_code == 200
    assert r.data["analysis_template"]["schema"] == new_schema and r.data["analysis_template"]["description"] == "v2"
    assert r.data["analysis_template"]["system_prompt"] == "Extract."
    r = api.patch(f"/analysis-templates/{t['id']}", {"description": None})
    assert r.status_code == 200 and r.data["analysis_template"]["description"] is None
    for resp in (other_api.get(f"/analysis-templates/{t['id']}"),
                 other_api.patch(f"/analysis-templates/{t['id']}", {"name": "x"}),
                 other_api.delete(f"/analysis-templates/{t['id']}")):
        assert resp.status_code == 404 and resp.data["error"] == "not_found"
    assert other_api.get("/analysis-templates").data["analysis_templates"] == []
    assert api.delete(f"/analysis-templates/{t['id']}").data == {"success": True}
    assert api.get(f"/analysis-templates/{t['id']}").status_code == 404


@pytest.mark.parametrize("body,param,code", [
    ({"schema": SCHEMA}, "name", "missing_field"),
    ({"name": "A"}, "schema", "missing_field"),
    ({"name": "A", "schema": {"type": "nope"}}, "schema", "invalid_request"),
    ({"name": "A", "schema": "string"}, "schema", "invalid_request"),
    ({"name": "A", "schema": SCHEMA, "user_prompt": "x" * 100_001}, "user_prompt", "invalid_request"),
    ({"name": "A", "schema": SCHEMA, "messages": []}, "messages", "invalid_request"),
])
def test_analysis_template_validation(api, body, param, code):
    r = api.post("/analysis-templates", body)
    assert r.status_code == 400, r.body
    assert r.data["param"] == param and r.data["error"] == code


def test_analysis_template_patch_validation(api):
    t = api.post("/analysis-templates", {"name": "A", "schema": SCHEMA}).data["analysis_template"]
    for body, param in (({"schema": None}, "schema"), ({"schema": {"type": 5}}, "schema"), ({"name": None}, "name")):
        r = api.patch(f"/analysis-templates/{t['id']}", body)
        assert r.status_code == 400 and r.data["param"] == param, r.body
    assert api.get(f"/analysis-templates/{t['id']}").data["analysis_template"]["schema"] == SCHEMA


def test_template_lists_paginate(api):
    for n in range(3):
        api.post("/tool-templates", {"name": f"T{n}", "tool_type": "endCall", "tool_config": {}})
        api.post("/analysis-templates", {"name": f"A{n}", "schema": SCHEMA})
    for path, key in (("/tool-templates", "tool_templates"), ("/analysis-templates", "analysis_templates")):
        r = api.get(f"{path}?limit=2")
        assert [x["name"][1] for x in r.data[key]] == ["0", "1"] and r.data["next_cursor"]
        r = api.get(f"{path}?limit=2&cursor={r.data['next_cursor']}")
        assert [x["name"][1] for x in r.data[key]] == ["2"] and r.data["next_cursor"] is None
