"""The eval caller (media.evalcaller) against a real web call: the media server's /web socket, the agent's
Pipecat pipeline on the sandbox Deepgram, OpenAI and ElevenLabs fakes, the stored call row. The caller's
own LLM and TTS are the same fakes (its persona prompt gets the OpenAI fake's caller replies)."""

from __future__ import annotations

import asyncio
import time

import pytest

from chalicelib.models.media import CallerTurn, RunCaller
from media.evalcaller.persona import Persona
from media.evalcaller.runner import EvalCaller
from media.evalcaller.speech import CallerVoice
from sandbox.openai_llm import CALLER_DONE
from tests.media.conftest import ORG, wait_for
from tests.media.test_e2e_web_call import ASSISTANT, token, web_call

PERSONA = "You want to 'book a cleaning' and, when asked for a time, say 'Tuesday afternoon works'."


@pytest.fixture
def caller_stack(stack, monkeypatch):
    from media.settings import reset_media_settings
    from sandbox.registry import REGISTRY

    REGISTRY.clear()
    # The caller registers what it says with the Deepgram fake, as the dev stack's SANDBOX_REGISTRY_URLS does.
    monkeypatch.setenv("SANDBOX_REGISTRY_URLS", stack.deepgram.url)
    reset_media_settings()
    yield stack
    reset_media_settings()


def _run(stack, **fields) -> tuple[str, object]:
    call_id = web_call()
    url = f"ws://127.0.0.1:{stack.media.port}/web/{call_id}?token={token('web', call_id)}"
    caller = EvalCaller.for_message(RunCaller(call_id=call_id, org_id=ORG, websocket_url=url, **fields))
    outcome = asyncio.run(caller.run())
    return call_id, outcome


def _caller_tts(stack) -> list[dict]:
    return [r for r in stack.tts.http_requests if r["voice_id"] != ASSISTANT["tts_config"]["voice_id"]]


def test_persona_caller_answers_the_agent_until_goodbye_and_hangs_up(caller_stack):
    stack = caller_stack
    call_id, outcome = _run(stack, instructions=PERSONA, max_turns=6, voice="caller-voice", language="en-GB", pace=1.2)

    assert outcome.said == ["book a cleaning", "Tuesday afternoon works", CALLER_DONE]  # type: ignore[attr-defined]
    assert outcome.end == "end_call"  # type: ignore[attr-defined]
    row = stack.wait_ended(call_id)
    msgs = [(m["role"], m["content"]) for m in row.data["messages"]]
    assert msgs[0] == ("assistant", ASSISTANT["first_message"])
    assert [c for r, c in msgs if r == "user"] == ["book a cleaning", "Tuesday afternoon works", CALLER_DONE]
    assert ("assistant", "Got it, you said: book a cleaning.") in msgs
    assert row.data["end_reason"] == "customer_hangup"

    # The persona's LLM saw the conversation from the caller's side: the agent's lines as "user".
    prompt = Persona(PERSONA, "en-GB").system_prompt()
    assert prompt.endswith("Speak in this language: en-GB.")
    persona_calls = [c.body for c in stack.openai.completions if c.body["messages"][0]["content"] == prompt]
    assert len(persona_calls) == 4  # three lines, then end_call once the agent said goodbye
    assert persona_calls[0]["messages"][1] == {"role": "user", "content": ASSISTANT["first_message"]}
    assert [t["function"]["name"] for t in persona_calls[0]["tools"]] == ["end_call"]
    # Voice, language and pace reach the TTS request.
    tts = _caller_tts(stack)
    assert [r["text"] for r in tts] == outcome.said  # type: ignore[attr-defined]
    assert {r["voice_id"] for r in tts} == {"caller-voice"}
    assert {(r["body"]["language_code"], r["body"]["voice_settings"]["speed"]) for r in tts} == {("en", 1.2)}
    assert {r["output_format"] for r in tts} == {"pcm_16000"}


def test_scripted_caller_speaks_its_lines_with_pauses_at_its_pace(caller_stack):
    stack = caller_stack
    lines = [CallerTurn(text="What are your opening hours?", pause_ms=300),
             CallerTurn(text="Thanks <pause 400ms> bye for now", pause_ms=200, dtmf="1")]
    started = time.monotonic()
    call_id, outcome = _run(stack, lines=lines, pace=0.7)
    assert time.monotonic() - started < 60
    assert outcome.said == ["What are your opening hours?", "Thanks bye for now"]  # type: ignore[attr-defined]
    row = stack.wait_ended(call_id)
    users = [m["content"] for m in row.data["messages"] if m["role"] == "user"]
    assert users == ["What are your opening hours?", "Thanks bye for now"]
    assert any(m["role"] == "assistant" and "opening hours" in m["content"] for m in row.data["messages"])
    # Each stretch between pauses is its own TTS request, at the clamped pace (ElevenLabs takes 0.7-1.2).
    assert [(r["text"], r["body"]["voice_settings"]["speed"]) for r in _caller_tts(stack)] == [
        ("What are your opening hours?", 0.7), ("Thanks", 0.7), ("bye for now", 0.7)]


