"""Barge-in, backchannels, DTMF, tools and the end-call built-in, on the wire."""

from __future__ import annotations

import asyncio
import json

from sandbox.openai_llm import ToolCall

LONG = ("Our store opens at nine in the morning and closes at six in the evening on weekdays, "
        "on Saturdays we open at ten and close at four, and on Sundays we are closed all day. "
        "You can also visit our website for holiday hours and special events.")


def base_config(marker: str, **extra) -> dict:
    return {
        "first_message": "Hi, Acme here.",
        "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
        "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                       "messages": [{"role": "system", "content": f"Acme agent. ref {marker}"}], **extra},
        "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"},
    }


def test_barge_in_clears_and_truncates_and_backchannel_does_not(stack):
    stack.openai.add_rule(call_id="ref bargein", contains="hours", text=LONG)
    stack.openai.add_rule(call_id="ref bargein", contains="stop", text="Sure, what do you need?")
    stack.openai.add_rule(call_id="ref backch", contains="hours", text=LONG)
    barge_id, barge_token = stack.call(base_config("bargein"))
    back_id, back_token = stack.call(base_config("backch"))

    async def barge():
        c = stack.caller(barge_id, barge_token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        end = await c.speak("What are your opening hours?")
        while c.first_audio_after(end) is None:
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.5)
        cut = await c.speak("Stop, stop, I have another question.")
        await c.wait_agent_turn(cut)
        await c.hang_up()
        return c, c.first_audio_after(end)

    async def backchannel():
        c = stack.caller(back_id, back_token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        end = await c.speak("What are your opening hours?")
        while c.first_audio_after(end) is None:
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.5)
        await c.speak("mhm")
        await c.wait_agent_turn(end, quiet=1.0, timeout=25)
        await c.hang_up()
        return c

    async def both():
        return await asyncio.gather(barge(), backchannel())

    (c_barge, reply_at), c_back = asyncio.run(both())
    row = stack.wait_ended(barge_id)
    assert c_barge.log.clears, "Twilio clear was sent on barge-in"
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    partial = [s for s in said if s != LONG and LONG.startswith(s.rstrip(". ")[:20])]
    assert partial and len(partial[0]) < len(LONG) * 0.8, said
    # The stored share of the reply is the share the caller heard: the caller played the reply in real
    # time from its first frame until its audio stopped (held on the caller's voice, then cleared), and
    # espeak speaks at a near-constant rate.
    from sandbox import audio

    heard = (c_barge.log.heard_until[0] - reply_at) / (audio.duration_ms(audio.speak(LONG)) / 1000)
    stored = len(partial[0]) / len(LONG)
    assert abs(stored - heard) < 0.1, (heard, stored, partial[0])
    assert LONG not in said
    assert "Sure, what do you need?" in said
    assert row.data["latency"]["turns"][0]["interrupted"] is True

    row = stack.wait_ended(back_id)
    assert not c_back.log.clears
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    assert LONG in said
    users = [m["content"] for m in row.data["messages"] if m["role"] == "user"]
    assert users == ["What are your opening hours?"]
    assert row.data.get("backchannels") == ["mhm"] or "mhm" in str(row.data)


