"""Caller speech over the agent, through the simulated caller: hold on voice, confirm on words, resume.

The agent's audio is held (no more media messages) as soon as the caller has voiced for
``voice_seconds``; words that interrupt then cancel the reply with Twilio ``clear``; a backchannel or a
sound without words lets the held reply go on where it stopped.
"""

from __future__ import annotations

import asyncio

from sandbox import audio

from .test_e2e_conversation import LONG, base_config

ASK = "What are your opening hours?"


async def _into_long_reply(c) -> float:
    """Ask for the long reply; returns when its first audio arrived, 1.5 s into it."""
    await c.connect()
    await c.wait_agent_turn(c.log.started_at, timeout=10)
    end = await c.speak(ASK)
    while c.first_audio_after(end) is None:
        await asyncio.sleep(0.02)
    first = c.first_audio_after(end)
    await asyncio.sleep(max(0.0, first + 1.5 - asyncio.get_running_loop().time()))
    return first


def _reply_audio_seconds(c, since: float) -> float:
    return sum(r.nbytes for r in c.audio_after(since)) / 8000


def test_a_real_interruption_stops_the_agent_before_the_clear_and_is_answered(stack):
    stack.openai.add_rule(call_id="ref interrupt", contains="hours", text=LONG)
    stack.openai.add_rule(call_id="ref interrupt", contains="change", text="Of course, what would you like to change?")
    call_id, token = stack.call(base_config("interrupt"))

    async def scenario():
        c = stack.caller(call_id, token)
        reply_at = await _into_long_reply(c)
        cut = await c.speak("Wait, wait, I need to change that.")
        await c.wait_agent_turn(cut, quiet=1.0)
        await c.hang_up()
        return c, reply_at

    c, reply_at = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    assert len(c.log.clears) == 1, "one clear, for the confirmed interruption"
    # The agent's audio had stopped reaching the caller before the words confirmed it (the hold).
    assert c.log.heard_until[0] < c.log.clears[0]
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    users = [m["content"] for m in row.data["messages"] if m["role"] == "user"]
    assert users == [ASK, "Wait, wait, I need to change that."]
    assert said[-1] == "Of course, what would you like to change?"
    partial = said[-2]
    assert partial != LONG and LONG.startswith(partial.rstrip(". ")[:20]), said
    # Stored: the share of the reply the caller heard (up to the hold, not up to the clear).
    heard = (c.log.heard_until[0] - reply_at) / (audio.duration_ms(audio.speak(LONG)) / 1000)
    assert abs(len(partial) / len(LONG) - heard) < 0.1, (heard, partial)
    assert row.data["latency"]["turns"][0]["interrupted"] is True
    assert row.data["latency"]["interruptions"] == {"held": 1, "resumed_after_backchannel": 0,
                                                    "resumed_without_words": 0, "cut": 1}


def test_a_sound_without_words_pauses_the_agent_which_then_goes_on(stack):
    stack.openai.add_rule(call_id="ref cough", contains="hours", text=LONG)
    call_id, token = stack.call(base_config("cough"))

    async def scenario():
        c = stack.caller(call_id, token)
        reply_at = await _into_long_reply(c)
        sound_end = await c.speak("<noise 400ms>")
        await c.wait_agent_turn(reply_at, quiet=2.0, timeout=30)  # longer than a hold (backoff_seconds)
        await c.hang_up()
        return c, reply_at, sound_end

    c, reply_at, sound_end = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    assert not c.log.clears
    # The agent paused (held its audio) around the sound, then went on: one gap, and all of the reply arrived.
    assert row.data["latency"]["interruptions"] == {"held": 1, "resumed_after_backchannel": 0,
                                                    "resumed_without_words": 1, "cut": 0}, c.log.gaps
    assert [gap for gap in c.log.gaps if reply_at < gap[0] and gap[1] > sound_end - 0.4], c.log.gaps
    assert _reply_audio_seconds(c, reply_at) >= audio.duration_ms(audio.speak(LONG)) / 1000 * 0.97
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    assert said[-1] == LONG
    assert [m["content"] for m in row.data["messages"] if m["role"] == "user"] == [ASK]
    assert row.data["latency"]["turns"][0]["interrupted"] is False


def test_a_backchannel_resumes_the_held_reply_without_a_clear(stack):
    stack.openai.add_rule(call_id="ref yeah", contains="hours", text=LONG)
    call_id, token = stack.call(base_config("yeah"))

    async def scenario():
        c = stack.caller(call_id, token)
        reply_at = await _into_long_reply(c)
        await c.speak("yeah")
        await asyncio.sleep(1.0)
        await c.speak("Okay.")
        await c.wait_agent_turn(reply_at, quiet=2.0, timeout=30)  # longer than a hold (backoff_seconds)
        await c.hang_up()
        return c, reply_at

    c, reply_at = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    assert not c.log.clears
    assert _reply_audio_seconds(c, reply_at) >= audio.duration_ms(audio.speak(LONG)) / 1000 * 0.97
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    assert said[-1] == LONG
    assert [m["content"] for m in row.data["messages"] if m["role"] == "user"] == [ASK]
    assert row.data.get("backchannels") == ["yeah", "Okay."]
    assert row.data["latency"]["interruptions"] == {"held": 2, "resumed_after_backchannel": 2,
                                                    "resumed_without_words": 0, "cut": 0}
