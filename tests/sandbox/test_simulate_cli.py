"""media.simulate against the real sandbox (script book, fake Twilio, simulated caller) with a stand-in
API (outbound call -> Twilio dial) and a tiny media server; the CLI's JSON is checked end to end."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from twilio.rest import Client
from websockets.asyncio.server import serve

from media import simulate
from sandbox.httpserver import FakeHTTPServer, FakeRequest, FakeResponse
from sandbox.run import install_answerer, start_sandbox
from sandbox.twilio import FakeTwilio
from tests.sandbox.helpers import TinyMediaServer


class StandInAPI(FakeHTTPServer):
    """POST /api/v1/calls/outbound dials through the fake Twilio; GET /api/v1/calls/{id} reports it ended."""

    def __init__(self, twilio: FakeTwilio, stream_url: str):
        super().__init__()
        self.twilio, self.stream_url = twilio, stream_url
        self.route("POST", "/api/v1/calls/outbound", self._outbound)
        self.route("GET", "/api/v1/calls/(?P<id>[^/]+)", self._get)

    def _outbound(self, req: FakeRequest) -> FakeResponse:
        if req.headers.get("authorization") != "Bearer key-1":
            return FakeResponse(401, {"error": "unauthorized"})
        body = req.json()
        client = Client(self.twilio.account_sid, self.twilio.auth_token)
        client.api.base_url = self.twilio.base_url
        twiml = (f'<Response><Connect><Stream url="{self.stream_url}"><Parameter name="call_id" value="call-sim-1"/>'
                 '</Stream></Connect></Response>')
        call = client.calls.create(to=body["destination"], from_="+15550009999", twiml=twiml)
        threading.Timer(0.05, self.twilio.answer, args=(call.sid,)).start()
        return FakeResponse(200, {"success": True, "call_id": "call-sim-1", "status": "dialing"})

    def _get(self, req: FakeRequest) -> FakeResponse:
        return FakeResponse(200, {"id": req.params["id"], "status": "ended", "end_reason": "customer_hangup",
                                  "messages": [{"role": "assistant", "content": "Hello, how can I help?"},
                                               {"role": "user", "content": "Is the shop open?"},
                                               {"role": "assistant", "content": "Sure, one moment please."}]})


@pytest.fixture
def sandbox(registry):
    sb = start_sandbox(registry=registry)
    yield sb
    sb.stop()


async def test_cli_prints_turns_json(sandbox, capsys, monkeypatch):
    monkeypatch.setenv("DEV_STATE_DIR", "/nonexistent")
    for name in ("BASE_URL", "API_KEY", "SANDBOX_CONTROL_URL"):
        monkeypatch.delenv(name, raising=False)
    media = TinyMediaServer()
    async with serve(media.handler, "127.0.0.1", 0) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/twilio/stream"
        with FakeTwilio() as tw, StandInAPI(tw, url) as api:
            install_answerer(tw, sandbox, agent_quiet_ms=400)
            env = {"BASE_URL": api.base_url + "/api/v1", "API_KEY": "key-1",
                   "SANDBOX_CONTROL_URL": sandbox.control.url, "DEV_STATE_DIR": "/nonexistent"}
            code = await asyncio.to_thread(
                simulate.main, ["--assistant-id", "a1", "--say", "Is the shop open?", "--json", "--to", "+15551230000"])
            assert code == 1  # no config in this process's environment
            cfg = simulate.load_config(env)
            out = await asyncio.to_thread(simulate.simulate, "a1", ["Is the shop open?"], to="+15551230000",
                                          config=cfg, timeout_s=30)
    assert out["call_id"] == "call-sim-1" and out["end_reason"] == "customer_hangup"
    assert out["greeting"] == "Hello, how can I help?"
    (turn,) = out["turns"]
    assert turn["caller"] == "Is the shop open?" and turn["agent"] == "Sure, one moment please."
    assert 200 <= turn["voice_to_voice_ms"] <= 1500
    assert json.loads(json.dumps(out)) == out
    assert "simulate:" in capsys.readouterr().err


def test_agent_texts_groups_replies_by_user_turn():
    greeting, replies = simulate.agent_texts([
        {"role": "assistant", "content": "Hi."}, {"role": "user", "content": "a"},
        {"role": "assistant", "content": "One."}, {"role": "assistant", "content": "Two."},
        {"role": "user", "content": "b"}])
    assert greeting == "Hi." and replies == ["One. Two.", ""]
