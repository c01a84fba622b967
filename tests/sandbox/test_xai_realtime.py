"""xAI realtime fake on the wire; every server event must parse with Pipecat's own xAI event models."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
import websockets
from pipecat.services.xai.realtime.events import parse_server_event

from sandbox import audio
from sandbox.openai_llm import ToolCall
from sandbox.xai_realtime import FakeXAIRealtime

SESSION = {"type": "session.update", "session": {
    "instructions": "You are a phone agent.", "voice": "Ara",
    "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
    "audio": {"input": {"format": {"type": "audio/pcmu"}}, "output": {"format": {"type": "audio/pcmu"}}},
    "tools": [{"type": "function", "name": "endCall", "description": "hang up",
               "parameters": {"type": "object", "properties": {}}}]}}


@pytest.fixture
def fake(registry):
    with FakeXAIRealtime(registry=registry, first_audio_delay_ms=200, ping_interval_s=0.3) as server:
        yield server


async def recv_until(ws, kind: str, timeout: float = 5.0) -> list[dict]:
    out = []
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await ws.recv())
            parse_server_event(json.dumps(msg))  # Pipecat must understand every event
            out.append(msg)
            if msg["type"] == kind:
                return out


async def speak(ws, text: str, tail_ms: int = 400) -> None:
    data = audio.silence(100) + audio.speak(text) + audio.silence(tail_ms)
    start = time.monotonic()
    for i, frame in enumerate(audio.frames(data)):
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(frame).decode()}))
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))


async def test_voice_turn_with_registered_text_and_audio_reply(fake, registry):
    registry.register("call-x1", ["I would like to book a table"])
    url = fake.ws_url + "/v1/realtime?tag=call-x1?model=grok-voice-think-fast-1.0"
    async with websockets.connect(url, additional_headers={"Authorization": "Bearer xai-test"}) as ws:
        first = await recv_until(ws, "conversation.created")
        assert len(first) == 1
        await ws.send(json.dumps(SESSION))
        updated = (await recv_until(ws, "session.updated"))[-1]
        assert updated["session"]["voice"] == "Ara"
        assert updated["session"]["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        sender = asyncio.create_task(speak(ws, "I would like to book a table", tail_ms=1200))
        events = await recv_until(ws, "response.done", timeout=8)
        await sender
    kinds = [e["type"] for e in events if e["type"] != "ping"]
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index("input_audio_buffer.speech_stopped")
    transcript = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert transcript["transcript"] == "I would like to book a table"
    reply_audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    expected_text = "Got it, you said: I would like to book a table."
    assert reply_audio == audio.speak(expected_text, fake.voice)
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")
    assert text == expected_text
    assert events[-1]["response"]["status"] == "completed"
    assert fake.sessions[0].call_id == "call-x1"
    assert fake.sessions[0].headers["authorization"] == "Bearer xai-test"
    assert fake.sessions[0].query["model"] == "grok-voice-think-fast-1.0"
    # voice-to-voice inside the fake: speech end -> first audio delta ~ hangover + delay
    lag = fake.sessions[0].first_audio_at[0] - fake.sessions[0].speech_end_at[0]
    assert 0.2 <= lag <= 1.5, lag


async def test_function_call_output_and_cancel_and_no_truncate(fake, registry):
    fake.add_rule(contains="transfer", tool_calls=[ToolCall("transfer_call", {"reason": "billing"})], times=1)
    async with websockets.connect(fake.ws_url + "/v1/realtime?model=grok",
                                  additional_headers={"Authorization": "Bearer k"}) as ws:
        await recv_until(ws, "conversation.created")
        await ws.send(json.dumps(SESSION))
        await recv_until(ws, "session.updated")
        await ws.send(json.dumps({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "transfer me please"}]}}))
        await ws.send(json.dumps({"type": "response.create"}))
        events = await recv_until(ws, "response.done")
        added = next(e for e in events if e["type"] == "response.output_item.added")
        assert added["item"]["type"] == "function_call" and added["item"]["name"] == "transfer_call"
        done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert json.loads(done["arguments"]) == {"reason": "billing"} and done["call_id"] == added["item"]["call_id"]
        await ws.send(json.dumps({"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": done["call_id"], "output": "transferred"}}))
        await ws.send(json.dumps({"type": "response.create"}))
        events = await recv_until(ws, "response.created")
        await ws.send(json.dumps({"type": "response.cancel"}))
        events = await recv_until(ws, "response.done")
        assert events[-1]["response"]["status"] == "cancelled"
        await ws.send(json.dumps({"type": "response.cancel"}))
        err = (await recv_until(ws, "error"))[-1]
        assert "no active response" in err["error"]["message"]
        await ws.send(json.dumps({"type": "conversation.item.truncate", "item_id": "x", "content_index": 0,
                                  "audio_end_ms": 10}))
        err = (await recv_until(ws, "error"))[-1]
        assert err["error"]["code"] == "unknown_event"
        pings = await recv_until(ws, "ping", timeout=2)
        assert isinstance(pings[-1]["timestamp"], int)


async def test_auth_required(fake):
    with pytest.raises(websockets.InvalidStatus) as err:
        async with websockets.connect(fake.ws_url + "/v1/realtime?model=m"):
            pass
    assert err.value.response.status_code == 401


async def test_pipecat_grok_realtime_service(fake, registry):
    """Pipecat 1.14's GrokRealtimeLLMService: greeting response, then a spoken turn transcribed by the fake."""
    from pipecat.frames.frames import InputAudioRawFrame, LLMContextFrame, TranscriptionFrame, TTSAudioRawFrame
    from pipecat.pipeline.task import PipelineParams
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.services.xai.realtime.llm import GrokRealtimeLLMService
    from pipecat.tests.utils import SleepFrame, run_test

    registry.register("call-grok", ["What time do you open tomorrow"])
    llm = GrokRealtimeLLMService(api_key="xai-key", base_url=fake.ws_url + "/v1/realtime?tag=call-grok")
    context = LLMContext(messages=[{"role": "user", "content": "Hello?"}])
    pcm = audio.ulaw_to_pcm_bytes(audio.silence(200) + audio.speak("What time do you open tomorrow")
                                  + audio.silence(600), 16000)
    frames = [LLMContextFrame(context), SleepFrame(1.5)]
    for i in range(0, len(pcm), 640):
        frames += [InputAudioRawFrame(audio=pcm[i:i + 640], sample_rate=16000, num_channels=1), SleepFrame(0.02)]
    down, up = await run_test(llm, frames_to_send=frames + [SleepFrame(1.5)],
                              pipeline_params=PipelineParams(audio_in_sample_rate=16000,
                                                             audio_out_sample_rate=16000), start_timeout=5)
    session = fake.sessions[-1]
    assert session.call_id == "call-grok" and session.query["model"]
    assert "session.update" in [m["type"] for m in session.received]
    assert session.transcripts == ["What time do you open tomorrow"]
    assert [f.text for f in up if isinstance(f, TranscriptionFrame)] == ["What time do you open tomorrow"]
    assert sum(len(f.audio) for f in down if isinstance(f, TTSAudioRawFrame)) > 16000
    assert [r["status"] for r in session.responses][-1] == "completed"
