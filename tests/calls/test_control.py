"""POST /api/v1/calls/{id}/control: validation, state, per-call limit, signed delivery to the owner."""

from __future__ import annotations

import hashlib
import hmac

from tests.calls.conftest import MEDIA_SECRET


def _live_call(api, org, setup, control_server) -> str:
    from chalicelib.services.call_events import call_started

    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]})
    call_id = r.data["call_id"]
    call_started(org[0].id, call_id, control_server.base_url)
    return call_id


def test_four_commands_reach_the_owner_signed(api, org, setup, twilio, control_server):
    call_id = _live_call(api, org, setup, control_server)
    commands = [
        {"type": "inject-context", "content": "SMS code is 4411", "trigger_response": False},
        {"type": "say", "content": "One moment please.", "endAfter": False},
        {"type": "transfer", "destination": "+31201234567", "message": "Transferring you now."},
        {"type": "transfer", "destination": "sip:desk@pbx.example.com"},
        {"type": "end-call", "message": "Goodbye!"},
        {"type": "end-call"},
    ]
    for cmd in commands:
        r = api.post(f"/calls/{call_id}/control", cmd)
        assert r.status_code == 200, (cmd, r.body)
        assert r.data == {"success": True, "message": "Command sent successfully"}
    envelopes = control_server.commands
    assert {(e["version"], e["call_id"], e["org_id"]) for e in envelopes} == {(1, call_id, org[0].id)}
    got = [e["command"] for e in envelopes]
    assert [c["type"] for c in got] == [c["type"] for c in commands]
    assert got[0] == {"type": "inject-context", "content": "SMS code is 4411", "trigger_response": False}
    assert got[1]["end_after"] is False and got[2]["destination"] == "+31201234567"
    assert got[2]["message"] == "Transferring you now." and got[3]["destination"] == "sip:desk@pbx.example.com"
    assert got[4] == {"type": "end-call", "message": "Goodbye!"}
    assert got[5] == {"type": "end-call", "message": None}
    req = [r for r in control_server.requests if r.path.endswith("/control")][0]
    assert req.path == f"/calls/{call_id}/control"
    ts = req.headers["x-control-timestamp"]
    expected = hmac.new(MEDIA_SECRET.encode(), ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-control-signature"] == expected


def test_say_without_end_after_carries_on(api, org, setup, twilio, control_server):
    """``end_after`` is optional (as in Vapi): a plain say reaches the call with ``end_after`` false."""
    call_id = _live_call(api, org, setup, control_server)
    r = api.post(f"/calls/{call_id}/control", {"type": "say", "content": "Still with you."})
    assert r.status_code == 200, r.body
    assert [e["command"] for e in control_server.commands] == [
        {"type": "say", "content": "Still with you.", "end_after": False}]


def test_invalid_commands_are_400_and_do_not_count(api, org, setup, twilio, control_server):
    call_id = _live_call(api, org, setup, control_server)
    bad = [{"type": "dance"}, {"type": "inject-context", "content": "x"},
           {"type": "transfer"}, {"type": "transfer", "destination": "12"}, {"content": "x"},
           {"type": "end-call", "extra": 1}, {"type": "say", "content": "", "end_after": True}]
    for cmd in bad * 2:
        r = api.post(f"/calls/{call_id}/control", cmd)
        assert r.status_code == 400, (cmd, r.body)
        assert r.data["error"] in ("invalid_request", "missing_field") and r.data["param"], r.data
    assert control_server.commands == []
    for _ in range(10):
        assert api.post(f"/calls/{call_id}/control", {"type": "end-call"}).status_code == 200
    r = api.post(f"/calls/{call_id}/control", {"type": "end-call"})
    assert r.status_code == 429 and r.data["error"] == "rate_limit_exceeded"
    assert int(r.headers["Retry-After"]) >= 1
    assert len(control_server.commands) == 10


def test_unknown_or_foreign_call_is_404(api, other_api, org, setup, twilio, control_server):
    call_id = _live_call(api, org, setup, control_server)
    cmd = {"type": "end-call"}
    assert api.post("/calls/7d1c6c9e-3c3e-4c56-9a55-2f1f2a0f0c11/control", cmd).status_code == 404
    assert api.post("/calls/not-a-uuid/control", cmd).status_code == 404
    r = other_api.post(f"/calls/{call_id}/control", cmd)
    assert r.status_code == 404 and r.data["error"] == "not_found"
    assert control_server.commands == []


def test_call_not_in_progress_is_call_not_active(api, org, setup, twilio, control_server):
    from chalicelib.services.call_events import call_ended

    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]})
    queued = r.data["call_id"]
    r = api.post(f"/calls/{queued}/control", {"type": "say", "content": "hi", "end_after": False})
    assert r.status_code == 400 and r.data["error"] == "call_not_active"
    live = _live_call(api, org, setup, control_server)
    call_ended(org[0].id, live, end_reason="customer_hangup", messages=[], latency=None, duration_seconds=1)
    r = api.post(f"/calls/{live}/control", {"type": "end-call"})
    assert r.status_code == 400 and r.data["error"] == "call_not_active"


