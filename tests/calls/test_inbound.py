"""POST /twilio/voice: number lookup, assistant-request webhook, call row, TwiML answers."""

from __future__ import annotations

import json

from sandbox.httpserver import FakeResponse
from tests.calls.conftest import PUBLIC_BASE, WEBHOOK_SECRET, make_assistant, make_number, status_of

VOICE_URL = PUBLIC_BASE + "/twilio/voice"


def _calls(api) -> list[dict]:
    return api.get("/calls").data["calls"]


def test_unknown_number_hears_a_sentence_and_no_row_is_written(api, twilio):
    status, xml = twilio.incoming_call(VOICE_URL, "+14155550177", "+31612345678")
    assert status == 200
    assert "<Say>" in xml and "<Hangup />" in xml and "<Stream" not in xml
    assert _calls(api) == []


def test_number_without_assistant_or_inactive_hangs_up(api, twilio):
    make_number(api, "+14155550110")
    assistant = make_assistant(api)
    make_number(api, "+14155550111", assistant["id"], is_active=False)
    for to in ("+14155550110", "+14155550111"):
        status, xml = twilio.incoming_call(VOICE_URL, to, "+31612345678")
        assert status == 200 and "<Hangup />" in xml
    assert _calls(api) == []


def test_inbound_call_gets_stream_twiml_and_a_ringing_row(api, org, twilio, receiver, control_server):
    assistant = make_assistant(api, webhook_url=receiver.url(), webhook_events=["status-update"])
    number = make_number(api, "+14155550112", assistant["id"])
    status, xml = twilio.incoming_call(VOICE_URL, "+14155550112", "+31612345678", call_sid="CA" + "a" * 32)
    assert status == 200
    assert '<Stream url="wss://media.example.test/twilio/stream">' in xml
    [call] = _calls(api)
    assert f'<Connect action="https://voice.example.test/api/twilio/stream-ended?org_id={org[0].id}&amp;' \
           f'call_id={call["id"]}" method="POST">' in xml
    assert call["status"] == "ringing" and call["direction"] == "inbound"
    assert call["caller_phone"] == "+31612345678" and call["assistant_phone"] == "+14155550112"
    assert call["number_id"] == number["id"] and call["agent_id"] == assistant["id"]
    assert f'<Parameter name="call_id" value="{call["id"]}" />' in xml
    assert control_server.prepared == [{"version": 1, "call_id": call["id"], "org_id": org[0].id}]

    # Twilio retries the same webhook: same answer, no second row
    status, again = twilio.incoming_call(VOICE_URL, "+14155550112", "+31612345678", call_sid="CA" + "a" * 32)
    assert status == 200 and f'value="{call["id"]}"' in again and len(_calls(api)) == 1

    # the number's status callback has no query: the call is found by CallSid
    twilio.calls["CA" + "a" * 32]["direction"] = "inbound"
    form = twilio.status_form("CA" + "a" * 32, "in-progress", 2)
    assert twilio.send_signed(PUBLIC_BASE + "/twilio/status", form)[0] == 200
    assert status_of(api, call["id"])["status"] == "in-progress"
    [update] = receiver.events("status-update")
    assert update.message["call"]["type"] == "inbound_phone_call"


def _subscribed(api, receiver, **fields) -> dict:
    assistant = make_assistant(api, webhook_url=receiver.url(), webhook_secret=WEBHOOK_SECRET,
                               webhook_events=["assistant-request", "status-update"], **fields)
    make_number(api, "+14155550120", assistant["id"])
    return assistant


def _row(org, call_id):
    from chalicelib.storage.calls import CallRepository

    row = CallRepository().get(org[0].id, call_id)
    assert row is not None
    return row


def test_assistant_request_inline_override_applies(api, org, twilio, receiver):
    assistant = _subscribed(api, receiver, metadata={"crm_id": "1"})
    receiver.responses["assistant-request"] = {
        "assistant": {"firstMessage": "Hi from the webhook", "metadata": {"crm_id": "12345"},
                      "tts_config": {"provider": "elevenlabs", "voiceId": "voice-9"}},
        "maxDurationSeconds": 300}
    status, xml = twilio.incoming_call(VOICE_URL, "+14155550120", "+31612345678")
    assert status == 200 and "<Stream" in xml
    [req] = receiver.events("assistant-request")
    assert req.signature_valid is True
    assert req.message["type"] == "assistant-request" and req.message["call"]["status"] == "ringing"
    assert req.message["customer"] == {"number": "+31612345678"}
    [call] = _calls(api)
    row = _row(org, call["id"])
    assert row.data["config"]["first_message"] == "Hi from the webhook"
    assert row.data["config"]["tts_config"] == {"provider": "elevenlabs", "voice_id": "voice-9"}
    assert row.data["config"]["stt_config"]["provider"] == "deepgram"
    assert row.data["config"]["max_duration_seconds"] == 300
    assert call["metadata"] == {"crm_id": "12345"} and call["agent_id"] == assistant["id"]