def test_tools_sync_slow_async_dtmf_and_end_call(stack):
    hooks = stack.hooks
    hooks.replies["lookup"] = (0.0, {"results": [{"tool_call_id": "x", "result": "sunny"}]})
    hooks.replies["slowlookup"] = (1.8, {"result": "order 42 shipped"})
    hooks.replies["notify"] = (0.0, {"result": "queued"})
    tools = [
        {"type": "function", "name": "lookup", "description": "weather",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"type": "function", "name": "slowlookup", "description": "orders", "url": hooks.url("slowlookup")},
        {"type": "function", "name": "notify", "description": "notify", "url": hooks.url("notify"),
         "async": True, "async_response": "I have sent that request."},
        {"type": "endCall", "message": "Thanks for calling Acme, bye now."},
    ]
    cfg = base_config("tools", tools=tools)
    cfg["webhook_url"] = hooks.url("lookup")
    stack.openai.add_rule(call_id="ref tools", contains="weather", tool_calls=[ToolCall("lookup", {"city": "Paris"})])
    stack.openai.add_rule(call_id="ref tools", contains="order", tool_calls=[ToolCall("slowlookup", {})])
    stack.openai.add_rule(call_id="ref tools", contains="notify", tool_calls=[ToolCall("notify", {"who": "me"})])
    call_id, token = stack.call(cfg, metadata={"crm_id": "7"})

    async def scenario():
        c = stack.caller(call_id, token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        # The slow tool's answer comes ~1.2 s after its filler ends: wait longer than that before speaking on.
        for line, quiet in (("What is the weather in Paris?", 1.0), ("Where is my order?", 2.0),
                            ("Please notify me.", 1.0)):
            end = await c.speak(line)
            await c.wait_agent_turn(end, quiet=quiet)
        for digit in "42#":
            await c.dtmf(digit)
        await c.wait_agent_turn(c.log.media[-1].at + 0.01, quiet=1.0)
        end = await c.speak("Okay goodbye.")
        await c.wait_closed(15)
        return c, end

    c, end = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    assert row.data["end_reason"] == "assistant_hangup"
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    assert 'Okay, done: "sunny"' in said
    assert 'Okay, done: "order 42 shipped"' in said
    assert "I have sent that request." in said
    assert said[-1] == "Thanks for calling Acme, bye now."
    assert row.data.get("fillers"), "a filler was spoken while the slow tool ran"
    assert any(f in stack.tts_texts() for f in row.data["fillers"])
    users = [m["content"] for m in row.data["messages"] if m["role"] == "user"]
    assert any("42#" in u for u in users)  # DTMF reached the LLM as text
    # The tool-calls webhook: signed envelope with arguments as an object and the call's metadata
    (body,) = hooks.bodies("lookup")
    msg = body["message"]
    assert msg["type"] == "tool-calls" and msg["call"]["id"] == call_id
    assert msg["tool_call_list"][0]["function"] == {"name": "lookup", "arguments": {"city": "Paris"}}
    assert msg["assistant"]["metadata"] == {"crm_id": "7"}
    assert len(hooks.bodies("notify")) == 1 and len(hooks.bodies("slowlookup")) == 1
    # Hung up through Twilio's REST API after the goodbye played
    assert {"Status": "completed"} in stack.twilio_updates(call_id)


def test_speculative_reply_when_the_turn_model_says_complete(stack):
    # The STT fake honours the requested endpointing (1 s here, as Deepgram does), so the final comes from our Finalize:
    # the brain starts the reply on the words so far when the turn model says "complete" and keeps it
    # when the final transcript says the same.
    stack.openai.add_rule(call_id="ref spec", contains="tuesday", text="Tuesday works for us.")
    stack.openai.add_rule(call_id="ref spec", contains="weekend", text="Weekends are closed.")
    stack.openai.add_rule(call_id="ref spec", contains="parking", text="There is free parking.")
    stack.openai.add_rule(call_id="ref spec", contains="barking", text="WRONG GUESS")
    # Deepgram revises a word between the interim and the final: the guess must be withdrawn.
    stack.deepgram.revisions["Is there parking nearby?"] = "Is there barking nearby?"
    cfg = base_config("spec")
    cfg["stt_config"]["endpointing"] = 1.0
    call_id, token = stack.call(cfg)

    async def scenario():
        c = stack.caller(call_id, token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        for line in ("Tuesday.", "What about the weekend?", "Is there parking nearby?"):
            end = await c.speak(line)
            await c.wait_agent_turn(end)
        await c.hang_up()

    asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    turns = row.data["latency"]["turns"]
    # Whether a turn was guessed on depends on Smart Turn's verdict on espeak audio (usually "complete");
    # what must hold either way: a withdrawn guess is never spoken and never marks the turn speculative.
    assert not turns[2]["speculative"]
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    assert said.count("Tuesday works for us.") == 1 and said.count("Weekends are closed.") == 1
    assert said.count("There is free parking.") == 1 and "WRONG GUESS" not in said
    users = [m["content"] for m in row.data["messages"] if m["role"] == "user"]
    assert users == ["Tuesday.", "What about the weekend?", "Is there parking nearby?"]
    sessions = stack.deepgram.sessions
    assert {s.param("endpointing") for s in sessions} == {"1000"}  # stt_config.endpointing (s) reached Deepgram
    assert any(m.get("type") == "Finalize" for s in sessions for m in s.received_control), "finals asked for"

    def asked(word: str) -> list:
        return [r for r in stack.openai.completions if word in json.dumps(r.body["messages"][-1])]

    assert len(asked("weekend")) == 1  # one request per turn unless a guess is withdrawn
    assert [t["llm_requests"] for t in turns[:2]] == [1, 1]
    # A guess on the revised interim is withdrawn and the turn answered from the final; it is counted.
    assert turns[2]["llm_requests"] == 1 + len(asked("barking"))
    assert all(g.received_at < asked("parking")[0].received_at for g in asked("barking"))
