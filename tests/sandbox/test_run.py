"""The sandbox set: env for the media service, and the fake Twilio answering with a simulated caller."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
from twilio.rest import Client
from websockets.asyncio.server import serve

from sandbox.run import install_answerer, registry_from_env, start_sandbox
from sandbox.twilio import FakeTwilio
from tests.sandbox.helpers import TinyMediaServer


def _status(req: urllib.request.Request) -> int:
    with urllib.request.urlopen(req) as resp:
        return resp.status


def _json(url: str) -> dict:
    with urllib.request.urlopen(url) as resp:
        return json.loads(resp.read())


@pytest.fixture
def sandbox(registry):
    sb = start_sandbox(registry=registry)
    yield sb
    sb.stop()


def test_env_points_at_running_fakes(sandbox, monkeypatch):
    env = sandbox.env()
    assert env["DEEPGRAM_URL"].startswith("ws://127.0.0.1:") and env["OPENAI_BASE_URL"].endswith("/v1")
    assert env["ELEVENLABS_URL"] == sandbox.elevenlabs.url and env["XAI_URL"] == sandbox.xai.url
    assert {"DEEPGRAM_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY", "XAI_API_KEY"} <= set(env)
    # voices work on the ElevenLabs URL with the sandbox key
    req = urllib.request.Request(env["ELEVENLABS_URL"] + "/v1/voices",
                                 headers={"xi-api-key": env["ELEVENLABS_API_KEY"]})
    with urllib.request.urlopen(req) as resp:
        assert json.loads(resp.read())["voices"]
    # a caller in another process registers through the fakes' HTTP endpoints
    monkeypatch.setenv("SANDBOX_REGISTRY_URLS", env["SANDBOX_REGISTRY_URLS"])
    registry_from_env().register("call-remote", ["over http"])
    registry_from_env().register("call-remote", ["and again"], append=True)
    assert sandbox.registry.get("call-remote").utterances == ["over http", "and again"]


async def test_fake_twilio_answers_with_scripted_simulated_caller(sandbox, monkeypatch):
    media = TinyMediaServer()
    async with serve(media.handler, "127.0.0.1", 0) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/twilio/stream"
        tw = FakeTwilio().start()
        try:
            install_answerer(tw, sandbox, agent_quiet_ms=400)
            body = json.dumps({"to": "+15550001111", "lines": ["Hello, is this the bakery?",
                                                               {"text": "Bye.", "pause_ms": 100}]}).encode()
            req = urllib.request.Request(sandbox.control.url + "/sandbox/scripts", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            assert await asyncio.to_thread(_status, req) == 201
            client = Client(tw.account_sid, tw.auth_token)
            client.api.base_url = tw.base_url
            twiml = (f'<Response><Connect><Stream url="{url}"><Parameter name="call_id" value="call-77"/>'
                     '</Stream></Connect></Response>')
            call = await asyncio.to_thread(client.calls.create, to="+15550001111", from_="+15550002222", twiml=twiml)
            assert call.sid is not None
            await asyncio.to_thread(tw.answer, call.sid)
            deadline = time.monotonic() + 30
            result = None
            while time.monotonic() < deadline and result is None:
                result = sandbox.book.find(to="+15550001111")
                await asyncio.sleep(0.1)
        finally:
            tw.stop()
    assert result is not None, "the simulated caller did not finish"
    assert result["call_id"] == "call-77" and result["call_sid"] == call.sid
    assert [t["caller"] for t in result["turns"]] == ["Hello, is this the bakery?", "Bye."]
    assert result["end_reason"] == "caller_hangup"
    assert "x-twilio-signature" in media.headers
    assert sandbox.registry.get("call-77").utterances == ["Hello, is this the bakery?", "Bye."]
    results = await asyncio.to_thread(_json, sandbox.control.url + "/sandbox/results?call_id=call-77")
    assert results["turns"][0]["voice_to_voice_ms"] > 0


def test_devstack_component_starts_sandbox_and_answers(monkeypatch, tmp_path, restore_environ):
    from devstack.platform import sandbox_component
    from devstack.stack import Stack
    from sandbox.run import SANDBOX_KEYS

    for name in [*SANDBOX_KEYS, "DEEPGRAM_URL", "OPENAI_BASE_URL", "ELEVENLABS_URL", "XAI_URL",
                 "SANDBOX_CONTROL_URL", "SANDBOX_REGISTRY_URLS"]:
        monkeypatch.delenv(name, raising=False)  # what the component sets is undone by restore_environ
    stack = Stack(state_dir=tmp_path)
    with FakeTwilio() as tw:
        stack.values["fake_twilio"] = tw
        component = sandbox_component()
        component.start(stack)
        try:
            sb = stack.values["sandbox"]
            import os

            assert os.environ["DEEPGRAM_URL"] == sb.deepgram.ws_url
            assert stack.dev_env["SANDBOX_CONTROL_URL"] == sb.control.url
            assert tw.on_answer is not None
        finally:
            assert component.stop is not None
            component.stop(stack)
    assert "sandbox" not in stack.values


async def test_rest_hangup_ends_the_simulated_callers_stream(sandbox):
    """Status=completed through the fake Twilio REST API -> the stream gets ``stop`` and closes."""
    media = TinyMediaServer()
    media.greeting = "Hello, this is a long greeting so the call is still running when it is hung up."
    async with serve(media.handler, "127.0.0.1", 0) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/twilio/stream"
        with FakeTwilio() as tw:
            install_answerer(tw, sandbox, agent_quiet_ms=400, default_script=["one", "two", "three"])
            client = Client(tw.account_sid, tw.auth_token)
            client.api.base_url = tw.base_url
            call = await asyncio.to_thread(
                client.calls.create, to="+15550003333", from_="+15550002222",
                twiml=f'<Response><Connect><Stream url="{url}"/></Connect></Response>')
            assert call.sid is not None
            await asyncio.to_thread(tw.answer, call.sid)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(client.calls(call.sid).update, status="completed")
            deadline = time.monotonic() + 10
            result = None
            while time.monotonic() < deadline and result is None:
                result = sandbox.book.find(to="+15550003333")
                await asyncio.sleep(0.05)
    assert result is not None and result["end_reason"] == "call_updated"
    assert result["duration_s"] < 3 and media.received[-1]["event"] == "stop"


def test_script_with_an_unknown_mark_is_refused_with_400(sandbox):
    body = json.dumps({"to": "+15550003333", "lines": ["one <paus 800ms> two"]}).encode()
    req = urllib.request.Request(sandbox.control.url + "/sandbox/scripts", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 400
    assert json.loads(err.value.read())["error"] == "invalid_request"
    assert sandbox.book.take("+15550003333") is None


def test_profiles_set_every_fakes_delays(registry):
    from sandbox.profiles import INSTANT, profile

    sb = start_sandbox(registry=registry, profile=INSTANT)
    try:
        assert sb.deepgram.final_delay_ms == 0 and sb.deepgram.recognition_lag_ms == 0
        assert sb.openai.first_token_delay_ms == 0 and sb.elevenlabs.first_byte_delay_ms == 0
    finally:
        sb.stop()
    assert profile("reference").stt_recognition_lag_ms == 300
    with pytest.raises(ValueError, match="known: reference, instant"):
        profile("fast")