def test_assistant_request_hybrid_answer_loads_another_assistant(api, org, twilio, receiver):
    _subscribed(api, receiver)
    other = make_assistant(api, name="Night shift", first_message="Night!")
    receiver.responses["assistant-request"] = {"assistant_id": other["id"],
                                               "assistant_override": {"first_message": "Late night hello"}}
    twilio.incoming_call(VOICE_URL, "+14155550120", "+31612345678")
    [call] = _calls(api)
    row = _row(org, call["id"])
    assert row.data["assistant_id"] == other["id"] and row.data["config"]["name"] == "Night shift"
    assert row.data["config"]["first_message"] == "Late night hello"


def test_assistant_request_error_is_spoken_and_call_refused(api, org, twilio, receiver, finished):
    _subscribed(api, receiver)
    receiver.responses["assistant-request"] = {"error": "Sorry, we are currently closed."}
    status, xml = twilio.incoming_call(VOICE_URL, "+14155550120", "+31612345678")
    assert status == 200
    assert "<Say>Sorry, we are currently closed.</Say>" in xml and "<Hangup />" in xml and "<Stream" not in xml
    [call] = _calls(api)
    assert call["status"] == "failed" and call["end_reason"] == "assistant_request_rejected"


def test_assistant_request_empty_junk_or_failing_answers_use_saved_config(api, org, twilio, receiver):
    _subscribed(api, receiver, first_message="Saved hello")
    answers = [{}, FakeResponse(200, "not json"), FakeResponse(500, {"error": "boom"}),
               {"assistant_id": "7d1c6c9e-3c3e-4c56-9a55-2f1f2a0f0c11"}, {"assistant": {"frist_message": "typo"}}]
    for answer in answers:
        receiver.responses["assistant-request"] = answer
        status, xml = twilio.incoming_call(VOICE_URL, "+14155550120", "+31612345678")
        assert status == 200 and "<Stream" in xml, answer
    rows = [_row(org, c["id"]) for c in _calls(api)]
    assert len(rows) == len(answers)
    assert {r.data["config"]["first_message"] for r in rows} == {"Saved hello"}


def test_assistant_request_timeout_falls_back_to_saved_config(api, org, twilio, receiver, monkeypatch):
    import time

    from chalicelib.webhooks import delivery

    monkeypatch.setattr(delivery, "ASSISTANT_REQUEST_TIMEOUT", 0.5)  # 5 s in production
    _subscribed(api, receiver, first_message="Saved hello")
    receiver.delays["assistant-request"] = 1.5
    receiver.responses["assistant-request"] = {"assistant": {"first_message": "too late"}}
    started = time.monotonic()
    status, xml = twilio.incoming_call(VOICE_URL, "+14155550120", "+31612345678")
    assert time.monotonic() - started < 1.4
    assert status == 200 and "<Stream" in xml
    [call] = _calls(api)
    assert _row(org, call["id"]).data["config"]["first_message"] == "Saved hello"


def test_assistant_request_timeout_default_is_five_seconds():
    from chalicelib.webhooks import delivery

    assert delivery.ASSISTANT_REQUEST_TIMEOUT == 5.0


def test_inbound_refused_when_balance_is_spent(api, twilio, monkeypatch):
    from chalicelib.settings import reset_settings
    from chalicelib.storage.orgs import OrgRepository

    assistant = make_assistant(api)
    make_number(api, "+14155550130", assistant["id"])
    monkeypatch.setenv("BILLING_ENFORCEMENT", "true")
    reset_settings()
    OrgRepository().add_usage(assistant["org_id"], 100, "2026-11")
    status, xml = twilio.incoming_call(VOICE_URL, "+14155550130", "+31612345678")
    assert status == 200 and "<Hangup />" in xml and "<Stream" not in xml
    [call] = _calls(api)
    assert call["status"] == "failed" and call["end_reason"] == "insufficient_credits"


def test_inbound_rows_are_tenant_scoped(api, other_api, twilio):
    assistant = make_assistant(api)
    make_number(api, "+14155550140", assistant["id"])
    twilio.incoming_call(VOICE_URL, "+14155550140", "+31612345678")
    [call] = _calls(api)
    assert other_api.get("/calls").data["calls"] == []
    assert other_api.get(f"/calls/{call['id']}").status_code == 404
    assert json.loads(api.get(f"/calls/{call['id']}").body)["id"] == call["id"]
