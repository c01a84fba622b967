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
from tests.media.conftest import ORG
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
    prompt = Persona(ORG, PERSONA, "en-GB").system_prompt()
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
    _, slow = CallerVoice(ORG, None, "pt-BR", 0.5).request("Oi")
    url, fast = CallerVoice(ORG, "v1", None, 2.0).request("Hi")
    assert slow["voice_settings"] == {"speed": 0.7} and slow["language_code"] == "pt"
    assert fast["voice_settings"] == {"speed": 1.2} and "language_code" not in fast
    assert url.endswith("/v1/text-to-speech/v1/stream?output_format=pcm_16000")


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
    prompt = Persona(ORG, PERSONA, "en").system_prompt()
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
    assert caller.peer.clears >= 1  # the server stopped the agent's audio: the caller spoke over it
    row = stack.wait_ended(call_id)
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    cut = next(t for t in said if t.startswith("This is a long answer"))
    assert len(cut) < len(long_reply)  # only what was heard before the barge-in
