"""Assistants and the deprecated /agents alias: every field, nested configs, tools, PATCH, isolation."""

from __future__ import annotations

import json

import pytest

FULL = {
    "name": "Receptionist",
    "businessName": "Acme Dental",
    "notificationEmail": "ops@acme.example",
    "firstMessage": "Hello, Acme Dental!",
    "isActive": False,
    "maxDurationSeconds": 900,
    "autonomousSilenceHandling": True,
    "silenceTimeoutSeconds": 12,
    "voicemailDetection": True,
    "voicemailMessage": "Please call us back.",
    "gdprMode": True,
    "webhookUrl": "https://hooks.acme.example/voice",
    "webhookSecret": "whsec-very-secret-value",
    "webhookEvents": ["status-update", "end-of-call-report"],
    "metadata": {"team": "front-desk", "someCamelKey": {"nestedKey": 1}},
    "sttConfig": {"provider": "gladia", "model": "solaria-1", "language": "nl", "languages": ["nl", "en"],
                  "codeSwitching": True, "region": "eu-west", "endpointing": 0.05,
                  "customVocabulary": ["Acme"], "translationEnabled": False,
                  "translationTargetLanguages": ["en"], "keyterms": ["dental"]},
    "llmConfig": {"provider": "openai", "model": "gpt-4o-mini", "temperature": 0.7,
                  "messages": [{"role": "system", "content": "You are a receptionist."}]},
    "ttsConfig": {"provider": "11labs", "voiceId": "ukiwGs47sHyibruHJ1vg", "model": "eleven_flash_v2_5",
                  "stability": 0.5, "similarityBoost": 0.7, "useSpeakerBoost": True, "speed": 1.1, "style": 0.2},
    "analysisPlan": {"structuredDataPlan": {"enabled": True, "schema": {"type": "object", "properties": {
        "booked": {"type": "boolean"}}}, "messages": [{"role": "system", "content": "Extract {{schema}}"}]},
        "minMessagesThreshold": 3, "summaryEnabled": False},
}

TOOLS = [
    {"name": "lookup_customer", "description": "Find a customer", "url": "https://tools.acme.example/lookup",
     "async": True, "asyncResponse": "One moment.", "parameters": {"type": "object", "properties": {
         "phone": {"type": "string"}}}, "secret": "flat-tool-secret"},
    {"type": "function", "function": {"name": "book_slot", "description": "Book", "parameters": {"type": "object"}},
     "server": {"url": "https://tools.acme.example/book", "secret": "nested-tool-secret"}},
    {"type": "end_call"},
    {"type": "endCall", "message": "Bye"},
    {"type": "transfer_call", "destinations": [{"type": "number", "number": "+31 6 12345678",
                                                "description": "front desk", "message": "Transferring"}]},
    {"type": "transferCall", "destinations": [{"type": "sip", "sipUri": "sip:desk@pbx.acme.example"}]},
]


def _create(api, body=None, path="/assistants"):
    r = api.post(path, body or {"name": "Receptionist"})
    assert r.status_code == 201, r.body
    return r.data["assistant" if path == "/assistants" else "agent"]


