"""SimulatedCaller against a tiny media server: Twilio wire format, mark/clear FIFO, turns and timing."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from websockets.asyncio.server import serve

from sandbox import audio
from sandbox.caller import (
    Line,
    SimulatedCaller,
    answer_call,
    parse_stream_twiml,
    speech_parts,
    twilio_signature,
)
from tests.sandbox.helpers import AGENT, TinyMediaServer


@pytest.fixture
async def media():
    server = TinyMediaServer()
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        server.url = f"ws://127.0.0.1:{port}/twilio/stream"
        yield server


async def test_wire_format_signature_and_turns(media, registry):
    caller = SimulatedCaller(media.url, {"call_id": "call-abc", "token": "t0k"}, ["I need help with my order."],
                             auth_token="secret", signature_url="wss://media.example.com/twilio/stream",
                             registry=registry, agent_quiet_ms=500)
    result = await caller.run()
    assert result.end_reason == "caller_hangup"
    assert media.headers["x-twilio-signature"] == twilio_signature("secret", "wss://media.example.com/twilio/stream")
    msgs = media.received
    assert msgs[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = msgs[1]
    assert start["event"] == "start" and start["sequenceNumber"] == "1"
    assert start["start"]["customParameters"] == {"call_id": "call-abc", "token": "t0k"}
    assert start["start"]["streamSid"] == start["streamSid"] and start["streamSid"].startswith("MZ")
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    seqs = [int(m["sequenceNumber"]) for m in msgs[1:]]
    assert seqs == list(range(1, len(seqs) + 1))
    media_msgs = [m for m in msgs if m["event"] == "media"]
    assert [m["media"]["chunk"] for m in media_msgs[:3]] == ["1", "2", "3"]
    assert [m["media"]["timestamp"] for m in media_msgs[:3]] == ["0", "20", "40"]
    assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in media_msgs)
    assert all(m["media"]["track"] == "inbound" for m in media_msgs)
    assert msgs[-1]["event"] == "stop" and msgs[-1]["stop"]["callSid"] == result.call_sid
    # real-time pacing: ~50 media messages per second of call
    assert abs(len(media_msgs) - result.duration_s * 50) < 0.3 * result.duration_s * 50 + 10
    # the caller's audio is the real speech
    sent = b"".join(base64.b64decode(m["media"]["payload"]) for m in media_msgs)
    assert audio.speak("I need help with my order.") in sent
    # turns
    assert result.greeting.agent_audio_bytes == len(audio.speak("Hello, how can I help?", AGENT))
    (turn,) = result.turns
    assert turn.caller == "I need help with my order."
    assert turn.voice_to_voice_ms is not None and 250 <= turn.voice_to_voice_ms <= 1200, turn.voice_to_voice_ms
    assert turn.agent_audio_bytes == len(audio.speak("Sure, one moment please, let me check that for you.", AGENT))
    assert registry.get("call-abc").utterances == ["I need help with my order."]


async def test_marks_echo_after_playout_and_clear_on_barge_in(media, registry):
    media.greeting = "Thanks for calling the sandbox restaurant, we are open every day from nine until late."
    caller = SimulatedCaller(media.url, {"call_id": "c2"}, [Line("Wait, stop.", barge_in_after_ms=600)],
                             registry=registry, agent_quiet_ms=500)
    result = await caller.run()
    assert result.clears == 1 and result.turns[0].barge_in
    echoes = dict((name, at) for at, name in media.mark_echoes)
    greet_marks = sorted((n for n in media.marks_sent if n.startswith("greet")), key=lambda n: int(n.split(":")[1]))
    assert set(greet_marks) <= set(echoes)  # played or cleared: every mark comes back
    # chunk k's mark echoes when 200 ms * (k + 1) of audio has played (while playing)
    first = greet_marks[0]
    assert 0.17 <= echoes[first] - media.marks_sent[first] <= 0.8
    # the marks after the clear came back together, right when the clear arrived
    cleared = [echoes[n] for n in greet_marks[5:]]
    assert max(cleared) - min(cleared) < 0.3
    assert result.marks_echoed[: len(greet_marks)] == greet_marks  # FIFO order


@pytest.mark.integration  # serves a socket in the test body
async def test_mark_with_empty_buffer_echoes_at_once(registry):
    got: list[float] = []

    async def handler(ws):
        async for raw in ws:
            msg = json.loads(raw)
            if msg["event"] == "start":
                await asyncio.sleep(0.1)
                sent = time.monotonic()
                await ws.send(json.dumps({"event": "mark", "streamSid": msg["streamSid"], "mark": {"name": "m0"}}))
            elif msg["event"] == "mark":
                got.append(time.monotonic() - sent)
                await ws.close()
                return

    async with serve(handler, "127.0.0.1", 0) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/s"
        caller = SimulatedCaller(url, {"call_id": "c3"}, [], registry=registry, agent_speaks_first=False,
                                 final_wait_s=2)
        result = await caller.run()
    assert got and got[0] < 0.05
    assert result.end_reason == "remote_closed" and result.marks_echoed == ["m0"]


async def test_answer_call_thread_and_twiml(media, registry):
    url, params = parse_stream_twiml(
        f'<?xml version="1.0"?><Response><Connect><Stream url="{media.url}">'
        '<Parameter name="call_id" value="c4"/><Parameter name="token" value="x"/></Stream></Connect></Response>')
    assert params == {"call_id": "c4", "token": "x"}
    future = answer_call(url, params, ["Hello there."], registry=registry, agent_quiet_ms=400)
    result = await asyncio.wrap_future(future)
    assert result.call_id == "c4" and result.turns[0].voice_to_voice_ms is not None
    assert result.end_reason == "caller_hangup"


def test_signature_vector_from_protocols_doc():
    assert twilio_signature("12345", "wss://example.com/media") == "7PR3qMkpDyEJtMrVOY/LDyNq8J8="


@pytest.mark.integration  # serves a socket in the test body
async def test_dtmf_lines_send_twilio_dtmf_events(registry):
    received: list[dict] = []

    async def handler(ws):
        async for raw in ws:
            msg = json.loads(raw)
            received.append(msg)
            if msg["event"] == "stop":
                return

    async with serve(handler, "127.0.0.1", 0) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/s"
        result = await SimulatedCaller(url, {"call_id": "c5"}, [Line(dtmf="42", wait_for_agent=False, pause_ms=0)],
                                       registry=registry, agent_speaks_first=False).run()
    dtmf = [m for m in received if m["event"] == "dtmf"]
    assert [m["dtmf"] for m in dtmf] == [{"track": "inbound_track", "digit": "4"},
                                         {"track": "inbound_track", "digit": "2"}]
    assert all(m["streamSid"] == result.stream_sid and m["sequenceNumber"].isdigit() for m in dtmf)
    assert received[-1]["event"] == "stop"


def test_line_markup_parses_pauses_offsets_and_silence():
    assert speech_parts("zero six, one two <pause 800ms> three four <PAUSE 1.5s> five") == [
        ("zero six, one two", 800.0), ("three four", 1500.0), ("five", 0.0)]
    assert speech_parts("<pause 300ms> hi") == [("", 300.0), ("hi", 0.0)]
    backchannel = Line.parse("<after 1s> mhm")
    assert backchannel.text == "mhm" and backchannel.barge_in_after_ms == 1000
    silent = Line.parse("<silence 5s>")
    assert silent.text == "" and silent.pause_ms == 5000 and silent.barge_in_after_ms is None
    assert Line.parse("one <pause 200ms> two").spoken == "one two"
    with pytest.raises(ValueError, match="<paus 800ms>"):
        Line.parse("one <paus 800ms> two")


async def test_pause_inside_a_line_is_silence_on_the_wire_and_two_registrations(media, registry):
    caller = SimulatedCaller(media.url, {"call_id": "c-pause"}, ["zero six, one two <pause 800ms> three four"],
                             registry=registry, agent_quiet_ms=500)
    result = await caller.run()
    sent = b"".join(base64.b64decode(m["media"]["payload"]) for m in media.received if m["event"] == "media")
    assert audio.speak("zero six, one two") + audio.silence(800) + audio.speak("three four") in sent
    # the STT fakes take one registered text per stretch of speech
    assert registry.get("c-pause").utterances == ["zero six, one two", "three four"]
    (turn,) = result.turns
    assert turn.caller == "zero six, one two three four"
    spoken_ms = audio.duration_ms(audio.speak("zero six, one two") + audio.speak("three four")) + 800
    assert turn.speech_start is not None and turn.speech_end is not None
    assert turn.audio_ms == spoken_ms  # the turn's audio: both stretches and the pause between them


async def test_backchannel_at_an_offset_into_the_agent_reply_then_silence(media, registry):
    media.greeting = "Thanks for calling the sandbox restaurant, we are open every day from nine until late."
    caller = SimulatedCaller(media.url, {"call_id": "c-bc"}, ["<after 1000ms> mhm", "<silence 1s>"],
                             registry=registry, agent_quiet_ms=500)
    result = await caller.run()
    (turn,) = result.turns  # the silent line speaks nothing
    assert turn.barge_in and turn.caller == "mhm"
    assert result.greeting.agent_first_media_at is not None and turn.speech_start is not None
    offset = turn.speech_start - result.greeting.agent_first_media_at
    assert 0.95 <= offset <= 1.3, offset


def test_measuring_caller_pauses_inside_a_line(registry):
    from sandbox.measuring_caller import TestCaller, line_for

    caller = TestCaller("ws://127.0.0.1:9/unused", call_id="c-m", org_id="o", token="t", registry=registry)
    seconds = caller.say("zero six, one two <pause 700ms> three four")
    assert registry.get("c-m").utterances == ["zero six, one two", "three four"]
    expected = audio.speak("zero six, one two") + audio.silence(700) + audio.speak("three four")
    assert seconds == len(expected) / 8000
    line = line_for("zero six, one two <pause 700ms> three four")
    sent = b"".join(base64.b64decode(p) for p in line.payloads)
    assert sent.startswith(expected[: len(expected) // 160 * 160])
    # the speech end is after the second part, not at the pause
    assert line.last_voiced * 20 > audio.duration_ms(audio.speak("zero six, one two")) + 700


def test_noise_mark_is_a_wordless_voiced_sound_that_registers_no_words(registry):
    from media.pipeline.listen import VoiceActivity
    from sandbox.measuring_caller import TestCaller

    assert speech_parts("<noise 300ms>") == [("<noise 300ms>", 0.0)]
    assert speech_parts("well <NOISE 0.4s> <pause 200ms> okay") == [
        ("well", 0.0), ("<noise 400ms>", 200.0), ("okay", 0.0)]
    assert Line.parse("<after 1s> <noise 300ms>").spoken == ""
    caller = TestCaller("ws://127.0.0.1:9/unused", call_id="c-noise", org_id="o", token="t", registry=registry)
    seconds = caller.say("<noise 300ms>")
    assert seconds == 0.3
    # The STT fakes hear one stretch of sound with no words in it.
    assert registry.get("c-noise").utterances == [""]
    # Voice to Silero (so it can start an interruption), loud enough for the fakes' energy detectors.
    sound = audio.noise(300)
    assert len(sound) == 300 * 8 and audio.speech_ms(sound) >= 200
    vad = VoiceActivity()
    events = vad.feed(audio.ulaw_to_pcm_bytes(audio.silence(200) + sound + audio.silence(400)))
    assert events == ["start", "stop"] and vad.voiced_seconds >= 0.2


async def test_noise_mark_on_the_wire(media, registry):
    caller = SimulatedCaller(media.url, {"call_id": "c-noise-wire"}, ["<noise 300ms> <pause 300ms> hello"],
                             registry=registry, agent_quiet_ms=500)
    result = await caller.run()
    sent = b"".join(base64.b64decode(m["media"]["payload"]) for m in media.received if m["event"] == "media")
    assert audio.noise(300) + audio.silence(300) + audio.speak("hello") in sent
    assert registry.get("c-noise-wire").utterances == ["", "hello"]
    (turn,) = result.turns
    assert turn.caller == "hello"
