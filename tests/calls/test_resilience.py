"""A media task that dies loses nothing: turns persisted as they happen, heartbeats, the reaper, closed
end reasons, and control commands for a call whose task is gone."""

from __future__ import annotations

import socket
import time

import pytest

from tests.calls.conftest import status_of

GREETING = {"role": "assistant", "content": "Hello Ann!"}
FIRST_TURN = {"role": "user", "content": "I need a cleaning next week."}
REPLY = {"role": "assistant", "content": "Sure, Tuesday at ten?"}


def _live(api, org, setup, twilio, control_url: str = "http://10.0.0.5:8081") -> tuple[str, str]:
    from chalicelib.services.call_events import call_started

    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]})
    assert r.status_code == 200, r.body
    call_id = r.data["call_id"]
    sid = [s for s, c in twilio.calls.items() if c["to"] == "+31612345678"][-1]
    twilio.fire_status(sid, "initiated")
    twilio.answer(sid)
    assert call_started(org[0].id, call_id, control_url) is not None
    return call_id, sid


def _progress(org, call_id: str, messages: list[dict] | None) -> bool:
    from chalicelib.models.media import CallProgress
    from chalicelib.services.media_gateway import call_progress

    return call_progress(CallProgress(org_id=org[0].id, call_id=call_id, messages=messages))


def _reap(client) -> dict:
    """The scheduled Lambda as EventBridge invokes it."""
    event = client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [], region="us-east-1")
    return client.lambda_.invoke("call_reaper", event).payload


@pytest.fixture(autouse=True)
def _stale_after_one_second(monkeypatch):
    """35 s in production; one second here, so a test sleeps 1.2 s instead of 36."""
    from chalicelib.services import call_reaper

    monkeypatch.setattr(call_reaper, "STALE_AFTER_SECONDS", 1.0)


def test_each_message_is_on_the_row_while_the_call_runs_and_never_shortened(api, org, setup, twilio):
    call_id, _ = _live(api, org, setup, twilio)
    assert _progress(org, call_id, [GREETING]) is True
    assert status_of(api, call_id)["messages"] == [GREETING]
    assert _progress(org, call_id, [GREETING, FIRST_TURN]) is True
    call = status_of(api, call_id)
    assert call["status"] == "in-progress" and call["messages"] == [GREETING, FIRST_TURN]
    # A late write from before the first turn (or a heartbeat without messages) leaves the turns alone.
    assert _progress(org, call_id, [GREETING]) is True
    assert _progress(org, call_id, None) is True
    assert status_of(api, call_id)["messages"] == [GREETING, FIRST_TURN]
    # An interrupted reply is cut to what was heard: same length, new content, stored.
    assert _progress(org, call_id, [GREETING, {"role": "user", "content": "I need a cleaning."}]) is True
    assert status_of(api, call_id)["messages"][1]["content"] == "I need a cleaning."


def test_the_final_report_keeps_the_longer_stored_transcript(api, org, setup, twilio):
    from chalicelib.services.call_events import call_ended

    call_id, _ = _live(api, org, setup, twilio)
    _progress(org, call_id, [GREETING, FIRST_TURN, REPLY])
    call_ended(org[0].id, call_id, end_reason="customer_hangup", messages=[GREETING], latency=None,
               duration_seconds=4)
    call = status_of(api, call_id)
    assert call["status"] == "ended" and call["messages"] == [GREETING, FIRST_TURN, REPLY]
    assert _progress(org, call_id, [GREETING, FIRST_TURN, REPLY, REPLY]) is False  # over: the task stops
    assert status_of(api, call_id)["messages"] == [GREETING, FIRST_TURN, REPLY]


def test_reaper_ends_a_call_whose_task_stopped_heartbeating(api, client, org, setup, twilio, receiver, finished):
    stale_id, stale_sid = _live(api, org, setup, twilio)
    _progress(org, stale_id, [GREETING, FIRST_TURN])
    time.sleep(1.2)
    healthy_id, _ = _live(api, org, setup, twilio)
    assert _progress(org, healthy_id, [GREETING]) is True

    out = _reap(client)

    assert out == {"checked": 1, "ended": [stale_id]}
    call = status_of(api, stale_id)
    assert (call["status"], call["end_reason"]) == ("failed", "media_failure")
    assert call["messages"] == [GREETING, FIRST_TURN]  # analysis and the report get what exists
    assert call["ended_at"] and call["error"] and call["duration_seconds"] is not None
    update = [e.message for e in receiver.events("status-update") if e.message["call"]["id"] == stale_id][-1]
    assert update["call"]["status"] == "ended-with-error" and update["end_reason"] == "media_failure"
    assert finished["analysis"] == [stale_id] and finished["finished"] == [stale_id]
    assert {"Status": "completed"} in [{k: v for k, v in u.items() if k == "Status"}
                                       for u in twilio.call_updates(stale_sid)]
    assert status_of(api, healthy_id)["status"] == "in-progress"
    # Reaped once: the next run finds nothing, and the task (if it was only stalled) learns it is over.
    assert _reap(client) == {"checked": 0, "ended": []}
    assert _progress(org, stale_id, [GREETING, FIRST_TURN, REPLY]) is False
    assert len([e for e in receiver.events("status-update") if e.message["call"]["id"] == stale_id]) == 2


