"""ElevenLabs TTS fake: the real elevenlabs SDK, Pipecat's WebSocket and HTTP services, and raw wire checks."""

from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import pytest
import websockets
from elevenlabs import AsyncElevenLabs
from pipecat.frames.frames import TTSAudioRawFrame, TTSSpeakFrame
from pipecat.services.elevenlabs.tts import ElevenLabsHttpTTSService, ElevenLabsTTSService
from pipecat.tests.utils import SleepFrame, run_test

from sandbox import audio
from sandbox.elevenlabs import FakeElevenLabsStream
from tests.sandbox.helpers import close_frame

KEY = {"xi-api-key": "xi-test-key"}


@pytest.fixture
def fake(registry):
    with FakeElevenLabsStream(registry=registry, first_byte_delay_ms=50) as server:
        yield server


async def test_sdk_http_stream_returns_espeak_mulaw(fake):
    el = AsyncElevenLabs(api_key="xi-test-key", base_url=fake.url)
    chunks = [c async for c in el.text_to_speech.stream(voice_id="21m00Tcm4TlvDq8ikWAM", text="Thanks for calling.",
                                                          model_id="eleven_flash_v2_5", output_format="ulaw_8000")]
    data = b"".join(chunks)
    assert data == audio.speak("Thanks for calling.", fake.voice)
    assert len(chunks) >= 2 and audio.speech_ms(data) > 500
    req = fake.http_requests[0]
    assert req["output_format"] == "ulaw_8000" and req["body"]["model_id"] == "eleven_flash_v2_5"
    # voices are served on the same URL
    voices = await el.voices.get_all()
    assert any(v.voice_id == "21m00Tcm4TlvDq8ikWAM" for v in voices.voices)


async def test_http_auth_and_unsupported_format(fake):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{fake.url}/v1/text-to-speech/v/stream", json={"text": "hi"}) as resp:
            assert resp.status == 401
        async with http.post(f"{fake.url}/v1/text-to-speech/v/stream?output_format=mp3_44100_128",
                             json={"text": "hi"}, headers=KEY) as resp:
            assert resp.status == 400


async def test_single_context_stream_input(fake):
    url = f"{fake.ws_url}/v1/text-to-speech/v1d/stream-input?model_id=eleven_flash_v2_5&output_format=ulaw_8000"
    async with websockets.connect(url, additional_headers=KEY) as ws:
        await ws.send(json.dumps({"text": " ", "voice_settings": {"stability": 0.5, "similarity_boost": 0.8}}))
        await ws.send(json.dumps({"text": "Hello there, I can help. "}))
        await ws.send(json.dumps({"text": " ", "flush": True}))
        expected = audio.speak("Hello there, I can help.", fake.voice)
        got, chars = b"", ""
        while len(got) < len(expected):
            msg = json.loads(await asyncio.wait_for(ws.recv(), 3))
            got += base64.b64decode(msg["audio"])
            align = msg["alignment"]
            assert len(align["charStartTimesMs"]) == len(align["charDurationsMs"]) == len(align["chars"]) >= 1
            assert msg["normalizedAlignment"] == align and msg["isFinal"] is None
            # alignment restarts at 0 in every message and spans that message's audio
            span = align["charStartTimesMs"][-1] + align["charDurationsMs"][-1]
            assert align["charStartTimesMs"][0] == 0 and abs(span - audio.duration_ms(base64.b64decode(
                msg["audio"]))) <= 5
            chars += "".join(align["chars"])
        assert got == expected and chars == "Hello there, I can help."
        await ws.send(json.dumps({"text": "Bye now. "}))
        await ws.send(json.dumps({"text": ""}))
        rest = [json.loads(m) async for m in ws]
    assert rest[-1] == {"isFinal": True} and "audio" in rest[0]
    assert ws.close_code == 1000


async def test_multi_context_ids_close_context_and_limit(fake):
    url = f"{fake.ws_url}/v1/text-to-speech/v1d/multi-stream-input?model_id=m&output_format=pcm_16000&auto_mode=true"
    async with websockets.connect(url, additional_headers=KEY) as ws:
        await ws.send(json.dumps({"text": " ", "context_id": "turn-1", "voice_settings": {"speed": 1.0}}))
        await ws.send(json.dumps({"text": "First sentence. ", "context_id": "turn-1"}))
        await ws.send(json.dumps({"context_id": "turn-1", "close_context": True}))
        msgs = []
        while not msgs or not msgs[-1].get("isFinal"):
            msgs.append(json.loads(await asyncio.wait_for(ws.recv(), 3)))
        assert msgs[-1] == {"isFinal": True, "contextId": "turn-1"}
        assert all(m["contextId"] == "turn-1" for m in msgs)
        pcm = b"".join(base64.b64decode(m["audio"]) for m in msgs[:-1])
        assert abs(len(pcm) - len(audio.speak("First sentence.", fake.voice)) * 4) <= 8 * len(msgs)
        await ws.send(json.dumps({"text": ""}))  # connection keep-alive: no reply
        for i in range(2, 8):  # turn-1 is closed: turn-7 is the sixth open one
            await ws.send(json.dumps({"text": " ", "context_id": f"turn-{i}"}))
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 3)
    assert close_frame(closed.value).code == 1008 and "max_active_conversations" in close_frame(closed.value).reason


async def test_inactivity_timeout_and_first_message_key(fake):
    url = f"{fake.ws_url}/v1/text-to-speech/v/stream-input?output_format=ulaw_8000&inactivity_timeout=1"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"text": " ", "xi_api_key": "xi-test-key"}))
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await asyncio.wait_for(ws.recv(), 4)
    assert close_frame(closed.value).code == 1008
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"text": " "}))
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await asyncio.wait_for(ws.recv(), 2)
    assert "API key" in close_frame(closed.value).reason


def _audio(frames) -> bytes:
    return b"".join(f.audio for f in frames if isinstance(f, TTSAudioRawFrame))


async def test_pipecat_websocket_service(fake):
    tts = ElevenLabsTTSService(api_key="xi-test-key", url=fake.ws_url,
                               settings=ElevenLabsTTSService.Settings(voice="21m00Tcm4TlvDq8ikWAM"),
                               sample_rate=8000)
    down, _ = await run_test(tts, frames_to_send=[TTSSpeakFrame("Hello from the agent."), SleepFrame(1.0)])
    pcm = _audio(down)
    expected = audio.ulaw_to_pcm_bytes(audio.speak("Hello from the agent.", fake.voice), 8000)
    assert abs(len(pcm) - len(expected)) <= 4 and len(pcm) > 8000
    session = fake.sessions[0]
    assert session.multi and session.query["output_format"] == "pcm_8000"
    assert session.headers["xi-api-key"] == "xi-test-key"
    ctx = next(iter(session.contexts.values()))
    assert ctx.generated == ["Hello from the agent."]
    assert any(m.get("close_context") for m in session.received)


async def test_pipecat_http_service(fake):
    async with aiohttp.ClientSession() as http:
        tts = ElevenLabsHttpTTSService(api_key="xi-test-key", aiohttp_session=http,
                                       settings=ElevenLabsHttpTTSService.Settings(voice="v"),
                                       base_url=fake.url, sample_rate=16000)
        down, _ = await run_test(tts, frames_to_send=[TTSSpeakFrame("Short reply."), SleepFrame(0.5)])
    pcm = _audio(down)
    expected = audio.ulaw_to_pcm_bytes(audio.speak("Short reply.", fake.voice), 16000)
    assert abs(len(pcm) - len(expected)) <= 4
    assert fake.http_requests[0]["output_format"] == "pcm_16000"