def test_answered_call_waits_for_its_media_owner(api, org, setup, twilio, control_server, monkeypatch):
    import threading

    from chalicelib.services import call_control
    from chalicelib.services.call_events import call_started
    from chalicelib.storage.calls import CallRepository

    monkeypatch.setattr(call_control, "OWNER_WAIT", 1.0)
    r = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": setup["assistant"]["id"]})
    call_id = r.data["call_id"]
    # Twilio said "answered"; the media stream has not connected yet
    CallRepository().set_status(org[0].id, call_id, "in-progress")
    timer = threading.Timer(0.3, call_started, args=(org[0].id, call_id, control_server.base_url))
    timer.start()
    r = api.post(f"/calls/{call_id}/control", {"type": "end-call"})
    timer.join()
    assert r.status_code == 200, r.data
    assert control_server.commands == [{"version": 1, "call_id": call_id, "org_id": org[0].id,
                                        "command": {"type": "end-call", "message": None}}]

    # No owner ever: once the wait is over, 409 (GET still says in-progress, so not call_not_active),
    # and nothing was delivered
    r = api.post("/calls/outbound", {"destination": "+31612345679", "assistant_id": setup["assistant"]["id"]})
    orphan = r.data["call_id"]
    CallRepository().set_status(org[0].id, orphan, "in-progress")
    r = api.post(f"/calls/{orphan}/control", {"type": "end-call"})
    assert r.status_code == 409 and r.data["error"] == "conflict"
    assert api.get(f"/calls/{orphan}").data["status"] == "in-progress"
    assert len(control_server.commands) == 1


def test_owner_failures_map_to_errors(api, org, setup, twilio, control_server):
    call_id = _live_call(api, org, setup, control_server)
    control_server.status = 404  # the media process no longer holds the call, the row still says in-progress
    r = api.post(f"/calls/{call_id}/control", {"type": "end-call"})
    assert r.status_code == 409 and r.data["error"] == "conflict"
    assert api.get(f"/calls/{call_id}").data["status"] == "in-progress"
    control_server.status = 500
    r = api.post(f"/calls/{call_id}/control", {"type": "end-call"})
    assert r.status_code == 502 and r.data["error"] == "upstream_error"


def test_owner_rejections_are_mapped(api, org, setup, twilio, control_server):
    from sandbox.httpserver import FakeResponse

    call_id = _live_call(api, org, setup, control_server)
    control_server.answers = [FakeResponse(400, {"error": "call_not_active", "message": "The call is ending."}),
                              FakeResponse(400, {"error": "invalid_request", "message": "say is unsupported here"})]
    r = api.post(f"/calls/{call_id}/control", {"type": "end-call"})
    assert r.status_code == 409 and r.data["error"] == "conflict"  # ending, but the row still says in-progress
    r = api.post(f"/calls/{call_id}/control", {"type": "say", "content": "hi", "end_after": False})
    assert r.status_code == 400 and r.data["error"] == "invalid_request"
    assert "unsupported" in r.data["message"]