def test_create_with_every_field_and_camel_case(api):
    r = api.post("/assistants", FULL)
    assert r.status_code == 201, r.body
    a = r.data["assistant"]
    assert a["name"] == "Receptionist" and a["business_name"] == "Acme Dental"
    assert a["notification_email"] == "ops@acme.example"
    assert a["first_message"] == "Hello, Acme Dental!"
    assert a["is_active"] is False and a["max_duration_seconds"] == 900
    assert a["autonomous_silence_handling"] is True and a["silence_timeout_seconds"] == 12
    assert a["voicemail_detection"] is True and a["voicemail_message"] == "Please call us back."
    assert a["gdpr_mode"] is True and a["webhook_url"] == "https://hooks.acme.example/voice"
    assert a["webhook_events"] == ["status-update", "end-of-call-report"]
    assert a["metadata"] == {"team": "front-desk", "someCamelKey": {"nestedKey": 1}}  # free-form kept as sent
    assert a["stt_config"]["code_switching"] is True and a["stt_config"]["region"] == "eu-west"
    assert a["stt_config"]["custom_vocabulary"] == ["Acme"]
    assert a["llm_config"]["messages"][0]["content"] == "You are a receptionist."
    assert a["tts_config"]["provider"] == "elevenlabs" and a["tts_config"]["voice_id"] == "ukiwGs47sHyibruHJ1vg"
    assert a["tts_config"]["similarity_boost"] == 0.7
    plan = a["analysis_plan"]
    assert plan["structured_data_plan"]["schema"]["properties"]["booked"] == {"type": "boolean"}
    assert plan["min_messages_threshold"] == 3 and plan["summary_enabled"] is False
    assert a["webhook_secret_set"] is True and "webhook_secret" not in a
    assert "whsec-very-secret-value" not in r.body.decode()
    for key in ("id", "org_id", "created_at", "updated_at"):
        assert a[key]
    assert a["created_at"].endswith("Z") and len(a["created_at"]) == 24
    # snake_case everywhere we emit
    assert "firstMessage" not in r.body.decode() and "voiceId" not in r.body.decode()
    got = api.get(f"/assistants/{a['id']}")
    assert got.status_code == 200 and got.data["assistant"] == a


def test_defaults_on_minimal_create(api):
    a = _create(api)
    assert a["is_active"] is True and a["max_duration_seconds"] == 600
    assert a["autonomous_silence_handling"] is False and a["voicemail_detection"] is False
    assert a["webhook_secret_set"] is False
    for key in ("stt_config", "llm_config", "tts_config", "analysis_plan", "first_message", "webhook_url"):
        assert a[key] is None


def test_speaking_plans_stored_as_sent_camel_case_accepted_and_replaced_whole_on_patch(api, other_api):
    r = api.post("/assistants", {"name": "Turns", "startSpeakingPlan": {
        "waitSeconds": 0.3, "smartEndpointingEnabled": False, "maxWaitSeconds": 2,
        "transcriptionEndpointingPlan": {"onNumberSeconds": 0.8}},
        "stopSpeakingPlan": {"numWords": 2, "voiceSeconds": 0.3, "backoffSeconds": 1.5,
                             "acknowledgementPhrases": ["sounds good"]}})
    assert r.status_code == 201, r.body
    a = r.data["assistant"]
    assert a["start_speaking_plan"] == {"wait_seconds": 0.3, "smart_endpointing_enabled": False,
                                        "max_wait_seconds": 2.0,
                                        "transcription_endpointing_plan": {"on_number_seconds": 0.8}}
    assert a["stop_speaking_plan"] == {"num_words": 2, "voice_seconds": 0.3, "backoff_seconds": 1.5,
                                       "acknowledgement_phrases": ["sounds good"]}
    patched = api.patch(f"/assistants/{a['id']}", {"stop_speaking_plan": {"num_words": 1}})
    assert patched.status_code == 200 and patched.data["assistant"]["stop_speaking_plan"] == {"num_words": 1}
    assert patched.data["assistant"]["start_speaking_plan"] == a["start_speaking_plan"]
    cleared = api.patch(f"/assistants/{a['id']}", {"start_speaking_plan": None})
    assert cleared.status_code == 200 and cleared.data["assistant"]["start_speaking_plan"] is None
    assert _create(api)["stop_speaking_plan"] is None  # unset: the runtime defaults (docs/media.md)
    assert other_api.patch(f"/assistants/{a['id']}", {"stop_speaking_plan": {"num_words": 3}}).status_code == 404


def test_secret_stored_encrypted(api, org):
    from chalicelib.services.assistants import get_document, secret_for
    from chalicelib.storage.tables import AssistantModel

    a = _create(api, {"name": "x", "webhook_secret": "whsec-stored-encrypted",
                      "llm_config": {"provider": "openai", "tools": TOOLS[:2]}})
    row = AssistantModel.get(org[0].id, a["id"])
    raw = json.dumps(row.secrets_enc) + json.dumps(row.data)
    assert "whsec-stored-encrypted" not in raw and "flat-tool-secret" not in raw
    doc = get_document(org[0].id, a["id"])
    assert secret_for(doc, "webhook_secret") == "whsec-stored-encrypted"
    assert secret_for(doc, "tool:lookup_customer") == "flat-tool-secret"
    assert secret_for(doc, "tool:book_slot") == "nested-tool-secret"