def test_pace_is_clamped_to_elevenlabs_range_and_language_becomes_iso_639_1():
    assert CallerVoice.of(None, "pt-BR", 0.5, "default-voice") == CallerVoice("default-voice", "pt", 0.7)
    assert CallerVoice.of("v1", None, 2.0, "default-voice") == CallerVoice("v1", None, 1.2)


def _post_caller(stack, call_id: str, message: dict, secret: str = "test-control-secret") -> tuple[int, dict]:
    import json

    import requests

    from chalicelib.security import sign_control

    body = json.dumps(message).encode()
    ts = str(int(time.time()))
    resp = requests.post(f"{stack.media.http_url}/calls/{call_id}/caller", data=body, timeout=10, headers={
        "X-Control-Timestamp": ts, "X-Control-Signature": sign_control(secret, ts, body),
        "Content-Type": "application/json"})
    return resp.status_code, resp.json()


def test_caller_endpoint_runs_the_caller_and_refuses_unsigned_or_bad_requests(caller_stack):
    stack = caller_stack
    call_id = web_call()
    url = f"ws://127.0.0.1:{stack.media.port}/web/{call_id}?token={token('web', call_id)}"
    message = {"version": 1, "call_id": call_id, "org_id": ORG, "websocket_url": url,
               "lines": [{"text": "Hello there"}], "max_turns": 2}
    assert _post_caller(stack, call_id, message, secret="wrong")[0] == 401
    status, body = _post_caller(stack, call_id, {**message, "pace": 5})
    assert status == 400 and body["error"] == "invalid_request" and "pace" in body["message"]
    assert _post_caller(stack, call_id, {**message, "websocket_url": "http://elsewhere"})[0] == 400
    assert _post_caller(stack, "another-call", message)[0] == 400  # the path names another call
    assert _post_caller(stack, call_id, message) == (202, {"success": True, "status": "calling"})
    row = stack.wait_ended(call_id, timeout=40)
    assert [m["content"] for m in row.data["messages"] if m["role"] == "user"] == ["Hello there"]
    assert row.data["end_reason"] == "customer_hangup"


def test_persona_can_hear_the_agent_through_deepgram(caller_stack, monkeypatch):
    from media.settings import reset_media_settings
    from sandbox.registry import REGISTRY

    stack = caller_stack
    monkeypatch.setenv("EVAL_CALLER_HEARING", "deepgram")
    reset_media_settings()
    call_id = web_call()
    # What the recognizer makes of the agent's greeting (the fake transcribes registered text): not the
    # words of the transcript event, so the persona's input shows which one it heard.
    REGISTRY.register(f"{call_id}:caller", ["Heard by speech recognition"])
    url = f"ws://127.0.0.1:{stack.media.port}/web/{call_id}?token={token('web', call_id)}"
    caller = EvalCaller.for_message(RunCaller(call_id=call_id, org_id=ORG, websocket_url=url,
                                                   instructions=PERSONA, max_turns=2, language="en"))
    outcome = asyncio.run(caller.run())
    assert outcome.said == ["book a cleaning", "Tuesday afternoon works"]

    [session] = [s for s in stack.deepgram.sessions if s.call_id == f"{call_id}:caller"]
    assert session.query["encoding"] == ["linear16"] and session.query["sample_rate"] == ["16000"]
    assert session.query["language"] == ["en"] and session.audio_bytes > 16000
    assert {"type": "Finalize"} in session.received_control
    prompt = Persona(PERSONA, "en").system_prompt()
    persona_calls = [c.body for c in stack.openai.completions if c.body["messages"][0]["content"] == prompt]
    first_heard = persona_calls[0]["messages"][1]
    assert first_heard["role"] == "user" and first_heard["content"].startswith("Heard by speech recognition")


