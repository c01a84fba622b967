"""Speech-to-speech calls through xAI realtime (mu-law pass-through, tools by function calling)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.media.conftest import upgrades_offering_deflate


@pytest.fixture
def xai(stack, start_xai):
    return start_xai(first_audio_delay_ms=300)


def test_xai_realtime_call(stack, xai):
    cfg = {"first_message": "Hello from Grok.",
           "llm_config": {"provider": "xai_realtime", "voice": "ara",
                          "messages": [{"role": "system", "content": "Grok agent. ref rt"}],
                          "tools": [{"type": "endCall"}]}}
    call_id, token = stack.call(cfg)

    async def scenario():
        c = stack.caller(call_id, token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        end = await c.speak("What can you do?")
        first = await c.wait_agent_turn(end)
        end2 = await c.speak("Okay goodbye.")
        closed = await c.wait_closed(15)
        return c, first, end, closed, end2

    c, first, end, closed, end2 = asyncio.run(scenario())
    assert first is not None
    row = stack.wait_ended(call_id)
    (session,) = xai.sessions
    upd = next(m for m in session.received if m["type"] == "session.update")["session"]
    assert upd["voice"].lower() == "ara"
    assert upd["audio"]["input"]["format"]["type"] == "audio/pcmu"
    assert upd["audio"]["output"]["format"]["type"] == "audio/pcmu"
    assert [t["name"] for t in upd["tools"]] == ["endCall"]
    msgs = [(m["role"], m["content"]) for m in row.data["messages"] if m["role"] in ("user", "assistant")]
    assert ("user", "What can you do?") in msgs
    assert any(r == "assistant" for r, _ in msgs)
    assert closed and row.data["end_reason"] == "assistant_hangup"
    assert upgrades_offering_deflate(xai) == (1, 0)  # base64 audio both ways: no per-frame deflate


def test_xai_realtime_say_control_and_end_after(stack, xai):
    from tests.media.test_e2e_control import control

    cfg = {"first_message": "Hello from Grok.",
           "llm_config": {"provider": "xai_realtime", "voice": "eve",
                          "messages": [{"role": "system", "content": "Grok agent. ref rtsay"}]}}
    call_id, token = stack.call(cfg)
    code = "Your code is four two seven."
    bye = "This call will now end, goodbye."

    async def scenario():
        c = stack.caller(call_id, token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        sent = time.monotonic()
        status, body = await control(stack, call_id, {"type": "say", "content": code})
        assert status == 200 and body["success"] is True
        said = await c.wait_agent_turn(sent, timeout=10)
        sent2 = time.monotonic()
        status, body = await control(stack, call_id, {"type": "say", "content": bye, "end_after": True})
        assert status == 200
        said2 = await c.wait_agent_turn(sent2, timeout=10)
        closed = await c.wait_closed(15)
        return said, said2, closed, sent2

    said, said2, closed, sent2 = asyncio.run(scenario())
    # Agent audio reached the simulated caller after each command.
    assert said is not None and said2 is not None and said2 > sent2
    assert closed
    row = stack.wait_ended(call_id)
    assert row.data["end_reason"] == "control_end_call"
    assistant = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    assert code in assistant and assistant[-1] == bye
    # Spoken by the model on request: response.create carrying the exact text as instructions.
    (session,) = xai.sessions
    asked = [(m.get("response") or {}).get("instructions") or "" for m in session.received
             if m["type"] == "response.create"]
    assert any(f'"{code}"' in a for a in asked) and any(f'"{bye}"' in a for a in asked)
    assert [r["text"] for r in session.responses if r["status"] == "completed"][-2:] == [code, bye]
    # Hung up through Twilio after the goodbye played.
    assert {"Status": "completed"} in stack.twilio_updates(call_id)


def test_xai_realtime_voicemail_message_spoken(stack, xai):
    from tests.media.test_e2e_control import control

    msg = "Please call Acme back."
    cfg = {"first_message": "Hello from Grok.", "voicemail_detection": True, "voicemail_message": msg,
           "llm_config": {"provider": "xai_realtime", "voice": "eve",
                          "messages": [{"role": "system", "content": "Grok agent. ref rtvm"}]}}
    call_id, token = stack.call(cfg)

    async def scenario():
        c = stack.caller(call_id, token)
        await c.connect()
        await asyncio.sleep(0.5)
        held = len(c.log.media)
        sent = time.monotonic()
        status, _ = await control(stack, call_id, {"type": "amd", "answered_by": "machine_end_beep"})
        assert status == 200
        heard = await c.wait_agent_turn(sent, timeout=10)
        return held, heard, await c.wait_closed(15)

    held, heard, closed = asyncio.run(scenario())
    assert held == 0 and heard is not None and closed
    row = stack.wait_ended(call_id)
    assert row.data["end_reason"] == "voicemail"
    assert row.data["summary"] == f"Voicemail detected. Left message: {msg}"
    assert [m["content"] for m in row.data["messages"] if m["role"] == "assistant"] == [msg]
    (session,) = xai.sessions
    assert [r["text"] for r in session.responses] == [msg]  # no greeting, only the message
