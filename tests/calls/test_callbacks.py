"""Twilio status and AMD callbacks: signatures, ordering, replays, webhooks, media ownership."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from tests.calls.conftest import status_of


def _dial(api, setup, twilio) -> tuple[str, str]:
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]})
    assert r.status_code == 200, r.body
    sid = [s for s, c in twilio.calls.items() if c["to"] == "+31612345678"][-1]
    return r.data["call_id"], sid


def test_answered_then_completed_without_media(api, setup, twilio, receiver, finished):
    call_id, sid = _dial(api, setup, twilio)
    twilio.fire_status(sid, "initiated")
    twilio.fire_status(sid, "ringing")
    assert status_of(api, call_id)["status"] == "ringing"
    twilio.answer(sid)
    call = status_of(api, call_id)
    assert call["status"] == "in-progress" and call["started_at"]
    [update] = receiver.events("status-update")
    assert update.signature_valid is True
    msg = update.message
    assert msg["call"] == {"id": call_id, "type": "outbound_phone_call", "status": "in-progress"}
    assert msg["customer"] == {"number": "+31612345678"}
    assert msg["phone_number"]["number"] == "+14155550100" and msg["phone_number"]["id"] == setup["number"]["id"]
    assert msg["assistant"]["metadata"] == {"crm_id": "42"} and msg["assistant"]["id"] == setup["assistant"]["id"]
    assert "webhook_secret" not in update.body.decode()
    assert update.headers["x-webhook-event"] == "status-update"

    twilio.fire_status(sid, "completed", CallDuration="42")
    call = status_of(api, call_id)
    assert call["status"] == "ended" and call["end_reason"] == "customer_hangup"
    assert call["duration_seconds"] == 42 and call["ended_at"]
    ended = receiver.events("status-update")[-1].message
    assert ended["call"]["status"] == "ended" and ended["end_reason"] == "customer_hangup"
    assert finished == {"finished": [call_id], "analysis": [call_id]}
    assert [r[2] for r in twilio.callback_results] == [200, 200, 200, 200]


def test_unanswered_outcomes_map_to_status_and_end_reason(api, setup, twilio, receiver, finished):
    expected = {"no-answer": "no_answer", "busy": "busy", "failed": "failed_to_connect"}
    for outcome, reason in expected.items():
        call_id, sid = _dial(api, setup, twilio)
        twilio.progress(sid, outcome)
        call = status_of(api, call_id)
        assert (call["status"], call["end_reason"]) == ("failed", reason), outcome
        assert outcome in call["error"]
        update = receiver.events("status-update")[-1].message
        assert update["call"]["status"] == "ended-with-error" and update["end_reason"] == reason
        assert update["error"]
    assert len(finished["finished"]) == 3


def test_out_of_order_and_replayed_callbacks_change_nothing(api, setup, twilio, receiver, finished):
    call_id, sid = _dial(api, setup, twilio)
    ringing = twilio.status_form(sid, "ringing", 1)
    answered = twilio.status_form(sid, "in-progress", 2)
    completed = twilio.status_form(sid, "completed", 3, CallDuration="9")
    url = twilio.call_form(sid)["StatusCallback"][0]

    assert twilio.send_signed(url, answered)[0] == 200
    assert twilio.send_signed(url, answered)[0] == 200  # replay
    assert twilio.send_signed(url, ringing)[0] == 200  # late: must not move the call back
    assert status_of(api, call_id)["status"] == "in-progress"
    assert len(receiver.events("status-update")) == 1

    assert twilio.send_signed(url, completed)[0] == 200
    assert twilio.send_signed(url, answered)[0] == 200  # very late answered after the end
    assert twilio.send_signed(url, completed)[0] == 200  # replayed completed
    call = status_of(api, call_id)
    assert call["status"] == "ended" and call["duration_seconds"] == 9
    assert [e.message["call"]["status"] for e in receiver.events("status-update")] == ["in-progress", "ended"]
    assert finished["finished"] == [call_id]


def test_completed_before_answered_still_ends_once(api, setup, twilio, finished):
    call_id, sid = _dial(api, setup, twilio)
    url = twilio.call_form(sid)["StatusCallback"][0]
    twilio.send_signed(url, twilio.status_form(sid, "no-answer", 2))
    twilio.send_signed(url, twilio.status_form(sid, "ringing", 1))
    call = status_of(api, call_id)
    assert call["status"] == "failed" and call["end_reason"] == "no_answer"
    assert finished["finished"] == [call_id]


def test_forged_missing_or_misdirected_signature_is_403_and_changes_nothing(api, client, setup, twilio, receiver):
    call_id, sid = _dial(api, setup, twilio)
    url = twilio.call_form(sid)["StatusCallback"][0]
    form = twilio.status_form(sid, "in-progress", 2)
    assert twilio.send_signed(url, form, signature="Zm9yZ2VkLXNpZ25hdHVyZQ==")[0] == 403
    path = url[len("https://voice.example.test/api"):]
    r = client.http.post(path, body=urlencode(form), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 403
    # a valid signature for another call's URL does not carry over to this one
    other_url = url.replace(call_id, "00000000-0000-4000-8000-000000000000")
    from twilio.request_validator import RequestValidator

    grouped = {}
    for k, v in form:
        grouped.setdefault(k, []).append(v)

    class Multi(dict):
        def getlist(self, name):
            return self[name]

    sig_for_other = RequestValidator("twilio-test-token").compute_signature(other_url, Multi(grouped))
    assert twilio.send_signed(url, form, signature=sig_for_other)[0] == 403
    # tampered body under a genuine signature
    genuine = RequestValidator("twilio-test-token").compute_signature(url, Multi(grouped))
    tampered = [(k, "completed" if k == "CallStatus" else v) for k, v in form]
    assert twilio.send_signed(url, tampered, signature=genuine)[0] == 403
    assert status_of(api, call_id)["status"] == "queued"
    assert receiver.events() == []
    for path in ("/twilio/voice", "/twilio/amd"):
        assert client.http.post(path, body="CallSid=CA1",
                                headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 403


def test_media_service_owns_the_end_of_a_streamed_call(api, org, setup, twilio, receiver, finished):
    from chalicelib.services.call_events import call_ended, call_started

    call_id, sid = _dial(api, setup, twilio)
    twilio.fire_status(sid, "initiated")
    twilio.fire_status(sid, "ringing")
    started = call_started(org[0].id, call_id, "http://10.0.0.5:8081")
    assert started is not None
    assert started.status == "in-progress" and started.data["control_url"] == "http://10.0.0.5:8081"
    twilio.answer(sid)  # Twilio's answered callback after the media start: no second status-update
    assert len(receiver.events("status-update")) == 1
    twilio.fire_status(sid, "completed", CallDuration="30")
    assert status_of(api, call_id)["status"] == "in-progress"  # media still writing the transcript

    messages = [{"role": "assistant", "content": "Hello Jan!"}, {"role": "user", "content": "Bye"}]
    ended = call_ended(org[0].id, call_id, end_reason="customer_hangup", messages=messages,
                       latency={"voice_to_voice_ms": {"p50": 640}}, duration_seconds=29)
    assert ended is not None and ended.status == "ended"
    assert call_ended(org[0].id, call_id, end_reason="error", messages=[], latency=None,
                      duration_seconds=None, error="late") is None
    call = status_of(api, call_id)
    assert call["messages"] == messages and call["latency"] == {"voice_to_voice_ms": {"p50": 640}}
    assert call["duration_seconds"] == 29 and call["end_reason"] == "customer_hangup"
    assert [e.message["call"]["status"] for e in receiver.events("status-update")] == ["in-progress", "ended"]
    assert finished == {"finished": [call_id], "analysis": [call_id]}


def test_call_ended_with_error_is_ended_with_error(api, org, setup, twilio, receiver, finished):
    from chalicelib.services.call_events import call_ended, call_started

    call_id, sid = _dial(api, setup, twilio)
    call_started(org[0].id, call_id, "http://10.0.0.5:8081")
    call_ended(org[0].id, call_id, end_reason="error", messages=[], latency=None, duration_seconds=3,
               error="STT connection failed")
    call = status_of(api, call_id)
    assert call["status"] == "failed" and call["error"] == "STT connection failed"
    last = receiver.events("status-update")[-1].message
    assert last["call"]["status"] == "ended-with-error" and last["error"] == "STT connection failed"
    assert last["end_reason"] == "error"


def test_amd_verdict_recorded_and_forwarded_to_the_live_call(api, org, twilio, receiver, control_server):
    from chalicelib.services.call_events import call_started
    from tests.calls.conftest import make_assistant, make_number

    assistant = make_assistant(api, voicemail_detection=True)
    make_number(api, "+14155550103", assistant["id"])
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": assistant["id"]})
    call_id = r.data["call_id"]
    sid = list(twilio.calls)[-1]
    twilio.progress(sid, "answered")
    call_started(org[0].id, call_id, control_server.base_url)
    assert twilio.fire_amd(sid, "machine_end_beep") == 200
    assert status_of(api, call_id)["answered_by"] == "machine_end_beep"
    assert control_server.commands == [{"version": 1, "call_id": call_id, "org_id": org[0].id,
                                        "command": {"type": "amd", "answered_by": "machine_end_beep"}}]


def test_call_left_live_by_a_dead_media_task_is_ended_by_the_delayed_check(api, org, client, setup, twilio,
                                                                           receiver, finished, webhook_queue):
    import boto3

    from chalicelib.services.call_events import call_ended, call_started

    sqs = boto3.client("sqs", region_name="us-east-1")
    stuck, sid = _dial(api, setup, twilio)
    call_started(org[0].id, stuck, "http://10.0.0.5:8081")
    twilio.fire_status(sid, "completed", CallDuration="17")
    attrs = sqs.get_queue_attributes(QueueUrl=webhook_queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"  # checked back in 120 s

    healthy, sid2 = _dial(api, setup, twilio)
    call_started(org[0].id, healthy, "http://10.0.0.5:8081")
    twilio.fire_status(sid2, "completed", CallDuration="5")
    call_ended(org[0].id, healthy, end_reason="assistant_hangup", messages=[], latency=None, duration_seconds=5)

    # what the queue delivers 120 s later, handed to the Chalice SQS handler
    bodies = [json.dumps({"kind": "call_check", "org_id": org[0].id, "call_id": c}) for c in (stuck, healthy)]
    client.lambda_.invoke("webhook_retry", client.events.generate_sqs_event(message_bodies=bodies,
                                                                            queue_name="test-webhooks"))
    call = status_of(api, stuck)
    assert call["status"] == "failed" and call["end_reason"] == "media_failure" and call["duration_seconds"] == 17
    assert status_of(api, healthy)["end_reason"] == "assistant_hangup"
    assert sorted(finished["finished"]) == sorted([stuck, healthy])


def test_media_report_after_twilio_finalized_the_call_still_stores_the_transcript(api, org, setup, twilio, receiver,
                                                                                  finished):
    """Twilio's answered and completed callbacks arrive before the media service's start report (a short
    call): Twilio finalizes it, and the media service's end report must not be dropped."""
    from chalicelib.services.call_events import call_ended, call_started

    call_id, sid = _dial(api, setup, twilio)
    twilio.answer(sid)
    twilio.fire_status(sid, "completed", CallDuration="12")
    assert status_of(api, call_id)["end_reason"] == "customer_hangup"  # Twilio's guess, no owner yet
    assert call_started(org[0].id, call_id, "http://10.0.0.5:8081") is None  # too late to own it

    messages = [{"role": "assistant", "content": "Hello Jan!"}, {"role": "user", "content": "Wrong number, bye"},
                {"role": "assistant", "content": "Sorry, goodbye!"}]
    ended = call_ended(org[0].id, call_id, end_reason="assistant_hangup", messages=messages,
                       latency={"voice_to_voice_ms": {"p50": 700}}, duration_seconds=11)
    assert ended is not None
    call = status_of(api, call_id)
    assert call["status"] == "ended" and call["messages"] == messages
    assert call["latency"] == {"voice_to_voice_ms": {"p50": 700}} and call["end_reason"] == "assistant_hangup"
    assert call["duration_seconds"] == 12  # Twilio's billed duration stays
    # once: a repeated report changes nothing, and the side effects ran only at Twilio's transition
    assert call_ended(org[0].id, call_id, end_reason="error", messages=[], latency=None, duration_seconds=None,
                      error="late") is None
    assert status_of(api, call_id)["messages"] == messages
    assert [e.message["call"]["status"] for e in receiver.events("status-update")] == ["in-progress", "ended"]
    assert finished == {"finished": [call_id], "analysis": [call_id]}