def test_control_and_get_agree_while_the_media_ends_the_call(api, org, setup, twilio, control_server):
    """The media task refuses a command because the call is ending: the answer matches the row at every
    moment: 409 while GET says in-progress, call_not_active once the end has been recorded."""
    from chalicelib.services.call_events import call_ended
    from sandbox.httpserver import FakeResponse

    call_id = _live_call(api, org, setup, control_server)
    ending = FakeResponse(400, {"error": "call_not_active", "message": "The call is ending."})

    control_server.answers = [ending]
    r = api.post(f"/calls/{call_id}/control", {"type": "end-call"})
    status = api.get(f"/calls/{call_id}").data["status"]
    assert status == "in-progress" and r.status_code == 409 and r.data["error"] == "conflict"

    # The media task reports the end while answering the refusal (the row moves first)
    def refuse_after_end(_req):
        call_ended(org[0].id, call_id, end_reason="customer_hangup", messages=[], latency=None, duration_seconds=3)
        return ending

    control_server.route("POST", r"/calls/(?P<call_id>[^/]+)/control", refuse_after_end)
    control_server._routes.insert(0, control_server._routes.pop())  # ahead of the default handler
    r = api.post(f"/calls/{call_id}/control", {"type": "end-call"})
    status = api.get(f"/calls/{call_id}").data["status"]
    assert status == "ended" and r.status_code == 400 and r.data["error"] == "call_not_active"
    # ... and from then on every command is call_not_active without reaching the media task
    r = api.post(f"/calls/{call_id}/control", {"type": "say", "content": "hi", "end_after": False})
    assert r.status_code == 400 and r.data["error"] == "call_not_active"


def test_amd_before_the_stream_goes_to_the_media_pool(api, org, twilio, control_server):
    from tests.calls.conftest import make_assistant, make_number

    assistant = make_assistant(api, voicemail_detection=True)
    make_number(api, "+14155550170", assistant["id"])
    call_id = api.post("/calls/outbound", {"destination": "+31612345678", "assistant_id": assistant["id"]}).data[
        "call_id"]
    sid = list(twilio.calls)[-1]
    twilio.fire_status(sid, "ringing")
    assert twilio.fire_amd(sid, "human") == 200
    assert control_server.commands == [{"version": 1, "call_id": call_id, "org_id": org[0].id,
                                        "command": {"type": "amd", "answered_by": "human"}}]


def test_control_limit_slides_across_the_window_edge(aws):
    """Ten admitted at 59 s, the eleventh at 61 s is refused (a fixed window would admit ten more)."""
    from chalicelib.storage.orgs import RateLimitRepository

    repo, scope = RateLimitRepository(), "control:o:c"
    base = 1_800_000_000 - 1_800_000_000 % 60  # a window start
    assert [repo.take_sliding(scope, 10, 60, now=base + 59) for _ in range(10)] == [0.0] * 10
    wait = repo.take_sliding(scope, 10, 60, now=base + 61)
    # 10 * (1 - 1/60) + 0 + 1 > 10: refused until the previous window has decayed to 9 (6 s into it).
    assert 4.9 < wait < 5.1
    assert repo.take_sliding(scope, 10, 60, now=base + 66.5) == 0.0
    assert repo.take_sliding(scope, 10, 60, now=base + 66.6) > 0  # 10 * 0.89 + 1 + 1 > 10
    # Refused requests are not counted: at 90 s half the previous window remains, five more fit.
    assert [repo.take_sliding(scope, 10, 60, now=base + 90) for _ in range(4)] == [0.0] * 4
    assert repo.take_sliding(scope, 10, 60, now=base + 90) > 0
    # Another scope is independent; a full current window waits into the next window.
    assert [repo.take_sliding("control:o:d", 3, 60, now=base + 1) for _ in range(3)] == [0.0] * 3
    wait = repo.take_sliding("control:o:d", 3, 60, now=base + 1)
    assert 59 + 60 * (1 - 2 / 3) - 0.1 < wait < 59 + 60 * (1 - 2 / 3) + 0.1
