"""Per-call webhook ordering: a retried event holds back the later events of its call."""

from __future__ import annotations

from tests.calls.test_webhooks import _deliveries, _dial, _drain


def test_ended_waits_for_a_retried_in_progress(api, org, client, setup, twilio, receiver, webhook_queue):
    call_id = _dial(api, setup["assistant"]["id"])
    sid = list(twilio.calls)[-1]
    receiver.fail_times = 1  # the receiver answers 500 to the in-progress update once
    twilio.progress(sid, "answered")
    twilio.fire_status(sid, "completed", CallDuration="5", SipResponseCode="200")

    in_progress, ended = _deliveries(org)
    assert (in_progress.status, in_progress.sequence) == ("pending", 1)
    assert (ended.status, ended.sequence) == ("held", 2) and ended.data["attempts"] == []
    assert [e.message["call"]["status"] for e in receiver.events("status-update")] == ["in-progress"]  # the 500

    assert _drain(webhook_queue, client, wait=1.1) == 1  # the retry succeeds and releases the held event
    in_progress, ended = _deliveries(org)
    assert in_progress.status == ended.status == "delivered"
    assert "last_error" not in in_progress.data  # a delivery that finally succeeds clears last_error
    got = [e.message for e in receiver.events("status-update")]
    assert [(m["call"]["status"], m["sequence"]) for m in got] == [("in-progress", 1), ("in-progress", 1),
                                                                   ("ended", 2)]
    assert all(m["call"]["id"] == call_id for m in got)
    # The event's own time, not the send time: the retried bytes carry the first timestamp.
    assert got[0]["timestamp"] == got[1]["timestamp"] <= got[2]["timestamp"]
    assert _drain(webhook_queue, client, wait=0.1) == 0


def test_a_finally_failed_event_releases_the_next(api, org, client, setup, twilio, receiver, webhook_queue):
    import time

    from chalicelib.storage.webhooks import WebhookDeliveryRepository

    _dial(api, setup["assistant"]["id"])
    sid = list(twilio.calls)[-1]
    receiver.fail_times = 2
    twilio.progress(sid, "answered")
    twilio.fire_status(sid, "completed", CallDuration="5", SipResponseCode="200")
    first, _ = _deliveries(org)
    first.data["first_attempt_at"] -= 14 * 60 + 58  # the retry window is spent after the next attempt
    first.data["next_attempt_at"] = time.time()
    WebhookDeliveryRepository().save(first)
    assert _drain(webhook_queue, client, wait=1.1) == 1
    first, second = _deliveries(org)
    assert first.status == "failed" and first.data["last_error"] == "HTTP 500"
    assert second.status == "delivered" and second.sequence == 2


def test_sequence_numbers_are_per_call(api, org, setup, twilio, receiver):
    for _ in range(2):
        _dial(api, setup["assistant"]["id"])
        twilio.progress(list(twilio.calls)[-1], "answered")
    assert [d.sequence for d in _deliveries(org)] == [1, 1]


def test_sent_bodies_match_the_documented_envelope(client, api, org, setup, twilio, receiver):
    """What a receiver gets is what the OpenAPI document's ``webhooks`` section describes."""
    import json

    from jsonschema import Draft202012Validator

    doc = json.loads(client.http.get("/api/v1/openapi.json").body)
    assert set(doc["webhooks"]) == {"status-update", "end-of-call-report", "assistant-request", "tool-calls",
                                    "transcript", "speech-update", "conversation-update", "test-run.completed"}
    schema = {"$ref": "#/components/schemas/WebhookEnvelope", "components": doc["components"]}
    _dial(api, setup["assistant"]["id"])
    twilio.progress(list(twilio.calls)[-1], "completed")
    got = receiver.events("status-update")
    assert len(got) == 2
    for event in got:
        errs = list(Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
                    .iter_errors(event.json))
        assert not errs, [e.message for e in errs]
