"""media_gateway: the Twilio-side actions the media service asks of the control plane (transfer, hang-up),
against the sandbox's fake Twilio, plus its key lookup."""

from __future__ import annotations

import time

from chalicelib.models.media import TransferRequest
from chalicelib.services import media_gateway
from tests.calls.conftest import make_assistant, make_number


def _live_call(api, org, assistant_id: str, control_server) -> str:
    from chalicelib.services.call_events import call_started

    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": assistant_id})
    call_id = r.data["call_id"]
    call_started(org[0].id, call_id, control_server.base_url)
    return call_id


def _transfer(org, call_id: str, sid: str, destination: str, **fields) -> bool:
    return media_gateway.transfer(TransferRequest(org_id=org[0].id, call_id=call_id, call_sid=sid,
                                                  destination=destination, **fields))


def test_transfer_dials_the_number_with_the_callers_id_and_hang_up_completes(api, org, setup, twilio,
                                                                            control_server):
    call_id = _live_call(api, org, setup["assistant"]["id"], control_server)
    sid = list(twilio.calls)[-1]
    twilio.calls[sid]["status"] = "in-progress"
    assert _transfer(org, call_id, sid, "+31201234567", caller_id="+14155550100", number_id=setup["number"]["id"])
    [update] = twilio.call_updates(sid)
    twiml = update["Twiml"]
    assert twiml.startswith("<?xml")  # rendered by the twilio SDK's TwiML builder
    assert 'callerId="+14155550100"' in twiml and "<Number>+31201234567</Number>" in twiml

    assert media_gateway.hang_up(sid) is True
    assert twilio.call_updates(sid)[-1] == {"Status": "completed"}
    deadline = time.monotonic() + 5
    while not twilio.callback_results and time.monotonic() < deadline:
        time.sleep(0.02)  # the fake sends the completed callback from its own thread, like Twilio
    assert twilio.callback_results == [("completed", twilio.call_form(sid)["StatusCallback"][0], 200)]
    assert media_gateway.hang_up(None) is False


def test_transfer_routes_through_the_numbers_sip_trunk_with_digest_auth(api, org, twilio, control_server):
    trunk = api.post("/sip-trunks", {"name": "PBX", "host": "pbx.example.com", "port": 5061, "transport": "tls",
                                     "username": "agent", "password": "s3cret"})
    assert trunk.status_code == 201, trunk.body
    assistant = make_assistant(api)
    number = make_number(api, "+14155550160", assistant["id"], transfer_trunk_id=trunk.data["trunk"]["id"])
    call_id = _live_call(api, org, assistant["id"], control_server)
    sid = list(twilio.calls)[-1]
    assert _transfer(org, call_id, sid, "+31201234567", caller_id="+14155550160", number_id=number["id"])
    twiml = twilio.call_updates(sid)[-1]["Twiml"]
    assert 'username="agent"' in twiml and 'password="s3cret"' in twiml
    assert "sip:+31201234567@pbx.example.com:5061;transport=tls</Sip>" in twiml
    assert "callerId" not in twiml  # the trunk presents its own caller id


def test_transfer_to_a_sip_uri_bypasses_the_trunk(api, org, twilio, control_server):
    trunk = api.post("/sip-trunks", {"name": "PBX", "host": "pbx.example.com"}).data["trunk"]
    assistant = make_assistant(api)
    number = make_number(api, "+14155550161", assistant["id"], transfer_trunk_id=trunk["id"])
    call_id = _live_call(api, org, assistant["id"], control_server)
    sid = list(twilio.calls)[-1]
    assert _transfer(org, call_id, sid, "sip:desk@other.example.com", caller_id="+14155550161",
                     number_id=number["id"])
    twiml = twilio.call_updates(sid)[-1]["Twiml"]
    assert "<Sip>sip:desk@other.example.com</Sip>" in twiml and 'callerId="+14155550161"' in twiml


def test_transfer_refused_by_twilio_is_false(api, org, setup, twilio, control_server):
    call_id = _live_call(api, org, setup["assistant"]["id"], control_server)
    assert _transfer(org, call_id, "CA" + "0" * 32, "+31201234567") is False  # Twilio knows no such call


def test_provider_key_maps_runtime_names_and_falls_back_to_the_sandbox_key(org, monkeypatch):
    from chalicelib.services import byok

    monkeypatch.delenv("XAI_API_KEY", raising=False)
    byok.clear_cache()
    assert media_gateway.provider_key(org[0].id, "xai_realtime") == (media_gateway.SANDBOX_KEY, False)
    monkeypatch.setenv("XAI_API_KEY", "xai-platform")
    assert media_gateway.provider_key(org[0].id, "xai_realtime") == ("xai-platform", False)
