"""How a caller's turn ends, through the simulated caller: pauses inside a line, backchannel spellings."""

from __future__ import annotations

import asyncio

from sandbox import audio
from sandbox.registry import REGISTRY

from .test_e2e_conversation import LONG, base_config

FIRST_HALF = "My number is zero six, one two"
SECOND_HALF = "three four, five six seven eight."


def test_a_pause_mid_number_gets_no_reply_until_the_caller_finishes(stack):
    # Deepgram's fake finalizes each half 150 ms after it ends (speech_final), as a short endpointing
    # would: only the turn decision keeps the agent from answering "... one two" into the pause.
    stack.openai.add_rule(call_id="ref pause", contains="eight", text="Thanks, I have noted your number.")
    call_id, token = stack.call(base_config("pause"))

    async def scenario():
        c = stack.caller(call_id, token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        # One line with an 800 ms silence inside it (the STT fake hears two utterances).
        before = len(c.log.speech_ends)
        c.say(FIRST_HALF, audio=audio.speak(FIRST_HALF) + audio.silence(800) + audio.speak(SECOND_HALF))
        REGISTRY.register(call_id, [SECOND_HALF], append=True)
        while len(c.log.speech_ends) == before:  # the speech-end mark follows the line's last voiced frame
            await asyncio.sleep(0.02)
        first_end = c.log.speech_ends[-1]
        await c.wait_agent_turn(first_end, quiet=1.0)
        await c.hang_up()
        return c, first_end

    c, line_end = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    users = [m["content"] for m in row.data["messages"] if m["role"] == "user"]
    assert users == [f"{FIRST_HALF} {SECOND_HALF}"]
    assert said[1:] == ["Thanks, I have noted your number."]
    # No agent audio between the first half and the end of the whole line (the pause was not answered).
    first_half_end = line_end - (audio.duration_ms(audio.speak(SECOND_HALF)) + 800) / 1000
    reply = c.first_audio_after(first_half_end)
    assert reply is not None and reply >= line_end
    assert not c.log.clears


def test_mm_hmm_spelled_any_way_during_agent_speech_does_not_stop_it(stack):
    stack.openai.add_rule(call_id="ref mmhmm", contains="hours", text=LONG)
    call_id, token = stack.call(base_config("mmhmm"))

    async def scenario():
        c = stack.caller(call_id, token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        end = await c.speak("What are your opening hours?")
        while c.first_audio_after(end) is None:
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.5)
        await c.speak("Mm-hmm.")
        await asyncio.sleep(1.0)
        await c.speak("uh huh")
        await c.wait_agent_turn(end, quiet=1.0, timeout=25)
        await c.hang_up()
        return c

    c = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    assert not c.log.clears
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    assert LONG in said
    assert [m["content"] for m in row.data["messages"] if m["role"] == "user"] == ["What are your opening hours?"]
    assert row.data.get("backchannels") == ["Mm-hmm.", "uh huh"]
