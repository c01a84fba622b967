"""Free text refuses control and bidirectional-override characters at the door, naming the field."""

from __future__ import annotations

import pytest

BAD_SINGLE = ["Acme\x00Dental", "Acme\u202eslatneD", "Acme\u2066x\u2069", "Acme\x1bDental", "Acme\x85Dental",
              "Acme\nDental", "Acme\tDental"]
BAD_MULTI = ["Hello\x00", "Hello \u202e olleh", "Hi\x07", "Hi\u2068x", "Hi\x9b"]


@pytest.mark.parametrize("value", BAD_SINGLE)
@pytest.mark.parametrize("path,body,param", [
    ("/assistants", lambda v: {"name": v}, "name"),
    ("/organizations", lambda v: {"name": v}, "name"),
    ("/tool-templates", lambda v: {"name": v, "tool_type": "endCall"}, "name"),
    ("/analysis-templates", lambda v: {"name": v}, "name"),
    ("/sip-trunks", lambda v: {"name": v, "host": "pbx.example.com"}, "name"),
    ("/numbers", lambda v: {"phone_number": "+14155550123", "name": v}, "name"),
    ("/assistants", lambda v: {"name": "A", "business_name": v}, "business_name"),
])
def test_one_line_fields_refuse_controls_and_bidi(api, path, body, param, value):
    r = api.post(path, body(value))
    assert r.status_code == 400, (path, value, r.body)
    assert r.data["param"] == param and r.data["error"] == "invalid_request"


@pytest.mark.parametrize("value", BAD_MULTI)
@pytest.mark.parametrize("body,param", [
    (lambda v: {"name": "A", "first_message": v}, "first_message"),
    (lambda v: {"name": "A", "voicemail_message": v}, "voicemail_message"),
    (lambda v: {"name": "A", "llm_config": {"provider": "openai", "messages": [{"role": "system", "content": v}]}},
     "llm_config.messages[0].content"),
    (lambda v: {"name": "A", "llm_config": {"provider": "openai", "tools": [{"name": "t", "description": v,
                                                        "url": "https://tools.example.com/t"}]}},
     "llm_config.tools[0].description"),
])
def test_multi_line_fields_refuse_controls_and_bidi(api, body, param, value):
    r = api.post("/assistants", body(value))
    assert r.status_code == 400, (value, r.body)
    assert r.data["param"] == param


def test_multi_line_fields_keep_tabs_and_newlines_and_other_unicode(api):
    prompt = "Line one\n\tLine two\r\nZ\u00fcrich \u05e9\u05dc\u05d5\u05dd \U0001f600"
    llm = {"provider": "openai", "messages": [{"role": "system", "content": prompt}]}
    r = api.post("/assistants", {"name": "Z\u00fcrich caf\u00e9 \u05e9\u05dc\u05d5\u05dd", "first_message": prompt,
                                 "llm_config": llm})
    assert r.status_code == 201, r.body
    assert r.data["assistant"]["first_message"] == prompt


def test_template_descriptions_and_campaign_and_lead_names(api):
    r = api.post("/analysis-templates", {"name": "T", "description": "x\u202ey"})
    assert r.status_code == 400 and r.data["param"] == "description"
    agent = api.post("/assistants", {"name": "A"}).data["assistant"]
    r = api.post("/campaigns", {"name": "C\x00", "agent_id": agent["id"]})
    assert r.status_code == 400 and r.data["param"] == "name"
    r = api.post("/campaigns", {"name": "C", "agent_id": agent["id"], "system_message_template": "Hi\x00"})
    assert r.status_code == 400 and r.data["param"] == "system_message_template"
    r = api.post("/campaigns", {"name": "C", "agent_id": agent["id"],
                                "leads": [{"phone_number": "+31612345678", "name": "J\u202eane"}]})
    assert r.status_code == 400 and r.data["param"] == "leads[0].name"