def test_tools_all_shapes_normalized(api):
    r = api.post("/assistants", {"name": "t", "llm_config": {"provider": "openai", "tools": TOOLS}})
    assert r.status_code == 201, r.body
    body = r.body.decode()
    assert "flat-tool-secret" not in body and "nested-tool-secret" not in body
    tools = r.data["assistant"]["llm_config"]["tools"]
    flat, nested, end1, end2, xfer1, xfer2 = tools
    assert flat["type"] == "function" and flat["name"] == "lookup_customer" and flat["async"] is True
    assert flat["async_response"] == "One moment." and flat["url"] == "https://tools.acme.example/lookup"
    assert flat["parameters"]["properties"]["phone"] == {"type": "string"}
    assert flat["secret_set"] is True and "secret" not in flat
    assert nested == {"type": "function", "name": "book_slot", "description": "Book",
                      "parameters": {"type": "object"}, "url": "https://tools.acme.example/book", "secret_set": True}
    assert end1 == {"type": "endCall"} and end2 == {"type": "endCall", "message": "Bye"}
    assert xfer1["type"] == "transferCall" and xfer1["destinations"][0]["number"] == "+31612345678"
    assert xfer2["destinations"][0] == {"type": "sip", "sip_uri": "sip:desk@pbx.acme.example"}


@pytest.mark.parametrize("body,param,code", [
    ({}, "name", "missing_field"),
    ({"name": ""}, "name", "invalid_request"),
    ({"name": "x" * 201}, "name", "invalid_request"),
    ({"name": "a", "first_message": "x" * 100_001}, "first_message", "invalid_request"),
    ({"name": "a", "frist_message": "hi"}, "frist_message", "invalid_request"),
    ({"name": "a", "notification_email": "not-an-email"}, "notification_email", "invalid_request"),
    ({"name": "a", "webhook_url": "ftp://x"}, "webhook_url", "invalid_request"),
    ({"name": "a", "webhook_events": ["call-started"]}, "webhook_events[0]", "invalid_request"),
    ({"name": "a", "max_duration_seconds": 5}, "max_duration_seconds", "invalid_request"),
    ({"name": "a", "is_active": "maybe"}, "is_active", "invalid_request"),
    ({"name": "a", "stt_config": {"provider": "whisper"}}, "stt_config.provider", "invalid_request"),
    ({"name": "a", "stt_config": {"provider": "elevenlabs", "sample_rate": 44100}}, "stt_config.sample_rate",
     "invalid_request"),
    ({"name": "a", "stt_config": {"provider": "gladia", "region": "ap-south"}}, "stt_config.region",
     "invalid_request"),
    ({"name": "a", "stt_config": {"provider": "deepgram", "modle": "nova-3"}}, "stt_config.modle",
     "invalid_request"),
    ({"name": "a", "llm_config": {"provider": "anthropic"}}, "llm_config.provider", "invalid_request"),
    ({"name": "a", "llm_config": {"provider": "xai_realtime", "voice": "bob"}}, "llm_config.voice",
     "invalid_request"),
    ({"name": "a", "llm_config": {"provider": "openai", "voice": "ara"}}, "llm_config", "invalid_request"),
    ({"name": "a", "llm_config": {"provider": "openai", "temperature": 3}}, "llm_config.temperature",
     "invalid_request"),
    ({"name": "a", "llm_config": {"provider": "openai", "messages": [{"role": "system", "content": "x" * 100_001}]}},
     "llm_config.messages[0].content", "invalid_request"),
    ({"name": "a", "llm_config": {"provider": "openai", "tools": [{"name": "1bad"}]}}, "llm_config.tools[0].name",
     "invalid_request"),
    ({"name": "a", "llm_config": {"provider": "openai", "tools": [{"type": "weird"}]}}, "llm_config.tools[0]",
     "invalid_request"),
    ({"name": "a", "llm_config": {"provider": "openai", "tools": [
        {"type": "transfer_call", "destinations": [{"type": "number", "number": "abc"}]}]}},
     "llm_config.tools[0].destinations[0]", "invalid_request"),
    ({"name": "a", "llm_config": {"provider": "openai", "tools": [{"name": "x"}, {"name": "x"}]}}, "llm_config",
     "invalid_request"),
    ({"name": "a", "tts_config": {"provider": "openai", "voice_id": "alloy"}}, "tts_config.provider",
     "invalid_request"),
    ({"name": "a", "tts_config": {"provider": "elevenlabs"}}, "tts_config.voice_id", "missing_field"),
    ({"name": "a", "tts_config": {"provider": "elevenlabs", "voice_id": "v", "speed": 3}}, "tts_config.speed",
     "invalid_request"),
    ({"name": "a", "analysis_plan": {"min_messages_threshold": -1}}, "analysis_plan.min_messages_threshold",
     "invalid_request"),
    ({"name": "a", "start_speaking_plan": {"wait_seconds": -1}}, "start_speaking_plan.wait_seconds",
     "invalid_request"),
    ({"name": "a", "startSpeakingPlan": {"transcriptionEndpointingPlan": {"onNumberSeconds": 9}}},
     "start_speaking_plan.transcription_endpointing_plan.on_number_seconds", "invalid_request"),
    ({"name": "a", "stop_speaking_plan": {"num_words": "two"}}, "stop_speaking_plan.num_words", "invalid_request"),
    ({"name": "a", "stop_speaking_plan": {"backchannels": ["ok"]}}, "stop_speaking_plan.backchannels",
     "invalid_request"),
])
def test_validation_errors(api, body, param, code):
    r = api.post("/assistants", body)
    assert r.status_code == 400, r.body
    assert r.data["error"] == code
    assert r.data["param"] == param
    assert isinstance(r.data["details"], list) and r.data["details"]
    assert set(r.data) <= {"error", "message", "param", "details"}
    assert api.get("/assistants").data["assistants"] == []  # nothing stored