def test_scripted_barge_in_interrupts_the_agent(caller_stack):
    stack = caller_stack
    long_reply = " ".join(["This is a long answer about our many products and services."] * 8)
    stack.openai.add_rule(contains="products", text=long_reply)
    call_id = web_call()
    url = f"ws://127.0.0.1:{stack.media.port}/web/{call_id}?token={token('web', call_id)}"
    lines = [CallerTurn(text="Tell me about your products."),
             CallerTurn(text="Stop please.", pause_ms=0, barge_in_after_ms=1500)]
    caller = EvalCaller.for_message(RunCaller(call_id=call_id, org_id=ORG, websocket_url=url, lines=lines))
    outcome = asyncio.run(caller.run())
    assert outcome.said == ["Tell me about your products.", "Stop please."]
    assert caller.caller.state.clears >= 1  # the server stopped the agent's audio: the caller spoke over it
    row = stack.wait_ended(call_id)
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    cut = next(t for t in said if t.startswith("This is a long answer"))
    assert len(cut) < len(long_reply)  # only what was heard before the barge-in


def _dead_port() -> int:
    import socket

    with socket.socket() as s:  # bound then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_caller_whose_tts_fails_ends_the_call_at_once_with_provider_error(caller_stack):
    from sandbox.httpserver import FakeHTTPServer, FakeResponse

    stack = caller_stack
    broken = FakeHTTPServer()  # ElevenLabs answering 500 to the caller's TTS request (its outage)
    broken.route("POST", r"/v1/text-to-speech/(?P<voice>[^/]+)/stream/with-timestamps",
                 lambda req: FakeResponse(500, {"detail": {"status": "internal_server_error"}}))
    broken.start()
    try:
        call_id = web_call()
        url = f"ws://127.0.0.1:{stack.media.port}/web/{call_id}?token={token('web', call_id)}"
        caller = EvalCaller.for_message(RunCaller(call_id=call_id, org_id=ORG, websocket_url=url,
                                                  lines=[CallerTurn(text="Hello there")]))
        caller.caller.tts_base_url = broken.base_url
        started = time.monotonic()
        outcome = asyncio.run(caller.run())
        row = stack.wait_ended(call_id, timeout=10)
    finally:
        broken.stop()
    assert time.monotonic() - started < 20  # not the token's 5 minutes
    assert outcome.end.startswith("error: the caller's pipeline failed: ElevenLabsHttpTTSService")
    assert (row.status, row.data["end_reason"]) == ("failed", "provider_error")
    assert row.data["error"].startswith("simulated caller: the caller's pipeline failed: ElevenLabsHttpTTSService")
    # The agent's greeting was heard before the caller failed: the transcript so far is kept.
    assert [m["content"] for m in row.data["messages"] if m["role"] == "assistant"][:1] == [ASSISTANT["first_message"]]


def test_a_persona_whose_tts_fails_ends_the_call_at_once_with_provider_error(caller_stack):
    from sandbox.httpserver import FakeHTTPServer, FakeResponse

    stack = caller_stack
    broken = FakeHTTPServer()  # ElevenLabs answering 500 to the persona's streaming TTS request
    broken.route("POST", r"/v1/text-to-speech/(?P<voice>[^/]+)/stream/with-timestamps",
                 lambda req: FakeResponse(500, {"detail": {"status": "internal_server_error"}}))
    broken.start()
    try:
        call_id = web_call()
        url = f"ws://127.0.0.1:{stack.media.port}/web/{call_id}?token={token('web', call_id)}"
        caller = EvalCaller.for_message(RunCaller(call_id=call_id, org_id=ORG, websocket_url=url,
                                                  instructions=PERSONA, max_turns=4))
        caller.caller.tts_base_url = broken.base_url
        started = time.monotonic()
        outcome = asyncio.run(caller.run())
        row = stack.wait_ended(call_id, timeout=10)
    finally:
        broken.stop()
    assert time.monotonic() - started < 30
    assert outcome.end.startswith("error: the caller's pipeline failed: ElevenLabsHttpTTSService")
    assert (row.status, row.data["end_reason"]) == ("failed", "provider_error")
    assert row.data["error"].startswith("simulated caller: the caller's pipeline failed: ElevenLabsHttpTTSService")
    assert "ElevenLabs API error" in row.data["error"]


def test_a_caller_given_a_dead_socket_url_fails_the_web_call_at_once(caller_stack):
    stack = caller_stack
    call_id = web_call()
    url = f"ws://127.0.0.1:{_dead_port()}/web/{call_id}?token={token('web', call_id)}"
    outcome = asyncio.run(EvalCaller.for_message(RunCaller(call_id=call_id, org_id=ORG, websocket_url=url,
                                                           instructions=PERSONA)).run())
    row = stack.wait_ended(call_id, timeout=5)
    assert outcome.end.startswith("error: the call socket could not be opened: ")
    assert "Connect call failed" in outcome.end  # the transport's connection refused
    assert (row.status, row.data["end_reason"]) == ("failed", "failed_to_connect")
    assert row.data["error"].startswith("simulated caller: the call socket could not be opened")
    assert not [c for c in stack.openai.completions if "You are the caller" in c.body["messages"][0]["content"]]


