"""Control commands, transfer, silence, max duration, voicemail, provider failure, stream auth."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from chalicelib.models.media import MEDIA_CONTRACT_VERSION, PrepareCall
from chalicelib.security import sign_control
from sandbox.openai_llm import ToolCall
from tests.media.conftest import ORG, OTHER_ORG


def cfg(marker: str, first: str | None = "Hi, Acme here.", **top) -> dict:
    llm = top.pop("llm", {})
    return {
        "first_message": first,
        "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
        "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                       "messages": [{"role": "system", "content": f"Acme agent. ref {marker}"}], **llm},
        "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"}, **top,
    }


async def control(stack, call_id: str, command: dict, *, secret: str = "test-control-secret",
                  path: str = "control") -> tuple[int, dict]:
    """POST a signed control-plane message to the media server (the contract of chalicelib.models.media).

    ``path="prepare"`` sends a PrepareCall for ``command["org_id"]``; otherwise ``command`` is wrapped in
    a CommandEnvelope for ``command.get("org_id", ORG)``.
    """
    command = dict(command)
    org_id = command.pop("org_id", ORG)
    if path == "prepare":
        message = PrepareCall(call_id=call_id, org_id=org_id).model_dump(mode="json")
    else:
        message = {"version": MEDIA_CONTRACT_VERSION, "call_id": call_id, "org_id": org_id, "command": command}
    body = json.dumps(message).encode()
    ts = str(int(time.time()))
    headers = {"X-Control-Timestamp": ts, "X-Control-Signature": sign_control(secret, ts, body),
               "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.media.http_url}/calls/{call_id}/{path}", data=body, headers=headers) as resp:
        return resp.status, await resp.json()


def test_control_commands_and_transfer(stack):
    stack.openai.add_rule(call_id="ref ctl", contains="", text="Noted.")
    a_id, a_token = stack.call(cfg("ctl"))
    b_id, b_token = stack.call(cfg("xfer"))

    async def call_a():
        c = stack.caller(a_id, a_token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        # auth and routing
        assert (await control(stack, a_id, {"type": "say", "content": "x", "end_after": False},
                              secret="wrong"))[0] == 401
        assert (await control(stack, "no-such-call", {"type": "end-call"}))[0] == 404
        assert (await control(stack, a_id, {"type": "end-call", "org_id": OTHER_ORG}))[0] == 404
        t = time.monotonic()
        status, body = await control(stack, a_id, {"type": "say", "content": "Your code is one two three four.",
                                                   "end_after": False})
        assert (status, body) == (200, {"success": True, "message": "Command sent successfully"})
        said_at = await c.wait_agent_turn(t)
        status, _ = await control(stack, a_id, {"type": "inject-context",
                                                "content": "The caller's account is premium.",
                                                "trigger_response": True})
        assert status == 200
        t2 = time.monotonic()
        await c.wait_agent_turn(t2)
        await control(stack, a_id, {"type": "end-call", "message": "Goodbye from the supervisor."})
        assert await c.wait_closed(15)
        return c, said_at - t

    async def call_b():
        c = stack.caller(b_id, b_token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        status, _ = await control(stack, b_id, {"type": "transfer", "destination": "+31612345678",
                                                "message": "Transferring you now."})
        assert status == 200
        assert await c.wait_closed(15)
        return c

    async def both():
        return await asyncio.gather(call_a(), call_b())

    (ca, say_latency), cb = asyncio.run(both())
    row = stack.wait_ended(a_id)
    assert row.data["end_reason"] == "control_end_call"
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    assert "Your code is one two three four." in said
    assert said[-1] == "Goodbye from the supervisor."
    assert said[2].startswith("Got it")  # the injected context triggered an immediate reply
    request = stack.openai.completions[-1].body if hasattr(stack.openai.completions[-1], "body") else None
    bodies = [getattr(r, "body", None) or getattr(r, "request", None) for r in stack.openai.completions]
    assert any("The caller's account is premium." in json.dumps(b) for b in bodies), request
    assert {"Status": "completed"} in stack.twilio_updates(a_id)
    assert say_latency < 1.0

    row = stack.wait_ended(b_id)
    assert row.data["end_reason"] == "transferred"
    (update,) = stack.twilio_updates(b_id)
    assert "<Dial" in update["Twiml"] and "<Number>+31612345678</Number>" in update["Twiml"]
    assert "Transferring you now." in [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]


def test_transfer_tool_silence_and_max_duration(stack):
    tools = [{"type": "transferCall", "destinations": [
        {"type": "number", "number": "+31201234567", "description": "billing",
         "message": "Connecting you to billing."}]}]
    stack.openai.add_rule(call_id="ref tt", contains="billing",
                          tool_calls=[ToolCall("transferCall", {"destination": "+31201234567"})])
    t_id, t_token = stack.call(cfg("tt", llm={"tools": tools}))
    s_id, s_token = stack.call(cfg("sil", autonomous_silence_handling=True, silence_timeout_seconds=1))
    m_id, m_token = stack.call(cfg("max", max_duration_seconds=3))

    async def transfer_tool():
        c = stack.caller(t_id, t_token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        await c.speak("I need billing please.")
        assert await c.wait_closed(20)

    async def silent():
        c = stack.caller(s_id, s_token)
        await c.connect()
        assert await c.wait_closed(40)

    async def long_call():
        c = stack.caller(m_id, m_token)
        await c.connect()
        assert await c.wait_closed(20)

    async def all_calls():
        await asyncio.gather(transfer_tool(), silent(), long_call())

    asyncio.run(all_calls())
    row = stack.wait_ended(t_id)
    assert row.data["end_reason"] == "transferred"
    (update,) = stack.twilio_updates(t_id)
    assert "<Number>+31201234567</Number>" in update["Twiml"]
    assert "Connecting you to billing." in stack.tts_texts()

    row = stack.wait_ended(s_id)
    assert row.data["end_reason"] == "silence_timeout"
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    assert sum(1 for s in said if "there" in s or "hear me" in s or "with me" in s) == 3
    assert said[-1] == "Thank you for calling. Goodbye!"

    row = stack.wait_ended(m_id)
    assert row.data["end_reason"] == "max_duration"
    assert 3 <= row.data["duration_seconds"] < 12


VOICEMAIL_GREETING = "Hi you have reached Jan. Please leave a message after the beep."


def test_voicemail_by_transcript_and_by_amd(stack):
    a_id, a_token = stack.call(cfg("vm1", voicemail_detection=True, voicemail_message="Please call Acme back."))
    b_id, b_token = stack.call(cfg("vm2", voicemail_detection=True, voicemail_message=None))
    h_id, h_token = stack.call(cfg("vm3", voicemail_detection=True, voicemail_message="Please call back."))

    async def by_transcript():
        c = stack.caller(a_id, a_token)
        await c.connect()
        await asyncio.sleep(0.3)
        heard_before = len(c.log.media)
        await c.speak(VOICEMAIL_GREETING)
        assert await c.wait_closed(20)
        return heard_before

    async def by_amd():
        c = stack.caller(b_id, b_token)
        await c.connect()
        await asyncio.sleep(0.5)
        status, _ = await control(stack, b_id, {"type": "amd", "answered_by": "machine_end_beep"})
        assert status == 200
        assert await c.wait_closed(10)
        return len(c.log.media)

    async def human():
        c = stack.caller(h_id, h_token)
        await c.connect()
        await asyncio.sleep(0.3)
        assert not c.log.media  # agent speech is held while undecided
        end = await c.speak("Hello, who is this?")
        first = await c.wait_agent_turn(end)
        await c.hang_up()
        return first

    async def all_calls():
        return await asyncio.gather(by_transcript(), by_amd(), human())

    heard_before, amd_media, human_first = asyncio.run(all_calls())
    assert heard_before == 0
    row = stack.wait_ended(a_id)
    assert row.data["end_reason"] == "voicemail"
    assert row.data["summary"] == "Voicemail detected. Left message: Please call Acme back."
    assert "Please call Acme back." in stack.tts_texts()
    assert "Hi, Acme here." not in [m["content"] for m in row.data["messages"]]

    row = stack.wait_ended(b_id)
    assert row.data["end_reason"] == "voicemail" and amd_media == 0
    assert row.data["summary"] == "Voicemail detected."

    row = stack.wait_ended(h_id)
    assert human_first is not None
    assert row.data["end_reason"] == "customer_hangup"
    assert row.data["messages"][0] == {"role": "user", "content": "Hello, who is this?"}
    assert row.data["messages"][1] == {"role": "assistant", "content": "Hi, Acme here."}


def test_amd_verdict_that_reached_another_media_task(stack):
    # Twilio's verdict came before the stream and went to another task of the pool: only the row has it.
    from chalicelib.storage.calls import CallRepository

    call_id, token = stack.call(cfg("vm4", voicemail_detection=True, voicemail_message=None))
    CallRepository().update_data("11111111-1111-4111-8111-111111111111", call_id,
                                 {"answered_by": "machine_end_beep"})

    async def scenario():
        c = stack.caller(call_id, token)
        await c.connect()
        assert await c.wait_closed(10)
        return len(c.log.media)

    assert asyncio.run(scenario()) == 0  # nothing spoken to the machine
    row = stack.wait_ended(call_id)
    assert row.data["end_reason"] == "voicemail" and row.data["amd_source"] == "amd"
    assert {"Status": "completed"} in stack.twilio_updates(call_id)


def test_bad_token_and_provider_failure(stack):
    good_id, _ = stack.call(cfg("bad"))
    fail_id, fail_token = stack.call(cfg("fail"))
    stack.openai.add_rule(call_id="ref fail", contains="crash", status=500)

    async def bad_token():
        from sandbox.measuring_caller import TestCaller

        c = TestCaller(stack.media.ws_url, call_id=good_id, org_id="11111111-1111-4111-8111-111111111111",
                       token="9999999999.deadbeef")
        await c.connect()
        assert await c.wait_closed(5)
        return c

    async def failing():
        c = stack.caller(fail_id, fail_token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        await c.speak("Please crash now.")
        return await c.wait_closed(20)

    async def both():
        return await asyncio.gather(bad_token(), failing())

    c, closed = asyncio.run(both())
    assert not c.log.media
    row = stack.row(good_id)
    assert row.status == "queued" and "control_url" not in row.data
    assert closed
    row = stack.wait_ended(fail_id)
    assert row.data["end_reason"] == "provider_error" and "OpenAILLMService" in (row.data.get("error") or "")