@pytest.mark.parametrize("body, python_name", [
    ({"llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                     "tools": [{"type": "function", "name": "f", "async_": True}]}}, "async_"),
    ({"analysis_plan": {"structured_data_plan": {"enabled": True, "schema_": {"type": "object"}}}}, "schema_"),
])
def test_python_names_of_keyword_fields_are_refused(api, body, python_name):
    """``async`` and ``schema`` are the wire names: the Python spellings are unknown fields, never silently kept."""
    r = api.post("/assistants", {"name": "A", **body})
    assert r.status_code == 400, r.body
    assert r.data["error"] == "invalid_request" and python_name in r.data["message"]
    assert api.get("/assistants").data["assistants"] == []  # nothing stored


def test_null_for_a_defaulted_setting_means_its_default(api):
    """``recording_enabled: null`` was stored as null and read as "off" by the media service (default: on)."""
    body = {"name": "A", "recording_enabled": None, "max_duration_seconds": None, "silence_timeout_seconds": None,
            "gdpr_mode": None, "voicemail_detection": None, "autonomous_silence_handling": None, "is_active": None}
    a = api.post("/assistants", body).data["assistant"]
    got = api.get(f"/assistants/{a['id']}").data["assistant"]
    assert (got["recording_enabled"], got["max_duration_seconds"], got["silence_timeout_seconds"]) == (True, 600, 7)
    assert (got["gdpr_mode"], got["voicemail_detection"], got["autonomous_silence_handling"]) == (False, False, False)
    assert got["is_active"] is True
    api.patch(f"/assistants/{a['id']}", {"recording_enabled": False})
    r = api.patch(f"/assistants/{a['id']}", {"recording_enabled": None})
    assert r.status_code == 200 and r.data["assistant"]["recording_enabled"] is True


def test_multiple_errors_listed(api):
    r = api.post("/assistants", {"name": "", "max_duration_seconds": 1, "typo": 1})
    assert r.status_code == 400
    assert len(r.data["details"]) == 3
    assert any("typo" in d for d in r.data["details"])


def test_list_get_delete_and_404(api):
    a1, a2 = _create(api, {"name": "one"}), _create(api, {"name": "two"})
    r = api.get("/assistants")
    assert r.status_code == 200 and [x["name"] for x in r.data["assistants"]] == ["one", "two"]
    r = api.delete(f"/assistants/{a1['id']}")
    assert r.status_code == 200 and r.data == {"success": True}
    assert api.get(f"/assistants/{a1['id']}").status_code == 404
    assert api.delete(f"/assistants/{a1['id']}").status_code == 404
    assert [x["id"] for x in api.get("/assistants").data["assistants"]] == [a2["id"]]
    r = api.get("/assistants/not-a-uuid")
    assert r.status_code == 404 and r.data["error"] == "not_found"
    missing = "3f2b7c4e-8d1a-4b6c-9e0f-123456789abc"
    for method in ("get", "delete"):
        assert getattr(api, method)(f"/assistants/{missing}").status_code == 404
    assert api.patch(f"/assistants/{missing}", {"name": "x"}).status_code == 404


def test_other_org_cannot_see_or_touch(api, other_api):
    a = _create(api, {"name": "mine", "webhook_secret": "s3cr3t-value"})
    for r in (other_api.get(f"/assistants/{a['id']}"), other_api.patch(f"/assistants/{a['id']}", {"name": "x"}),
              other_api.delete(f"/assistants/{a['id']}"), other_api.get(f"/agents/{a['id']}")):
        assert r.status_code == 404 and r.data["error"] == "not_found"
    assert other_api.get("/assistants").data["assistants"] == []
    assert api.get(f"/assistants/{a['id']}").data["assistant"]["name"] == "mine"


def test_patch_semantics(api):
    a = _create(api, FULL)
    # top-level fields replace, others untouched
    r = api.patch(f"/assistants/{a['id']}", {"firstMessage": "Hi again", "maxDurationSeconds": 120})
    assert r.status_code == 200, r.body
    b = r.data["assistant"]
    assert b["first_message"] == "Hi again" and b["max_duration_seconds"] == 120
    assert b["business_name"] == "Acme Dental" and b["webhook_secret_set"] is True
    assert b["updated_at"] >= a["updated_at"] and b["created_at"] == a["created_at"]
    # a nested block sent in PATCH replaces the whole block
    r = api.patch(f"/assistants/{a['id']}", {"tts_config": {"provider": "inworld", "voice_id": "Ashley"}})
    assert r.data["assistant"]["tts_config"] == {"provider": "inworld", "voice_id": "Ashley"}
    r = api.patch(f"/assistants/{a['id']}", {"stt_config": {"provider": "deepgram", "model": "nova-3"}})
    assert r.data["assistant"]["stt_config"] == {"provider": "deepgram", "model": "nova-3"}
    r = api.patch(f"/assistants/{a['id']}", {"analysis_plan": {"summary_enabled": True}})
    assert r.data["assistant"]["analysis_plan"] == {"summary_enabled": True}
    # null clears nullable fields, including the secret and a whole block
    r = api.patch(f"/assistants/{a['id']}", {"webhook_secret": None, "first_message": None, "llm_config": None,
                                             "metadata": None})
    b = r.data["assistant"]
    assert b["webhook_secret_set"] is False and b["first_message"] is None and b["llm_config"] is None
    assert b["metadata"] is None
    # persisted
    assert api.get(f"/assistants/{a['id']}").data["assistant"] == b


def test_patch_validation(api):
    a = _create(api)
    for body, param in (({"name": None}, "name"), ({"is_active": None}, "is_active"), ({"nmae": "x"}, "nmae"),
                        ({"tts_config": {"provider": "elevenlabs"}}, "tts_config.voice_id"),
                        ({"name": "x" * 201}, "name")):
        r = api.patch(f"/assistants/{a['id']}", body)
        assert r.status_code == 400 and r.data["param"] == param, (body, r.body)
    assert api.get(f"/assistants/{a['id']}").data["assistant"]["name"] == "Receptionist"


def test_patch_secret_set_and_tool_secrets(api, org):
    from chalicelib.services.assistants import get_document, secret_for

    a = _create(api, {"name": "x", "llm_config": {"provider": "openai", "tools": TOOLS[:1]}})
    r = api.patch(f"/assistants/{a['id']}", {"webhook_secret": "new-secret-123"})
    assert r.data["assistant"]["webhook_secret_set"] is True and "new-secret-123" not in r.body.decode()
    assert r.data["assistant"]["llm_config"]["tools"][0]["secret_set"] is True
    # replacing the tool list drops secrets of tools that are gone
    r = api.patch(f"/assistants/{a['id']}", {"llm_config": {"provider": "openai", "tools": [{"name": "other"}]}})
    assert r.data["assistant"]["llm_config"]["tools"][0]["secret_set"] is False
    doc = get_document(org[0].id, a["id"])
    assert secret_for(doc, "tool:lookup_customer") is None
    assert secret_for(doc, "webhook_secret") == "new-secret-123"


def test_agents_alias(api):
    r = api.post("/agents", {"name": "Legacy", "voicemailDetection": True})
    assert r.status_code == 201 and r.headers["Deprecation"] == "true"
    agent = r.data["agent"]
    assert agent["voicemail_detection"] is True
    # one store: visible under both names
    assert [x["id"] for x in api.get("/assistants").data["assistants"]] == [agent["id"]]
    r = api.get("/agents")
    assert r.status_code == 200 and r.headers["Deprecation"] == "true"
    assert [x["id"] for x in r.data["agents"]] == [agent["id"]]
    r = api.get(f"/agents/{agent['id']}")
    assert r.data["agent"]["name"] == "Legacy" and r.headers["Deprecation"] == "true"
    r = api.patch(f"/agents/{agent['id']}", {"name": "Renamed"})
    assert r.status_code == 200 and r.data["agent"]["name"] == "Renamed" and r.headers["Deprecation"] == "true"
    assert api.get(f"/assistants/{agent['id']}").data["assistant"]["name"] == "Renamed"
    r = api.post("/agents", {"nme": "x"})
    assert r.status_code == 400 and r.data["param"] == "nme"
    r = api.delete(f"/agents/{agent['id']}")
    assert r.status_code == 200 and r.data == {"success": True} and r.headers["Deprecation"] == "true"
    r = api.get(f"/agents/{agent['id']}")
    assert r.status_code == 404 and r.data["error"] == "not_found"


def test_list_pagination(api, other_api):
    ids = [_create(api, {"name": f"a{n}"})["id"] for n in range(5)]
    r = api.get("/assistants?limit=2")
    assert [x["id"] for x in r.data["assistants"]] == ids[:2] and r.data["next_cursor"]
    r2 = api.get(f"/assistants?limit=2&cursor={r.data['next_cursor']}")
    assert [x["id"] for x in r2.data["assistants"]] == ids[2:4]
    r3 = api.get(f"/assistants?limit=2&cursor={r2.data['next_cursor']}")
    assert [x["id"] for x in r3.data["assistants"]] == ids[4:] and r3.data["next_cursor"] is None
    r = api.get("/assistants?limit=2&offset=3")
    assert [x["id"] for x in r.data["assistants"]] == ids[3:5]
    assert api.get("/agents?limit=1").data["next_cursor"]
    assert api.get("/assistants").data["next_cursor"] is None
    for q, param in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("offset=-1", "offset"),
                     ("cursor=%%%", "cursor"), ("cursor=e30", "cursor")):
        r = api.get(f"/assistants?{q}")
        assert r.status_code == 400 and r.data["param"] == param, (q, r.body)
    # another org's cursor is rejected, never followed
    cursor = api.get("/assistants?limit=1").data["next_cursor"]
    _create(other_api, {"name": "theirs"})
    r = other_api.get(f"/assistants?cursor={cursor}")
    assert r.status_code == 400 and r.data["param"] == "cursor"