def test_a_socket_closed_without_call_ended_fails_the_call(caller_stack):
    stack = caller_stack
    stack.media.media.max_calls = 0  # the task takes the socket only to close it with 1013 (at capacity)
    call_id = web_call()
    url = f"ws://127.0.0.1:{stack.media.port}/web/{call_id}?token={token('web', call_id)}"
    outcome = asyncio.run(EvalCaller.for_message(RunCaller(call_id=call_id, org_id=ORG, websocket_url=url,
                                                           lines=[CallerTurn(text="Hello")])).run())
    row = stack.wait_ended(call_id, timeout=5)
    assert outcome.end == "error: the call socket closed without call-ended"
    assert (row.status, row.data["end_reason"]) == ("failed", "failed_to_connect")


def test_a_refused_token_is_not_the_callers_to_end(caller_stack):
    """403 at the handshake: another socket holds the call (or the token expired and the expiry check ends it)."""
    stack = caller_stack
    call_id = web_call()
    url = f"ws://127.0.0.1:{stack.media.port}/web/{call_id}?token={token('web', call_id, expires_in=-1)}"
    outcome = asyncio.run(EvalCaller.for_message(RunCaller(call_id=call_id, org_id=ORG, websocket_url=url,
                                                           lines=[CallerTurn(text="Hello")])).run())
    assert outcome.end.startswith("error: InvalidStatus")
    row = stack.row(call_id)
    assert row is not None and row.status == "queued"


def test_running_callers_count_against_capacity_and_a_full_task_refuses_one(caller_stack):
    import requests

    stack = caller_stack
    media = stack.media.media
    media.max_calls = 1
    call_id = web_call()
    url = f"ws://127.0.0.1:{stack.media.port}/web/{call_id}?token={token('web', call_id)}"
    message = {"version": 1, "call_id": call_id, "org_id": ORG, "websocket_url": url,
               "lines": [{"text": "Hello there"}], "max_turns": 1}
    assert _post_caller(stack, call_id, message)[0] == 202
    other = web_call()
    refused = _post_caller(stack, other, {**message, "call_id": other})
    ready = requests.get(f"{stack.media.http_url}/readyz", timeout=5)
    # The caller's own web call still got in (the stream guard counts calls, not callers).
    row = stack.wait_ended(call_id, timeout=40)

    assert refused == (503, {"error": "capacity_exceeded", "message": "This media task is at capacity or draining."})
    assert media.stats.refused_callers == 1
    assert ready.status_code == 503 and ready.json()["status"] == "full" and ready.json()["callers"] == 1
    assert [m["content"] for m in row.data["messages"] if m["role"] == "user"] == ["Hello there"]
    wait_for(lambda: not media.callers, 5)
    assert requests.get(f"{stack.media.http_url}/readyz", timeout=5).json()["status"] == "ok"


async def test_web_call_serializer_speaks_the_sockets_protocol_from_the_browsers_side():
    from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame, TextFrame, TranscriptionFrame

    from media.evalcaller.pipecaller import SocketState, WebCallSerializer

    state = SocketState()
    wire = WebCallSerializer(state)
    pcm = bytes(range(256)) * 2 + bytes(128)  # 20 ms of PCM16 16 kHz: 640 bytes
    assert await wire.serialize(OutputAudioRawFrame(audio=pcm, sample_rate=16000, num_channels=1)) == pcm
    assert await wire.serialize(TextFrame(text="not for the wire")) is None
    heard = await wire.deserialize(pcm)
    assert isinstance(heard, InputAudioRawFrame) and (heard.audio, heard.sample_rate) == (pcm, 16000)
    line = await wire.deserialize('{"type": "transcript", "role": "assistant", "text": "Hi there.", "final": true}')
    assert isinstance(line, TranscriptionFrame) and (line.text, line.finalized) == ("Hi there.", True)
    assert await wire.deserialize('{"type": "transcript", "role": "user", "text": "me", "final": true}') is None
    assert await wire.deserialize('{"type": "speech-update", "role": "assistant", "status": "started"}') is None
    assert await wire.deserialize('{"type": "clear"}') is None
    assert await wire.deserialize('{"type": "call-ended", "reason": "assistant_hangup"}') is None
    assert (len(state.agent_audio_at), state.clears, state.end_reason) == (1, 1, "assistant_hangup")
    # With a recognizer as the ears, the transcript events are not what the caller hears.
    assert await WebCallSerializer(SocketState(), transcripts=False).deserialize(
        '{"type": "transcript", "role": "assistant", "text": "Hi there.", "final": true}') is None
