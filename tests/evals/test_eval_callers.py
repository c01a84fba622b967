"""Which simulated-caller backend a scenario gets (EVAL_CALLER_BACKEND), and MediaCallers on the wire: the
web call it writes (marked with the run, not refused for an empty balance), the signed RunCaller a media
task receives, and a fleet that takes no caller failing the call at once."""

from __future__ import annotations

import json

import pytest

from chalicelib.security import verify_control
from tests.workflows.conftest import FakeControlServer, make_assistant

PERSONA = {"name": "P", "caller": {"instructions": "Ask to 'book a cleaning'.", "voice": "v1", "language": "de-DE",
                                   "pace": 1.5}, "max_turns": 4}
SCRIPTED = {"name": "S", "caller": {"lines": ["Hi", {"text": "Tuesday", "barge_in_after_ms": 500}], "pause_ms": 300},
            "max_turns": 5}
RUN_ID = "11111111-1111-4111-8111-111111111111"


def _settings(monkeypatch, **env: str):
    from chalicelib.settings import get_settings, reset_settings

    for key in ("SANDBOX_CONTROL_URL", "MEDIA_CONTROL_URL", "EVAL_CALLER_BACKEND", "TWILIO_API_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    return get_settings()


@pytest.mark.parametrize(("env", "scenario", "expected"), [
    ({"MEDIA_CONTROL_URL": "http://m", "SANDBOX_CONTROL_URL": "http://sb", "TWILIO_API_URL": "http://tw"},
     SCRIPTED, "SandboxCallers"),
    ({"MEDIA_CONTROL_URL": "http://m", "SANDBOX_CONTROL_URL": "http://sb", "TWILIO_API_URL": "http://tw"},
     PERSONA, "MediaCallers"),
    ({"MEDIA_CONTROL_URL": "http://m"}, SCRIPTED, "MediaCallers"),  # AWS: no sandbox
    ({"MEDIA_CONTROL_URL": "http://m", "SANDBOX_CONTROL_URL": "http://sb", "TWILIO_API_URL": "http://tw",
      "EVAL_CALLER_BACKEND": "media"}, SCRIPTED, "MediaCallers"),
])
def test_backend_per_scenario(monkeypatch, env, scenario, expected):
    from chalicelib.services.eval_caller import RoutedCallers

    assert type(RoutedCallers(_settings(monkeypatch, **env)).for_scenario(scenario)).__name__ == expected


@pytest.mark.parametrize(("env", "scenario", "reason"), [
    ({}, PERSONA, "no simulated-caller backend"),
    ({"MEDIA_CONTROL_URL": "http://m", "SANDBOX_CONTROL_URL": "http://sb", "TWILIO_API_URL": "http://tw",
      "EVAL_CALLER_BACKEND": "sandbox"}, PERSONA, "persona callers"),
    ({"EVAL_CALLER_BACKEND": "sandbox"}, SCRIPTED, "SANDBOX_CONTROL_URL"),
    ({"SANDBOX_CONTROL_URL": "http://sb", "TWILIO_API_URL": "https://api.twilio.com"}, SCRIPTED, "real API"),
])
def test_no_backend_says_why(monkeypatch, env, scenario, reason):
    from chalicelib.services.eval_caller import CallerUnavailable, RoutedCallers

    with pytest.raises(CallerUnavailable, match=reason):
        RoutedCallers(_settings(monkeypatch, **env)).for_scenario(scenario)


@pytest.fixture
def control(aws, monkeypatch):
    server = FakeControlServer().start()
    _settings(monkeypatch, MEDIA_CONTROL_URL=server.base_url, MEDIA_CONTROL_SECRET="callers-secret",
              MEDIA_WS_URL="wss://media.example.test/twilio/stream", CALL_TOKEN_SECRET="callers-token")
    yield server
    server.stop()


def test_media_callers_write_a_marked_web_call_and_send_the_signed_caller(control, api, org):
    from chalicelib.services.eval_caller import MediaCallers
    from chalicelib.storage.calls import CallRepository
    from chalicelib.storage.orgs import OrgRepository

    agent = make_assistant(api)
    OrgRepository().add_usage(org[0].id, 100, "2026-12")  # spent: test calls are not refused for an empty balance
    call_id = MediaCallers().place(org[0].id, RUN_ID, 0, PERSONA, {"assistant_id": agent["id"]})

    row = CallRepository().get(org[0].id, call_id)
    assert row is not None and row.direction == "web" and row.status == "queued"
    assert row.data["test_run_id"] == RUN_ID and row.data["assistant_id"] == agent["id"]
    [req] = [r for r in control.requests if r.path == f"/calls/{call_id}/caller"]
    assert verify_control("callers-secret", req.headers["x-control-timestamp"], req.body,
                          req.headers["x-control-signature"])
    body = json.loads(req.body)
    assert body["websocket_url"].startswith(f"wss://media.example.test/web/{call_id}?token=")
    assert {k: body[k] for k in ("call_id", "org_id", "instructions", "lines", "max_turns", "voice", "language",
                                 "pace")} == {
        "call_id": call_id, "org_id": org[0].id, "instructions": "Ask to 'book a cleaning'.", "lines": None,
        "max_turns": 4, "voice": "v1", "language": "de-DE", "pace": 1.5}

    scripted = MediaCallers().place(org[0].id, RUN_ID, 1, SCRIPTED, {"assistant_id": agent["id"]})
    [req] = [r for r in control.requests if r.path == f"/calls/{scripted}/caller"]
    assert json.loads(req.body)["lines"] == [
        {"text": "Hi", "pause_ms": 300, "barge_in_after_ms": None, "dtmf": None},
        {"text": "Tuesday", "pause_ms": 300, "barge_in_after_ms": 500, "dtmf": None}]


def test_a_fleet_that_takes_no_caller_fails_the_call_at_once(control, api, org, monkeypatch):
    from chalicelib.services.eval_caller import CallerUnavailable, MediaCallers
    from chalicelib.settings import reset_settings
    from chalicelib.storage.calls import CallRepository
    from sandbox.httpserver import FakeHTTPServer, FakeResponse

    draining = FakeHTTPServer()
    draining.route("POST", r"/calls/(?P<call_id>[^/]+)/caller",
                   lambda req: FakeResponse(503, {"error": "capacity_exceeded", "message": "draining"}))
    draining.start()
    monkeypatch.setenv("MEDIA_CONTROL_URL", draining.base_url)
    reset_settings()
    agent = make_assistant(api)
    try:
        with pytest.raises(CallerUnavailable, match="capacity_exceeded"):
            MediaCallers().place(org[0].id, RUN_ID, 0, PERSONA, {"assistant_id": agent["id"]})
    finally:
        draining.stop()
    [row], _ = CallRepository().list(org[0].id, limit=10)
    assert row.direction == "web" and row.status == "failed" and row.data["end_reason"] == "failed_to_connect"
