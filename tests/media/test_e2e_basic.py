"""Wire-level calls through the media service with protocol fakes and a measuring Twilio caller."""

from __future__ import annotations

import asyncio

from tests.media.conftest import upgrades_offering_deflate

ASSISTANT = {
    "first_message": "Hello, this is Acme support. How can I help?",
    "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                   "messages": [{"role": "system", "content": "You are Acme's phone agent."}]},
    "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"},
}


def test_greeting_turns_hangup_transcript_latency(stack):
    stack.openai.add_rule(contains="order", text="Sure, your order ships tomorrow.")
    stack.openai.add_rule(contains="thanks", text="You're welcome. Anything else?")
    call_id, token = stack.call(ASSISTANT)

    async def scenario():
        c = stack.caller(call_id, token)
        await c.connect()
        greet = await c.wait_agent_turn(c.log.started_at, timeout=10)
        assert greet is not None
        end1 = await c.speak("Where is my order?")
        first1 = await c.wait_agent_turn(end1)
        end2 = await c.speak("That is great thanks.")
        first2 = await c.wait_agent_turn(end2)
        await c.hang_up()
        return c, greet, end1, first1, end2, first2

    c, greet, end1, first1, end2, first2 = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    assert row.data["end_reason"] == "customer_hangup"
    msgs = [(m["role"], m["content"]) for m in row.data["messages"]]
    assert msgs[0] == ("assistant", ASSISTANT["first_message"])
    assert ("user", "Where is my order?") in msgs
    assert ("assistant", "Sure, your order ships tomorrow.") in msgs
    assert ("user", "That is great thanks.") in msgs
    lat = row.data["latency"]
    assert len(lat["turns"]) == 2
    # Neither provider socket offers permessage-deflate (PCM and base64 audio barely compress).
    upgrades, deflate = upgrades_offering_deflate(stack.deepgram, stack.tts)
    assert upgrades == 2 and deflate == 0
    assert all(t["voice_to_voice_ms"] for t in lat["turns"])
    print("greeting", round((greet - c.log.started_at) * 1000), "v2v", round((first1 - end1) * 1000),
          round((first2 - end2) * 1000), lat)


def test_ring_time_prepare_greets_within_100ms(stack):
    from tests.media.test_e2e_control import control

    call_id, token = stack.call(ASSISTANT)
    other_id, _ = stack.call(ASSISTANT)

    async def scenario():
        status, body = await control(stack, call_id, {"org_id": "11111111-1111-4111-8111-111111111111"},
                                     path="prepare")
        assert status == 202 and body["success"] is True
        bad, _ = await control(stack, other_id, {"org_id": "x"}, path="prepare", secret="nope")
        assert bad == 401
        for _ in range(100):
            if call_id in stack.media.media.prepared:
                break
            await asyncio.sleep(0.05)
        c = stack.caller(call_id, token)
        await c.connect()
        first = await c.wait_agent_turn(c.log.started_at, timeout=10)
        await c.hang_up()
        return c, first

    c, first = asyncio.run(scenario())
    assert (first - c.log.started_at) < 0.1, f"greeting after {first - c.log.started_at:.3f}s"
    row = stack.wait_ended(call_id)
    assert row.data["messages"][0] == {"role": "assistant", "content": ASSISTANT["first_message"]}
    assert row.data["latency"]["greeting_ms"] < 100
