"""The Deepgram fake driven by the real deepgram-sdk (and the raw wire for control frames)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from deepgram import AsyncDeepgramClient
from deepgram.environment import DeepgramClientEnvironment

from sandbox import audio
from sandbox.deepgram import FakeDeepgram
from tests.sandbox.helpers import close_frame


@pytest.fixture
def fake(registry):
    with FakeDeepgram(registry=registry, idle_timeout_s=1.0) as server:
        yield server


def client(fake: FakeDeepgram, key: str = "dg-test") -> AsyncDeepgramClient:
    env = DeepgramClientEnvironment(base=fake.url, production=fake.ws_url, agent=fake.ws_url, agent_rest=fake.url)
    return AsyncDeepgramClient(api_key=key, environment=env)


async def stream(send, data: bytes, realtime: bool = True) -> None:
    """Send 20 ms frames paced in real time, like the media service forwarding Twilio audio."""
    start = time.monotonic()
    for i, frame in enumerate(audio.frames(data)):
        await send(frame)
        if realtime:
            await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))


async def collect(sock, until: str, timeout: float = 5.0) -> list:
    out = []
    async with asyncio.timeout(timeout):
        while True:
            msg = await sock.recv()
            out.append(msg)
            if getattr(msg, "type", None) == until:
                return out


async def test_sdk_interim_final_utterance_end_with_registered_text(fake, registry):
    registry.register("call-1", ["I need to change my booking please"])
    line = audio.speak("I need to change my booking please")
    dg = client(fake)
    async with dg.listen.v1.connect(model="nova-3", language="en", encoding="mulaw", sample_rate=8000,
                                    interim_results="true", endpointing="300", utterance_end_ms="1000",
                                    vad_events="true", tag="call-1", keyterm=["booking", "Acme"]) as sock:
        sender = asyncio.create_task(stream(sock.send_media, audio.silence(200) + line + audio.silence(1400)))
        msgs = await collect(sock, "UtteranceEnd", timeout=8)
        await sender
        await sock.send_close_stream()
    kinds = [m.type for m in msgs]
    assert kinds[0] == "SpeechStarted"
    interims = [m for m in msgs if m.type == "Results" and not m.is_final]
    finals = [m for m in msgs if m.type == "Results" and m.is_final]
    assert len(interims) >= 3
    # Partial interims while speaking, then (like real Deepgram) the whole utterance before the final
    assert all(len(m.channel.alternatives[0].transcript) < len("I need to change my booking please")
               for m in interims[:-1])
    assert "I need to change my booking please".startswith(interims[0].channel.alternatives[0].transcript)
    assert interims[-1].channel.alternatives[0].transcript == "I need to change my booking please"
    assert msgs.index(interims[-1]) < msgs.index(next(m for m in msgs if m.type == "Results" and m.is_final))
    assert len(finals) == 1 and finals[0].speech_final is True
    assert finals[0].channel.alternatives[0].transcript == "I need to change my booking please"
    assert finals[0].channel.alternatives[0].words[0].punctuated_word == "I"
    assert kinds[-1] == "UtteranceEnd"
    session = fake.sessions[0]
    assert session.headers["authorization"] == "Token dg-test"
    assert session.query["keyterm"] == ["booking", "Acme"]
    assert session.query["encoding"] == ["mulaw"] and session.query["sample_rate"] == ["8000"]
    assert session.call_id == "call-1"
    # the final arrives after the client's endpointing (300 ms of silence) plus the processing delay
    # (150), counted from the last voiced frame, not from the detector's hangover
    lag = session.final_sent_at[0] - session.speech_end_at[0]
    assert 0.43 <= lag <= 0.56, lag
    # interims trail the audio by the recognition lag (300 ms): the first one covers audio up to at
    # least 300 ms before the instant it describes
    first = interims[0]
    assert first.start + first.duration - first.channel.alternatives[0].words[0].start >= 0.3


def listen_url(fake: FakeDeepgram, query: str) -> str:
    return fake.ws_url + "/v1/listen?encoding=mulaw&sample_rate=8000&" + query


async def results_until_final(ws, count: int = 1, timeout: float = 3.0) -> list[tuple[float, dict]]:
    """(arrival monotonic time, message) up to the ``count``-th is_final result."""
    out: list[tuple[float, dict]] = []
    async with asyncio.timeout(timeout):
        while sum(1 for _, m in out if m.get("is_final")) < count:
            msg = json.loads(await ws.recv())
            out.append((time.monotonic(), msg))
    return out


@pytest.mark.integration  # serves a socket in the test body
@pytest.mark.parametrize(("query", "silence_ms", "low", "high"), [
    ("endpointing=400", 800, 0.53, 0.66),  # the client's endpointing + 150 ms processing
    ("model=nova-3", 500, 0.14, 0.27),  # no endpointing sent: Deepgram's default, 10 ms
])
async def test_final_after_requested_endpointing(registry, query, silence_ms, low, high):
    registry.register("call-ep", ["Tuesday please"])
    with FakeDeepgram(registry=registry) as dg:
        async with websockets.connect(listen_url(dg, query + "&interim_results=true&tag=call-ep"),
                                      additional_headers={"Authorization": "Token x"}) as ws:
            sender = asyncio.create_task(stream(ws.send, audio.silence(100) + audio.speak("Tuesday please")
                                                + audio.silence(silence_ms)))
            msgs = [m for _, m in await results_until_final(ws)]
            await sender
    final = msgs[-1]
    assert final["is_final"] is True and final["speech_final"] is True and final["from_finalize"] is False
    assert final["channel"]["alternatives"][0]["transcript"] == "Tuesday please"
    session = dg.sessions[0]
    lag = session.final_sent_at[0] - session.speech_end_at[0]
    assert low <= lag <= high, lag


@pytest.mark.integration  # serves a socket in the test body
async def test_pause_shorter_than_endpointing_continues_the_utterance(registry):
    """"zero six, one two <250 ms> three four": one speech_final with every word, none at the pause;
    a pause longer than endpointing ends the utterance there (what a caller's pause risks)."""
    registry.register("call-p", ["zero six, one two", "three four", "five six", "seven eight"])
    part = audio.speak("zero six, one two")
    with FakeDeepgram(registry=registry) as dg:
        async with websockets.connect(listen_url(dg, "endpointing=400&interim_results=true&tag=call-p"),
                                      additional_headers={"Authorization": "Token x"}) as ws:
            short = audio.silence(100) + part + audio.silence(250) + audio.speak("three four") + audio.silence(700)
            long = audio.speak("five six") + audio.silence(700) + audio.speak("seven eight") + audio.silence(700)
            sender = asyncio.create_task(stream(ws.send, short + long))
            msgs = [m for _, m in await results_until_final(ws, count=3, timeout=12)]
            await sender
    finals = [m for m in msgs if m["is_final"]]
    assert [f["channel"]["alternatives"][0]["transcript"] for f in finals] == [
        "zero six, one two three four", "five six", "seven eight"]
    assert all(f["speech_final"] for f in finals)
    words = finals[0]["channel"]["alternatives"][0]["words"]
    assert [w["word"] for w in words] == ["zero", "six", "one", "two", "three", "four"]


@pytest.mark.integration  # serves a socket in the test body
async def test_a_sound_registered_without_words_gets_an_empty_final_and_no_interims(registry):
    # A cough or an "ahh" is sound, not words: Deepgram finalizes it with an empty transcript.
    registry.register("call-noise", ["", "Tuesday please"])
    with FakeDeepgram(registry=registry) as dg:
        async with websockets.connect(listen_url(dg, "endpointing=300&interim_results=true&tag=call-noise"),
                                      additional_headers={"Authorization": "Token x"}) as ws:
            sender = asyncio.create_task(stream(ws.send, audio.silence(100) + audio.noise(300) + audio.silence(700)
                                                + audio.speak("Tuesday please") + audio.silence(600)))
            msgs = [m for _, m in await results_until_final(ws, count=2, timeout=8)]
            await sender
    texts = [(m["is_final"], m["channel"]["alternatives"][0]["transcript"]) for m in msgs]
    first_final = texts.index((True, ""))
    assert all(not final for final, _ in texts[:first_final])  # no interim carried words for the sound
    assert texts[-1] == (True, "Tuesday please")


@pytest.mark.integration  # serves a socket in the test body
async def test_endpointing_false_never_speech_final(registry):
    registry.register("call-nf", ["no endpoint here"])
    with FakeDeepgram(registry=registry) as dg:
        async with websockets.connect(listen_url(dg, "endpointing=false&tag=call-nf"),
                                      additional_headers={"Authorization": "Token x"}) as ws:
            sender = asyncio.create_task(stream(ws.send, audio.silence(100) + audio.speak("no endpoint here")
                                                + audio.silence(400)))
            msgs = [m for _, m in await results_until_final(ws)]
            await sender
    assert msgs[-1]["is_final"] is True and msgs[-1]["speech_final"] is False
    assert msgs[-1]["channel"]["alternatives"][0]["transcript"] == "no endpoint here"


@pytest.mark.integration  # serves a socket in the test body
@pytest.mark.parametrize("lag_ms", [0, 300])
async def test_whole_utterance_interim_trails_speech_end_by_recognition_lag(registry, lag_ms):
    registry.register("call-lag", ["Tuesday please"])
    with FakeDeepgram(registry=registry, recognition_lag_ms=lag_ms) as dg:
        async with websockets.connect(listen_url(dg, "endpointing=500&interim_results=true&tag=call-lag"),
                                      additional_headers={"Authorization": "Token x"}) as ws:
            sender = asyncio.create_task(stream(ws.send, audio.silence(100) + audio.speak("Tuesday please")
                                                + audio.silence(900)))
            timed = await results_until_final(ws)
            await sender
    whole = [t for t, m in timed if not m["is_final"]
             and m["channel"]["alternatives"][0]["transcript"] == "Tuesday please"]
    assert len(whole) == 1
    after_speech = whole[0] - dg.sessions[0].speech_end_at[0]
    # never before the lag; the fake notices the end of speech only after its 100 ms hangover
    assert lag_ms / 1000 - 0.03 <= after_speech <= max(lag_ms, 100) / 1000 + 0.15, after_speech


async def test_finalize_close_stream_metadata_and_fallback_pairing(fake, registry):
    registry.register("call-9", ["first line here", "second"])
    async with websockets.connect(fake.ws_url + "/v1/listen?encoding=mulaw&sample_rate=8000&model=nova-3",
                                  additional_headers={"Authorization": "Token x"}) as ws:
        line = audio.speak("first line here")
        await stream(ws.send, audio.silence(100) + line[: len(line) // 2], realtime=False)
        sent_at = time.monotonic()
        await ws.send(json.dumps({"type": "Finalize"}))
        final = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert time.monotonic() - sent_at >= 0.14  # the processing delay (final_delay_ms, 150)
        assert final["type"] == "Results" and final["is_final"] is True and final["from_finalize"] is True
        assert final["channel"]["alternatives"][0]["transcript"] == "first line here"
        assert final["channel_index"] == [0, 1] and "model_info" in final["metadata"]
        # nothing pending: an empty from_finalize result
        await ws.send(json.dumps({"type": "Finalize"}))
        empty = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert empty["from_finalize"] is True and empty["channel"]["alternatives"][0]["transcript"] == ""
        await ws.send(json.dumps({"type": "KeepAlive"}))
        await ws.send(json.dumps({"type": "CloseStream"}))
        meta = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert meta["type"] == "Metadata" and meta["channels"] == 1 and len(meta["sha256"]) == 64
        with pytest.raises(websockets.ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), 2)
    assert fake.sessions[0].call_id == "call-9"  # paired with the fresh unclaimed registration


async def test_auth_required_and_idle_timeout(fake):
    with pytest.raises(websockets.InvalidStatus) as err:
        async with websockets.connect(fake.ws_url + "/v1/listen", additional_headers={"Authorization": "Bearer x"}):
            pass
    assert err.value.response.status_code == 401
    async with websockets.connect(fake.ws_url + "/v1/listen?encoding=mulaw&sample_rate=8000",
                                  additional_headers={"Authorization": "Token x"}) as ws:
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await asyncio.wait_for(ws.recv(), 4)
        assert close_frame(closed.value).code == 1011 and "NET-0001" in close_frame(closed.value).reason


def test_registry_http_endpoint(fake):
    import urllib.request

    from sandbox.registry import RemoteRegistry

    RemoteRegistry(fake.url).register("call-x", ["hello there"])
    RemoteRegistry(fake.url).register("call-x", ["and more"], append=True)
    with urllib.request.urlopen(fake.url + "/sandbox/calls/call-x") as resp:
        body = json.loads(resp.read())
    assert body["utterances"] == ["hello there", "and more"]
    assert fake.registry.next_utterance("stt", "call-x") == "hello there"


async def test_pipecat_deepgram_service_gets_registered_transcript(fake, registry):
    """Pipecat 1.14's DeepgramSTTService pointed at the fake with ``base_url`` and ``tag=<call_id>``."""
    from pipecat.frames.frames import InputAudioRawFrame, TranscriptionFrame
    from pipecat.pipeline.task import PipelineParams
    from pipecat.services.deepgram.stt import DeepgramSTTService
    from pipecat.tests.utils import SleepFrame, run_test

    registry.register("call-pc", ["Please move my appointment to Friday"])
    stt = DeepgramSTTService(api_key="dg-key", base_url=fake.ws_url, sample_rate=16000, tag="call-pc")
    pcm = audio.ulaw_to_pcm_bytes(audio.silence(200) + audio.speak("Please move my appointment to Friday")
                                  + audio.silence(600), 16000)
    frames = []
    for i in range(0, len(pcm), 640):  # 20 ms at 16 kHz
        frames += [InputAudioRawFrame(audio=pcm[i:i + 640], sample_rate=16000, num_channels=1), SleepFrame(0.02)]
    down, _ = await run_test(stt, frames_to_send=frames + [SleepFrame(0.5)],
                             pipeline_params=PipelineParams(audio_in_sample_rate=16000), start_timeout=5)
    texts = [f.text for f in down if isinstance(f, TranscriptionFrame)]
    assert texts == ["Please move my appointment to Friday"]
    session = fake.sessions[-1]
    assert session.query["tag"] == ["call-pc"] and session.query["encoding"] == ["linear16"]
    assert session.query["sample_rate"] == ["16000"] and session.headers["authorization"] == "Token dg-key"