def test_an_answered_call_whose_stream_never_arrives_is_reaped_too(api, client, org, setup, twilio, finished):
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]})
    call_id = r.data["call_id"]
    sid = [s for s, c in twilio.calls.items() if c["to"] == "+31612345678"][-1]
    twilio.answer(sid)
    time.sleep(1.2)
    assert _reap(client)["ended"] == [call_id]
    assert status_of(api, call_id)["end_reason"] == "media_failure"


def test_end_reasons_are_always_from_the_closed_set(api, org, setup, twilio, receiver):
    from chalicelib.services.call_events import call_ended
    from chalicelib.storage.calls import CallRepository

    call_id, _ = _live(api, org, setup, twilio)
    call_ended(org[0].id, call_id, end_reason="error: ConnectionRefusedError(111, 'Connect call failed')",
               messages=[], latency=None, duration_seconds=1, error="media service error")
    row = CallRepository().get(org[0].id, call_id)
    assert row is not None and row.data["end_reason"] == "error"
    assert status_of(api, call_id)["end_reason"] == "error"
    # A row written before the closed set existed is mapped on read (REST and webhooks).
    old_id, _ = _live(api, org, setup, twilio)
    raw = "error: ConnectionRefusedError(111, 'Connect call failed')"
    CallRepository().set_status(org[0].id, old_id, "failed", data_updates={"end_reason": raw})
    assert status_of(api, old_id)["end_reason"] == "error"
    listed = {c["id"]: c["end_reason"] for c in api.get("/calls").data["calls"]}
    assert listed[old_id] == "error"


def test_control_for_a_call_whose_task_died_is_409_not_500(api, org, setup, twilio):
    with socket.socket() as s:  # a port nobody listens on: the dead task's control address
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    call_id, _ = _live(api, org, setup, twilio, control_url=dead)
    r = api.post(f"/calls/{call_id}/control", {"type": "say", "content": "Still there?"})
    assert r.status_code == 409 and r.data["error"] == "conflict"
    assert "media_failure" in r.data["message"] and "Traceback" not in r.data["message"]
    assert status_of(api, call_id)["status"] == "in-progress"


def test_another_orgs_call_is_404_for_control_even_when_its_task_died(api, other_api, org, setup, twilio):
    call_id, _ = _live(api, org, setup, twilio, control_url="http://127.0.0.1:9")
    assert other_api.post(f"/calls/{call_id}/control", {"type": "end-call"}).status_code == 404


def test_a_dropped_stream_reconnects_the_caller_while_the_call_is_live(api, org, setup, twilio):
    from chalicelib.security import verify_call_token
    from chalicelib.services import stream_recovery
    from sandbox.caller import parse_stream_twiml

    call_id, sid = _live(api, org, setup, twilio)
    status, xml = twilio.stream_ended(sid) or (0, "")
    assert status == 200 and "<Pause" not in xml  # the first reconnect is immediate
    url, params = parse_stream_twiml(xml)
    assert url == "wss://media.example.test/twilio/stream"
    assert params["call_id"] == call_id and params["org_id"] == org[0].id
    assert verify_call_token("call-token-test-secret", params["token"], call_id, org[0].id)
    action = f"https://voice.example.test/api/twilio/stream-ended?org_id={org[0].id}&amp;call_id={call_id}"
    assert f'action="{action}"' in xml
    # The reconnect failed too (no task up yet): Twilio asks again; a pause first, up to the cap.
    status, xml = twilio.stream_ended(sid) or (0, "")
    assert status == 200 and '<Pause length="2" />' in xml and "<Stream" in xml
    for _ in range(stream_recovery.MAX_RECOVERIES - 2):
        assert "<Stream" in (twilio.stream_ended(sid) or (0, ""))[1]
    status, xml = twilio.stream_ended(sid) or (0, "")
    assert status == 200 and "<Hangup />" in xml and "<Stream" not in xml
    assert twilio.calls[sid]["status"] == "completed"
    call = status_of(api, call_id)
    assert call["status"] == "in-progress"  # the media side owns the end: the reaper ends it (media_failure)


def test_a_stream_that_ends_after_the_call_ended_hangs_up(api, org, setup, twilio):
    from chalicelib.services.call_events import call_ended

    call_id, sid = _live(api, org, setup, twilio)
    call_ended(org[0].id, call_id, end_reason="assistant_hangup", messages=[GREETING], latency=None,
               duration_seconds=3)
    status, xml = twilio.stream_ended(sid) or (0, "")
    assert status == 200 and "<Hangup />" in xml and "<Stream" not in xml


def test_stream_ended_needs_twilios_signature_and_the_calls_own_sid(api, org, setup, twilio, client):
    from urllib.parse import urlencode

    call_id, sid = _live(api, org, setup, twilio)
    path = f"/twilio/stream-ended?org_id={org[0].id}&call_id={call_id}"
    form = [("CallSid", sid), ("CallStatus", "in-progress"), ("AccountSid", twilio.account_sid)]
    forged = client.http.post(path, body=urlencode(form), headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    assert forged.status_code == 403
    other = [("CallSid", "CA" + "9" * 32), ("CallStatus", "in-progress"), ("AccountSid", twilio.account_sid)]
    status, xml = twilio.send_signed(f"https://voice.example.test/api{path}", other)
    assert status == 200 and "<Hangup />" in xml
    assert "stream_recoveries" not in _row(org, call_id).data


def _row(org, call_id: str):
    from chalicelib.storage.calls import CallRepository

    row = CallRepository().get(org[0].id, call_id)
    assert row is not None
    return row