def test_media_report_after_the_stale_check_replaces_the_media_failure_verdict(api, org, client, setup, twilio,
                                                                               finished, webhook_queue):
    from chalicelib.services.call_events import call_ended, call_started, finalize_if_stale

    call_id, sid = _dial(api, setup, twilio)
    call_started(org[0].id, call_id, "http://10.0.0.5:8081")
    twilio.fire_status(sid, "completed", CallDuration="20")
    assert finalize_if_stale(org[0].id, call_id) is not None  # the media task was slow, not dead
    assert status_of(api, call_id)["end_reason"] == "media_failure"

    messages = [{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "Bye"}]
    call_ended(org[0].id, call_id, end_reason="customer_hangup", messages=messages, latency=None, duration_seconds=20)
    call = status_of(api, call_id)
    assert (call["status"], call["end_reason"], call["error"]) == ("ended", "customer_hangup", None)
    assert call["messages"] == messages and call["duration_seconds"] == 20
    assert finished["analysis"] == [call_id]


def test_late_media_report_keeps_no_transcript_in_gdpr_mode(api, org, twilio, receiver, finished):
    from chalicelib.services.call_events import call_ended
    from tests.calls.conftest import make_assistant, make_number

    assistant = make_assistant(api, gdpr_mode=True)
    make_number(api, "+14155550160", assistant["id"])
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": assistant["id"]})
    call_id, sid = r.data["call_id"], list(twilio.calls)[-1]
    twilio.answer(sid)
    twilio.fire_status(sid, "completed", CallDuration="5")
    call_ended(org[0].id, call_id, end_reason="assistant_hangup", messages=[{"role": "user", "content": "secret"}],
               latency=None, duration_seconds=5)
    call = status_of(api, call_id)
    assert call["end_reason"] == "assistant_hangup" and not call.get("messages")
