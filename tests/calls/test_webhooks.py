"""Webhook delivery: envelope and signature, retries through the SQS delay queue, tool-calls parsing."""

from __future__ import annotations

import json
import time

import boto3

from sandbox.httpserver import FakeResponse
from sandbox.webhook_receiver import verify_signature
from tests.calls.conftest import WEBHOOK_SECRET, make_assistant, make_number, status_of


def _dial(api, assistant_id):
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": assistant_id})
    assert r.status_code == 200, r.body
    return r.data["call_id"]


def _deliveries(org):
    from chalicelib.storage.webhooks import WebhookDeliveryRepository

    return WebhookDeliveryRepository().list(org[0].id)


def _drain(queue_url, client, wait: float = 0.0) -> int:
    """Receive the queue's visible messages and hand them to the Chalice SQS handler."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    if wait:
        time.sleep(wait)
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    if got:
        event = client.events.generate_sqs_event(message_bodies=[m["Body"] for m in got], queue_name="test-webhooks")
        client.lambda_.invoke("webhook_retry", event)
        for m in got:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return len(got)


def test_status_update_retried_after_a_500_through_the_delay_queue(api, org, client, setup, twilio, receiver,
                                                                     webhook_queue):
    call_id = _dial(api, setup["assistant"]["id"])
    sid = list(twilio.calls)[-1]
    receiver.fail_times = 1
    twilio.progress(sid, "answered")
    [delivery] = _deliveries(org)
    assert delivery.status == "pending" and delivery.event == "status-update"
    assert [a["status_code"] for a in delivery.data["attempts"]] == [500]

    assert _drain(webhook_queue, client) == 0  # DelaySeconds=1: not visible yet
    assert _drain(webhook_queue, client, wait=1.1) == 1
    [delivery] = _deliveries(org)
    assert delivery.status == "delivered"
    assert [a["status_code"] for a in delivery.data["attempts"]] == [500, 200]
    first, second = receiver.events("status-update")
    assert first.body == second.body  # the same bytes, re-signed with a fresh timestamp
    assert second.signature_valid and second.message["call"]["id"] == call_id
    assert _drain(webhook_queue, client, wait=0.1) == 0


def test_delivery_that_never_succeeds_stays_failed_and_visible(api, org, client, setup, twilio, receiver,
                                                                webhook_queue):
    from chalicelib.storage.webhooks import WebhookDeliveryRepository

    _dial(api, setup["assistant"]["id"])
    receiver.fail_times = 100
    twilio.progress(list(twilio.calls)[-1], "answered")
    [delivery] = _deliveries(org)
    assert delivery.status == "pending"
    # Jump to the end of the retry window (about 15 minutes after the first attempt).
    delivery.data["first_attempt_at"] -= 14 * 60 + 58
    delivery.data["next_attempt_at"] = time.time()
    WebhookDeliveryRepository().save(delivery)
    assert _drain(webhook_queue, client, wait=1.1) == 1
    [delivery] = _deliveries(org)
    assert delivery.status == "failed" and len(delivery.data["attempts"]) == 2
    assert delivery.data["last_error"] == "HTTP 500" and delivery.data["body"]
    assert _drain(webhook_queue, client, wait=0.1) == 0


def test_backoff_schedule_spans_fifteen_minutes():
    from chalicelib.webhooks.delivery import next_delay

    t0 = 1_000_000.0
    elapsed, delays = 0.0, []
    while (d := next_delay(len(delays) + 1, t0, now=t0 + elapsed)) is not None:
        delays.append(d)
        elapsed += d
    assert delays[:5] == [1, 4, 16, 60, 300] and all(d == 300 for d in delays[5:])
    assert 600 <= elapsed <= 900


def test_client_error_is_not_retried(api, org, setup, twilio, receiver, webhook_queue, client):
    _dial(api, setup["assistant"]["id"])
    receiver.fail_times, receiver.fail_status = 1, 400
    twilio.progress(list(twilio.calls)[-1], "answered")
    [delivery] = _deliveries(org)
    assert delivery.status == "failed" and delivery.data["last_error"] == "HTTP 400"
    assert _drain(webhook_queue, client, wait=1.1) == 0


def test_unsubscribed_events_are_not_sent(api, org, twilio, receiver):
    assistant = make_assistant(api, webhook_url=receiver.url(), webhook_events=["end-of-call-report"])
    make_number(api, "+14155550150", assistant["id"])
    _dial(api, assistant["id"])
    twilio.progress(list(twilio.calls)[-1], "completed")
    assert receiver.events() == [] and _deliveries(org) == []


def test_end_of_call_report_envelope(api, org, setup, twilio, receiver):
    from chalicelib.services.call_events import call_ended, call_started
    from chalicelib.services.calls import get_call
    from chalicelib.webhooks.delivery import emit

    call_id = _dial(api, setup["assistant"]["id"])
    call_started(org[0].id, call_id, "http://10.0.0.5:8081")
    call_ended(org[0].id, call_id, end_reason="assistant_hangup", duration_seconds=12, latency=None,
               messages=[{"role": "assistant", "content": "Bye"}])
    call = get_call(org[0].id, call_id)
    delivery = emit(org[0].id, "end-of-call-report", call, {"summary": "Booked a cleaning.", "analysis": {"ok": 1}})
    assert delivery is not None and delivery.status == "delivered"
    [report] = receiver.events("end-of-call-report")
    m = report.message
    assert m["call"]["status"] == "ended" and m["duration_seconds"] == 12 and m["summary"] == "Booked a cleaning."
    assert m["analysis"] == {"ok": 1} and m["messages"] == [{"role": "assistant", "content": "Bye"}]
    assert m["end_reason"] == "assistant_hangup" and m["started_at"] and m["ended_at"]
    assert m["timestamp"].endswith("Z") and m["assistant"]["metadata"] == {"crm_id": "42"}
    assert report.signature_valid
    ts = report.headers["x-webhook-timestamp"]
    assert abs(int(ts) - time.time()) < 60
    assert verify_signature(WEBHOOK_SECRET, ts, report.body, report.headers["x-webhook-signature"])
    assert report.headers["x-webhook-signature"].startswith("sha256=")
    assert status_of(api, call_id)["status"] == "ended"


def test_unsigned_when_no_secret(api, org, twilio, receiver):
    assistant = make_assistant(api, webhook_url=receiver.url(), webhook_events=["status-update"])
    make_number(api, "+14155550151", assistant["id"])
    _dial(api, assistant["id"])
    twilio.progress(list(twilio.calls)[-1], "answered")
    [update] = receiver.events("status-update")
    assert "x-webhook-signature" not in update.headers and update.signature_valid is False


# ---------------------------------------------------------------- tool-calls
def _tool_payload(tool_call_id="tool_abc"):
    return {"message": {"type": "tool-calls", "call": {"id": "c1", "type": "outbound_phone_call",
                                                       "status": "in-progress"},
                        "tool_call_list": [{"id": tool_call_id, "type": "function",
                                            "function": {"name": "lookup", "arguments": {"q": "Jan"}}}]}}


def test_tool_webhook_response_forms(receiver):
    from chalicelib.webhooks.delivery import call_tool_webhook

    forms = [
        ({"results": [{"toolCallId": "tool_abc", "result": {"found": True}}]}, {"found": True}, None),
        ({"results": [{"tool_call_id": "other", "result": 1}, {"tool_call_id": "tool_abc", "result": 2}]}, 2, None),
        ({"result": "plain"}, "plain", None),
        ({"name": "Jan", "phone": "+31"}, {"name": "Jan", "phone": "+31"}, None),
        ({"error": "Contact niet gevonden"}, None, "Contact niet gevonden"),
        (FakeResponse(200, "just text"), "just text", None),
        (FakeResponse(500, {"error": "x"}), None, "HTTP 500"),
    ]
    for answer, result, error in forms:
        receiver.responses["tool-calls"] = answer
        out = call_tool_webhook(receiver.url("/tools"), WEBHOOK_SECRET, _tool_payload())
        assert out == {"result": result, "error": error}, answer
    sent = receiver.events("tool-calls")
    assert all(r.signature_valid for r in sent) and len(sent) == len(forms)
    assert json.loads(sent[0].body)["message"]["tool_call_list"][0]["function"]["arguments"] == {"q": "Jan"}


def test_tool_webhook_timeout_and_unreachable(receiver):
    from chalicelib.webhooks.delivery import call_tool_webhook

    receiver.delays["tool-calls"] = 1.0
    out = call_tool_webhook(receiver.url(), None, _tool_payload(), timeout=0.3)
    assert out == {"result": None, "error": "timeout"}
    out = call_tool_webhook("http://127.0.0.1:9/none", None, _tool_payload(), timeout=0.3)
    assert out["result"] is None and out["error"].startswith("network error")


def test_gdpr_mode_drops_the_stored_body_after_delivery(api, org, twilio, receiver):
    assistant = make_assistant(api, webhook_url=receiver.url(), webhook_events=["status-update"], gdpr_mode=True,
                               webhook_secret=WEBHOOK_SECRET)
    make_number(api, "+14155550152", assistant["id"])
    _dial(api, assistant["id"])
    twilio.progress(list(twilio.calls)[-1], "answered")
    [delivery] = _deliveries(org)
    assert delivery.status == "delivered" and "body" not in delivery.data


def test_deliveries_are_visible_per_call(api, other_api, org, setup, twilio, receiver, webhook_queue):
    call_id = _dial(api, setup["assistant"]["id"])
    receiver.fail_times = 1
    twilio.progress(list(twilio.calls)[-1], "answered")
    r = api.get(f"/calls/{call_id}/webhooks")
    assert r.status_code == 200
    [hook] = r.data["webhooks"]
    assert hook["event"] == "status-update" and hook["status"] == "pending" and hook["url"] == receiver.url()
    assert hook["attempts"][0]["status_code"] == 500 and hook["last_error"] == "HTTP 500"
    assert "body" not in hook
    assert other_api.get(f"/calls/{call_id}/webhooks").status_code == 404
