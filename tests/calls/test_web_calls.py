"""POST /api/v1/calls/web: the call row, the signed single-use socket URL, errors, tenants, expiry, monitor."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

from chalicelib.security import verify_socket_token
from chalicelib.storage.calls import CallRepository
from tests.calls.conftest import PIPELINE, status_of

TOKEN_SECRET = "call-token-test-secret"


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def test_reference_mode_writes_a_web_call_and_a_signed_socket_url(api, org, setup):
    before = time.time()
    r = api.post("/calls/web", {"assistant_id": setup["assistant"]["id"], "metadata": {"page": "demo"}})
    assert r.status_code == 201, r.body
    assert set(r.data) == {"call_id", "websocket_url", "expires_at"}
    call_id = r.data["call_id"]
    url = urlsplit(r.data["websocket_url"])
    # Same public listener as the Twilio stream (MEDIA_WS_URL's host), its own path.
    assert (url.scheme, url.netloc, url.path) == ("wss", "media.example.test", f"/web/{call_id}")
    token = _token(r.data["websocket_url"])
    assert verify_socket_token(TOKEN_SECRET, "web", token, call_id) == org[0].id
    assert verify_socket_token(TOKEN_SECRET, "monitor", token, call_id) is None  # not a listen token
    assert verify_socket_token(TOKEN_SECRET, "web", token, "0" * 8) is None  # bound to the call
    assert verify_socket_token(TOKEN_SECRET, "web", token, call_id, now=before + 301) is None  # short-lived
    assert r.data["expires_at"].endswith("Z") and r.data["expires_at"][:4].isdigit()

    call = status_of(api, call_id)
    assert call["direction"] == "web" and call["status"] == "queued"
    assert call["caller_phone"] is None and call["phone_number"] is None
    assert call["assistant_id"] == setup["assistant"]["id"]
    assert call["metadata"] == {"crm_id": "42", "page": "demo"}
    assert call["monitor"]["listen_url"] is None  # not in progress yet
    assert call["monitor"]["control_url"].endswith(f"/api/v1/calls/{call_id}/control")
    row = CallRepository().get(org[0].id, call_id)
    assert row is not None and row.direction == "web"
    assert row.data["config"]["first_message"] == "Hello {{name}}!"
    assert "whsec" not in json.dumps(row.data)


def test_transient_assistant_needs_no_number(api, org, twilio):
    body = {"assistant": {"first_message": "Hi from the browser.", **PIPELINE}}
    r = api.post("/calls/web", body)
    assert r.status_code == 201, r.body
    row = CallRepository().get(org[0].id, r.data["call_id"])
    assert row is not None and row.data["assistant_id"] is None
    assert row.data["config"]["first_message"] == "Hi from the browser."


def test_bad_bodies_are_400_in_the_contract_shape(api, setup):
    cases = [
        ({}, None),
        ({"assistant_id": setup["assistant"]["id"], "assistant": {"first_message": "x"}}, None),
        ({"assistant_id": "not-a-uuid"}, "assistant_id"),
        ({"assistant_id": setup["assistant"]["id"], "destination": "+31612345678"}, "destination"),
        ({"assistant": {"first_message": "no providers"}}, "llm_config"),
    ]
    for body, param in cases:
        r = api.post("/calls/web", body)
        assert r.status_code == 400, (body, r.body)
        assert r.data["error"] in ("invalid_request", "missing_field") and r.data["message"]
        if param:
            assert r.data.get("param") == param, r.data


def test_another_orgs_assistant_and_call_are_404(api, other_api, setup):
    r = other_api.post("/calls/web", {"assistant_id": setup["assistant"]["id"]})
    assert r.status_code == 404 and r.data["error"] == "not_found"
    mine = api.post("/calls/web", {"assistant_id": setup["assistant"]["id"]}).data["call_id"]
    assert other_api.get(f"/calls/{mine}").status_code == 404


def test_claim_is_single_use_and_monitor_appears_when_live(api, org, setup):
    from chalicelib.services import call_events
    from chalicelib.services.web_calls import claim_socket

    call_id = api.post("/calls/web", {"assistant_id": setup["assistant"]["id"]}).data["call_id"]
    assert claim_socket(org[0].id, call_id) is not None
    assert claim_socket(org[0].id, call_id) is None  # the second socket with the same token is refused
    row = CallRepository().get(org[0].id, call_id)
    assert row is not None and row.status == "ringing" and row.data["socket_connected_at"]

    call_events.call_started(org[0].id, call_id, control_url="http://10.0.0.5:8765")
    call = status_of(api, call_id)
    assert call["status"] == "in-progress"
    listen = urlsplit(call["monitor"]["listen_url"])
    assert (listen.scheme, listen.netloc, listen.path) == ("wss", "media.example.test", f"/monitor/{call_id}")
    assert verify_socket_token(TOKEN_SECRET, "monitor", _token(call["monitor"]["listen_url"]), call_id) == org[0].id
    assert "10.0.0.5" not in json.dumps(call)  # the owner's internal address stays private


def test_phone_call_is_not_claimable_as_a_web_call(api, org, setup, control_server):
    from chalicelib.services.web_calls import claim_socket

    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]})
    assert claim_socket(org[0].id, r.data["call_id"]) is None


def test_unclaimed_web_call_fails_after_its_token_expired(api, client, org, setup, webhook_queue, finished):
    import boto3

    call_id = api.post("/calls/web", {"assistant_id": setup["assistant"]["id"]}).data["call_id"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    attrs = sqs.get_queue_attributes(QueueUrl=webhook_queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"  # due after the token's 5 minutes

    body = json.dumps({"kind": "web_call_check", "org_id": org[0].id, "call_id": call_id})
    for _ in range(2):  # a redelivered check changes nothing the second time
        client.lambda_.invoke("webhook_retry", client.events.generate_sqs_event(message_bodies=[body],
                                                                                queue_name="test-webhooks"))
    call = status_of(api, call_id)
    assert call["status"] == "failed" and call["end_reason"] == "no_answer"
    assert finished["finished"] == [call_id]
