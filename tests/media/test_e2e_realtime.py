"""Speech-to-speech calls through xAI realtime (mu-law pass-through, tools by function calling)."""

from __future__ import annotations

import asyncio

import pytest

from chalicelib.settings import reset_settings


@pytest.fixture
def xai(stack, monkeypatch):
    from sandbox.registry import REGISTRY
    from sandbox.xai_realtime import FakeXAIRealtime

    REGISTRY.clear()  # the realtime fake pairs a connection with the oldest unclaimed registration

    fake = FakeXAIRealtime(first_audio_delay_ms=300).start()
    monkeypatch.setenv("XAI_URL", fake.url)
    reset_settings()
    yield fake
    fake.stop()


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
