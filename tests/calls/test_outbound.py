"""POST /api/v1/calls/outbound end to end: the real twilio SDK against FakeTwilio, moto underneath."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from chalicelib.security import verify_call_token
from tests.calls.conftest import ACCOUNT_SID, make_assistant, make_number, status_of


def _created(twilio) -> list:
    return [r for r in twilio.requests if r.method == "POST" and r.path.endswith("/Calls.json")]


def test_reference_mode_dials_with_stream_twiml_and_status_callbacks(api, org, setup, twilio, control_server):
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"],
                                     "number_id": setup["number"]["id"], "context": "VIP customer"})
    assert r.status_code == 200, r.body
    assert set(r.data) == {"success", "call_id", "status"}
    assert r.data["success"] is True and r.data["status"] == "dialing"
    call_id = r.data["call_id"]

    [create] = _created(twilio)
    assert create.basic_auth() == (ACCOUNT_SID, "twilio-test-token")
    form = twilio.call_form(list(twilio.calls)[0])
    assert form["To"] == ["+31612345678"] and form["From"] == ["+14155550100"]
    assert sorted(form["StatusCallbackEvent"]) == ["answered", "completed", "initiated", "ringing"]
    cb = urlsplit(form["StatusCallback"][0])
    assert f"{cb.scheme}://{cb.netloc}{cb.path}" == "https://voice.example.test/api/twilio/status"
    assert parse_qs(cb.query) == {"org_id": [org[0].id], "call_id": [call_id]}
    assert "MachineDetection" not in form
    twiml = form["Twiml"][0]
    action = (f"https://voice.example.test/api/twilio/stream-ended?org_id={org[0].id}&amp;call_id={call_id}")
    assert f'<Connect action="{action}" method="POST"><Stream url="wss://media.example.test/twilio/stream">' in twiml
    assert f'<Parameter name="call_id" value="{call_id}" />' in twiml
    assert f'<Parameter name="org_id" value="{org[0].id}" />' in twiml
    token = twiml.split('<Parameter name="token" value="')[1].split('"')[0]
    assert verify_call_token("call-token-test-secret", token, call_id, org[0].id)

    call = status_of(api, call_id)
    assert call["status"] == "queued" and call["direction"] == "outbound"
    assert call["caller_phone"] == "+31612345678" and call["assistant_phone"] == "+14155550100"
    assert call["agent_id"] == setup["assistant"]["id"] and call["number_id"] == setup["number"]["id"]
    assert call["context"] == "VIP customer" and call["metadata"] == {"crm_id": "42"}
    assert call["twilio_call_sid"] == list(twilio.calls)[0]
    # ring-time warm-up reached the media control endpoint, signed
    assert control_server.prepared == [{"version": 1, "call_id": call_id, "org_id": org[0].id}]


def test_row_keeps_resolved_config_without_secrets(api, org, setup):
    from chalicelib.storage.calls import CallRepository

    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]})
    assert r.status_code == 200, r.body
    row = CallRepository().get(org[0].id, r.data["call_id"])
    assert row is not None
    assert row.data["config"]["llm_config"]["provider"] == "openai"
    assert "webhook_secret" not in row.data["config"]
    assert "whsec" not in str(row.data)
    assert row.data["secret_assistant_id"] == setup["assistant"]["id"]
    body = api.get(f"/calls/{r.data['call_id']}").body.decode()
    assert "whsec" not in body and "secrets" not in body
    # monitor.control_url is the public REST endpoint, never the owning media task's address
    assert body.count("control_url") == 1 and f'/api/v1/calls/{r.data["call_id"]}/control"' in body


def test_transient_mode_stores_secret_encrypted_and_never_returns_it(api, org, setup, twilio):
    from chalicelib.services.call_secrets import secret_for_call
    from chalicelib.storage.calls import CallRepository

    transient = {"name": "One-off", "first_message": "Hi", "webhook_url": "https://hooks.example.test/x",
                 "webhook_secret": "transient-secret-123", "webhook_events": ["status-update"],
                 "llm_config": {"provider": "xai_realtime", "voice": "Ara"}}
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant": transient})
    assert r.status_code == 200, r.body
    row = CallRepository().get(org[0].id, r.data["call_id"])
    assert row is not None
    assert "transient-secret-123" not in str(row.data)
    assert row.data["assistant_id"] is None and row.data["config"]["llm_config"]["voice"] == "ara"
    assert secret_for_call(row, "webhook_secret") == "transient-secret-123"
    assert "transient-secret-123" not in api.get(f"/calls/{row.id}").body.decode()
    assert "transient-secret-123" not in api.get("/calls").body.decode()


def test_hybrid_override_replaces_whole_blocks_and_agent_aliases(api, org, setup):
    from chalicelib.storage.calls import CallRepository

    body = {"destination": "+31612345678", "agent_id": setup["assistant"]["id"],
            "agent_config": {"llm_config": {"provider": "mistral", "model": "mistral-small"},
                             "firstMessage": "Override hello"}}
    r = api.post("/calls/outbound", body)
    assert r.status_code == 200, r.body
    row = CallRepository().get(org[0].id, r.data["call_id"])
    assert row is not None
    config = row.data["config"]
    assert config["llm_config"] == {"provider": "mistral", "model": "mistral-small"}  # whole block replaced
    assert config["stt_config"]["provider"] == "deepgram"  # untouched block kept
    assert config["first_message"] == "Override hello"


def test_voicemail_detection_turns_on_async_amd(api, org, twilio, receiver):
    assistant = make_assistant(api, voicemail_detection=True)
    make_number(api, "+14155550101", assistant["id"])
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": assistant["id"]})
    assert r.status_code == 200, r.body
    form = twilio.call_form(list(twilio.calls)[0])
    assert form["MachineDetection"] == ["DetectMessageEnd"] and form["AsyncAmd"] == ["true"]
    amd = urlsplit(form["AsyncAmdStatusCallback"][0])
    assert amd.path == "/api/twilio/amd" and parse_qs(amd.query)["call_id"] == [r.data["call_id"]]


def test_incomplete_config_names_what_is_missing(api, twilio, setup):
    r = api.post("/calls/outbound", {"destination": "+31612345678",
                                     "assistant": {"llm_config": {"provider": "openai"},
                                                   "stt_config": {"provider": "deepgram"}}})
    assert r.status_code == 400
    assert r.data["error"] == "missing_field" and r.data["param"] == "tts_config"
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant": {"first_message": "hi"}})
    assert r.status_code == 400 and r.data["param"] == "llm_config"
    assert "stt_config" in r.data["message"] and "tts_config" in r.data["message"]
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"],
                                     "assistant_override": {"stt_config": None}})
    assert r.status_code == 400 and r.data["param"] == "stt_config"
    assert _created(twilio) == []


def test_validation_errors(api, setup, twilio):
    aid = setup["assistant"]["id"]
    cases = [
        ({"destination": "0612345678", "assistant_id": aid}, "destination"),
        ({"destination": "+3161", "assistant_id": aid}, "destination"),
        ({"destination": "+31612345678"}, None),
        ({"destination": "+31612345678", "assistant_id": aid, "frist_message": "x"}, "frist_message"),
        ({"destination": "+31612345678", "assistant_id": aid, "assistant": {"name": "x"}}, None),
        ({"destination": "+31612345678", "assistant_override": {"first_message": "x"}}, None),
        ({"assistant_id": aid}, "destination"),
    ]
    for body, param in cases:
        r = api.post("/calls/outbound", body)
        assert r.status_code == 400, (body, r.body)
        if param:
            assert r.data.get("param") == param, (body, r.data)
    assert _created(twilio) == []


def test_unknown_or_foreign_assistant_and_number_are_404(api, other_api, setup, twilio):
    foreign = make_assistant(other_api)
    foreign_number = make_number(other_api, "+14155550199", foreign["id"])
    for body in ({"assistant_id": "7d1c6c9e-3c3e-4c56-9a55-2f1f2a0f0c11"}, {"assistant_id": foreign["id"]},
                 {"assistant_id": setup["assistant"]["id"], "number_id": foreign_number["id"]},
                 {"assistant_id": setup["assistant"]["id"], "number_id": "7d1c6c9e-3c3e-4c56-9a55-2f1f2a0f0c11"}):
        r = api.post("/calls/outbound", {"destination": "+31612345678", **body})
        assert r.status_code == 404, (body, r.body)
        assert r.data["error"] == "not_found"
    assert _created(twilio) == []


def test_inactive_assistant_or_number_is_400(api, setup, twilio):
    off = make_assistant(api, is_active=False)
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": off["id"]})
    assert r.status_code == 400 and r.data["param"] == "assistant_id"
    number = make_number(api, "+14155550102", setup["assistant"]["id"], is_active=False)
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"],
                                     "number_id": number["id"]})
    assert r.status_code == 400 and r.data["param"] == "number_id"
    assert _created(twilio) == []


def test_org_without_numbers_gets_400(api, twilio):
    assistant = make_assistant(api)
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": assistant["id"]})
    assert r.status_code == 400 and r.data["param"] == "number_id"


def test_billing_enforcement_402_when_balance_is_spent(api, setup, twilio, monkeypatch):
    from chalicelib.settings import reset_settings
    from chalicelib.storage.orgs import OrgRepository

    monkeypatch.setenv("BILLING_ENFORCEMENT", "true")
    reset_settings()
    org_id = setup["assistant"]["org_id"]
    OrgRepository().add_usage(org_id, 100, "2026-11")  # balance 100 -> 0
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]})
    assert r.status_code == 402 and r.data["error"] == "insufficient_credits"
    assert _created(twilio) == []


def test_twilio_refusal_marks_row_failed_and_returns_502(api, org, setup, twilio):
    twilio.refuse_calls["+31612345679"] = (400, 21215, "Geo permissions do not allow this call")
    r = api.post("/calls/outbound", {"destination": "+31612345679", "assistant_id": setup["assistant"]["id"]})
    assert r.status_code == 502 and r.data["error"] == "upstream_error"
    assert "Geo permissions" in r.data["message"]
    [call] = api.get("/calls").data["calls"]
    assert call["status"] == "failed" and call["end_reason"] == "failed_to_connect"
    assert "Geo permissions" in call["error"]


def test_idempotency_key_dials_once_and_replays_first_response(api, other_api, setup, twilio):
    body = {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]}
    first = api.post("/calls/outbound", body, headers={"Idempotency-Key": "order-77"})
    again = api.post("/calls/outbound", body, headers={"Idempotency-Key": "order-77"})
    assert first.status_code == again.status_code == 200
    assert again.data == first.data
    assert len(_created(twilio)) == 1
    assert len(api.get("/calls").data["calls"]) == 1

    changed = api.post("/calls/outbound", {**body, "destination": "+31612345670"},
                       headers={"Idempotency-Key": "order-77"})
    assert changed.status_code == 409 and changed.data["error"] == "conflict"
    other = api.post("/calls/outbound", body, headers={"Idempotency-Key": "order-78"})
    assert other.status_code == 200 and other.data["call_id"] != first.data["call_id"]
    assert len(_created(twilio)) == 2


def test_idempotency_key_is_scoped_per_org(api, other_api, setup, twilio):
    theirs = make_assistant(other_api)
    make_number(other_api, "+14155550198", theirs["id"])
    a = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]},
                 headers={"Idempotency-Key": "same"})
    b = other_api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": theirs["id"]},
                       headers={"Idempotency-Key": "same"})
    assert a.status_code == b.status_code == 200 and a.data["call_id"] != b.data["call_id"]


def test_failed_attempt_is_not_cached_by_idempotency(api, setup, twilio):
    twilio.refuse_calls["+31612345679"] = (503, 20503, "Service unavailable")
    body = {"destination": "+31612345679", "assistant_id": setup["assistant"]["id"]}
    assert api.post("/calls/outbound", body, headers={"Idempotency-Key": "k1"}).status_code == 502
    twilio.refuse_calls.clear()
    assert api.post("/calls/outbound", body, headers={"Idempotency-Key": "k1"}).status_code == 200


def test_campaign_dialer_path_fills_variables_and_links_lead(org, setup, twilio):
    from chalicelib.services.calls import place_outbound_call
    from chalicelib.storage.calls import CallRepository

    out = place_outbound_call(org[0].id, {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]},
                              "campaign-1:lead-1:1", campaign_id="camp-1", lead_id="lead-1",
                              variables={"name": "Jan"})
    again = place_outbound_call(org[0].id, {"destination": "+31612345678",
                                            "assistant_id": setup["assistant"]["id"]},
                                "campaign-1:lead-1:1", campaign_id="camp-1", lead_id="lead-1",
                                variables={"name": "Jan"})
    assert again == out and len(_created(twilio)) == 1
    row = CallRepository().get(org[0].id, out["call_id"])
    assert row is not None
    assert row.data["campaign_id"] == "camp-1" and row.data["lead_id"] == "lead-1"
    assert row.data["config"]["first_message"] == "Hello Jan!"
    assert row.data["config"]["llm_config"]["messages"][0]["content"] == "You help Jan with dental appointments."


def test_twilio_rejecting_our_credentials_is_502(api, setup, twilio):
    twilio.auth_token = "rotated-elsewhere"
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]})
    assert r.status_code == 502 and "401" in r.data["message"]
    [call] = api.get("/calls").data["calls"]
    assert call["status"] == "failed" and call["twilio_call_sid"] is None


def test_slow_twilio_times_out_into_502(api, setup, twilio, monkeypatch):
    from chalicelib.telephony import twilio_client

    monkeypatch.setattr(twilio_client, "REQUEST_TIMEOUT_SECONDS", 0.3)
    twilio_client._cached.cache_clear()
    twilio.create_delay = 1.0
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]})
    twilio_client._cached.cache_clear()
    assert r.status_code == 502 and "unreachable" in r.data["message"].lower()
    [call] = api.get("/calls").data["calls"]
    assert call["status"] == "failed"
