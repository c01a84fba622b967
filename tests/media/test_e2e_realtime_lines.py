"""Fixed lines in speech-to-speech (xai_realtime) calls, asserted on the wire.

Realtime mode has no TTS stage: every fixed line (silence prompts, fillers, transfer and async-tool
messages, goodbyes, the max-duration message) is a ``response.create`` whose instructions ask the model
to say the exact text. The fake model obeys (espeak-ng audio of exactly that text, and a transcript equal
to it), so these tests check the request the model got, the bytes the caller heard, and the stored row.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import pytest

from media.call.lines import FILLERS, GOODBYE, MAX_DURATION_MESSAGE, STILL_THERE
from media.providers.xai_realtime import say_instructions
from sandbox import audio
from sandbox.openai_llm import ToolCall
from tests.media.test_e2e_control import control


@pytest.fixture
def xai(stack, start_xai):
    return start_xai(first_audio_delay_ms=200)


def rt_cfg(marker: str, *, first: str | None = "Hello from Grok.", tools: list | None = None, **top) -> dict:
    llm: dict[str, Any] = {"provider": "xai_realtime", "voice": "eve",
                           "messages": [{"role": "system", "content": f"Grok agent. ref {marker}"}]}
    if tools:
        llm["tools"] = tools
    return {"first_message": first, "llm_config": llm, **top}


class Tap(deque):
    """Stands in for the test caller's playout queue and keeps every agent audio chunk with its arrival."""

    def __init__(self):
        super().__init__()
        self.chunks: list[tuple[float, bytes]] = []

    def append(self, item):
        if isinstance(item, bytes):
            self.chunks.append((time.monotonic(), item))
        super().append(item)

    def heard(self, after: float = 0.0, before: float = float("inf")) -> bytes:
        return b"".join(data for at, data in self.chunks if after <= at < before)


async def connect(stack, call_id: str, token: str):
    c = stack.caller(call_id, token)
    c._play = tap = Tap()
    await c.connect()
    return c, tap


def _norm(ulaw: bytes) -> bytes:
    # mu-law has two zeros (0x7f, 0xff); the pipeline's linear16 hop maps both to 0xff.
    return ulaw.replace(b"\x7f", b"\xff")


def spoken(fake, text: str) -> bytes:
    """The exact bytes the fake model sends for ``text`` (its espeak-ng rendering)."""
    return _norm(audio.speak(text, fake.voice))


def heard_line(tap: Tap, fake, text: str, after: float = 0.0) -> bool:
    return spoken(fake, text) in _norm(tap.heard(after))


def asked(session) -> list[str]:
    """Instructions of every response.create the model received ('' for a plain one)."""
    return [(m.get("response") or {}).get("instructions") or "" for m in session.received
            if m["type"] == "response.create"]


def outputs(session) -> list[dict[str, Any]]:
    return [m["item"] for m in session.received
            if m["type"] == "conversation.item.create" and m["item"].get("type") == "function_call_output"]


def assistant(row) -> list[str]:
    return [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]


def spoken_texts(session) -> list[str]:
    return [r["text"] for r in session.responses if r["status"] == "completed" and r["text"]]


def test_rt_silence_prompts_then_goodbye(stack, xai):
    call_id, token = stack.call(rt_cfg("rtsil", autonomous_silence_handling=True, silence_timeout_seconds=1))

    async def scenario():
        c, tap = await connect(stack, call_id, token)
        closed = await c.wait_closed(40)
        return tap, closed

    tap, closed = asyncio.run(scenario())
    assert closed
    row = stack.wait_ended(call_id)
    assert row.data["end_reason"] == "silence_timeout"
    (session,) = xai.sessions
    lines = [*STILL_THERE, GOODBYE]
    # Exactly one say-request per line, in order, after the greeting (a plain response.create).
    assert asked(session) == ["", *(say_instructions(line) for line in lines)]
    assert spoken_texts(session) == ["Hello from Grok.", *lines]
    assert assistant(row) == ["Hello from Grok.", *lines]
    for line in lines:
        assert heard_line(tap, xai, line), f"caller did not hear {line!r}"
    assert {"Status": "completed"} in stack.twilio_updates(call_id)


def test_rt_slow_tool_filler_then_result(stack, xai):
    hooks = stack.hooks
    hooks.replies["slowlookup"] = (1.8, {"result": "order 42 shipped"})
    tools = [{"type": "function", "name": "slowlookup", "description": "orders", "url": hooks.url("slowlookup")}]
    xai.add_rule(call_id="ref rtslow", contains="order", tool_calls=[ToolCall("slowlookup", {"id": "42"})])
    call_id, token = stack.call(rt_cfg("rtslow", tools=tools))

    async def scenario():
        c, tap = await connect(stack, call_id, token)
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        end = await c.speak("Where is my order?")
        await c.wait_agent_turn(end, quiet=2.5, timeout=15)
        await c.hang_up()
        return tap, end

    tap, end = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    (filler,) = row.data["fillers"]
    assert filler in FILLERS
    (session,) = xai.sessions
    assert say_instructions(filler) in asked(session)
    (out,) = outputs(session)
    assert out["output"] == '"order 42 shipped"'
    # The model answered the tool result after the filler: filler, then the reply, in that order.
    texts = spoken_texts(session)
    assert texts[-2:] == [filler, 'Okay, done: "order 42 shipped"']
    assert heard_line(tap, xai, filler, end) and heard_line(tap, xai, texts[-1], end)
    # The filler is spoken but not part of the conversation record; the tool call and result are.
    said = assistant(row)
    assert filler not in said and said[-1] == 'Okay, done: "order 42 shipped"'
    assert [m["name"] for m in row.data["messages"] if m["role"] == "tool_call"] == ["slowlookup"]
    assert len(hooks.bodies("slowlookup")) == 1


def test_rt_transfer_tool_with_message(stack, xai):
    msg = "Connecting you to billing."
    tools = [{"type": "transferCall", "destinations": [
        {"type": "number", "number": "+31201234567", "description": "billing", "message": msg}]}]
    xai.add_rule(call_id="ref rtxfer", contains="billing",
                 tool_calls=[ToolCall("transferCall", {"destination": "+31201234567"})])
    call_id, token = stack.call(rt_cfg("rtxfer", tools=tools))

    async def scenario():
        c, tap = await connect(stack, call_id, token)
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        end = await c.speak("I need billing please.")
        return tap, end, await c.wait_closed(20)

    tap, end, closed = asyncio.run(scenario())
    assert closed
    row = stack.wait_ended(call_id)
    assert row.data["end_reason"] == "transferred"
    assert row.data["transferred_to"] == "+31201234567"
    (update,) = stack.twilio_updates(call_id)
    assert "<Dial" in update["Twiml"] and "<Number>+31201234567</Number>" in update["Twiml"]
    (session,) = xai.sessions
    (out,) = outputs(session)
    assert '"transferring_to": "+31201234567"' in out["output"]
    assert asked(session)[-1] == say_instructions(msg)
    assert spoken_texts(session)[-1] == msg
    assert heard_line(tap, xai, msg, end)
    assert assistant(row)[-1] == msg


def test_rt_async_tool_speaks_async_response(stack, xai):
    hooks = stack.hooks
    hooks.replies["notify"] = (0.0, {"result": "queued"})
    ack = "I have sent that request."
    tools = [{"type": "function", "name": "notify", "description": "notify", "url": hooks.url("notify"),
              "async": True, "async_response": ack}]
    xai.add_rule(call_id="ref rtasync", contains="notify", tool_calls=[ToolCall("notify", {"who": "me"})])
    call_id, token = stack.call(rt_cfg("rtasync", tools=tools))

    async def scenario():
        c, tap = await connect(stack, call_id, token)
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        end = await c.speak("Please notify me.")
        await c.wait_agent_turn(end, quiet=1.5, timeout=15)
        await c.hang_up()
        return tap, end

    tap, end = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    (session,) = xai.sessions
    (out,) = outputs(session)
    assert out["output"] == '{"status": "accepted"}'
    assert asked(session)[-1] == say_instructions(ack)
    assert spoken_texts(session)[-1] == ack
    assert heard_line(tap, xai, ack, end)
    assert assistant(row)[-1] == ack
    (body,) = hooks.bodies("notify")
    assert body["message"]["tool_call_list"][0]["function"] == {"name": "notify", "arguments": {"who": "me"}}


def test_rt_end_call_tool_goodbye(stack, xai):
    bye = "Thanks for calling Acme, bye now."
    cfg = rt_cfg("rtbye", tools=[{"type": "endCall", "message": bye}])
    cfg["llm_config"]["model"] = "grok-voice-think-fast-1.0"
    call_id, token = stack.call(cfg)

    async def scenario():
        c, tap = await connect(stack, call_id, token)
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        end = await c.speak("Okay goodbye.")
        return tap, end, await c.wait_closed(15)

    tap, end, closed = asyncio.run(scenario())
    assert closed
    row = stack.wait_ended(call_id)
    assert row.data["end_reason"] == "assistant_hangup"
    (session,) = xai.sessions
    # The configured model, once, in a well-formed query (what a standard URL parser at xAI sees).
    (ws_request,) = [r for r in xai.requests if r["path"] == "/v1/realtime"]
    assert ws_request["query"] == {"model": ["grok-voice-think-fast-1.0"]}
    (out,) = outputs(session)
    assert out["output"] == '{"ok": true}'
    assert asked(session) == ["", say_instructions(bye)]
    assert heard_line(tap, xai, bye, end)
    assert assistant(row) == ["Hello from Grok.", bye]
    assert {"Status": "completed"} in stack.twilio_updates(call_id)


def test_rt_say_end_after_cancels_a_running_reply(stack, xai):
    # The fake streams audio at the pace it plays, so the long greeting is still being generated when
    # the command arrives: the closing line must cancel it first (response.cancel), then be said.
    xai.audio_pace = 1.0
    greeting = "Hello from Grok, I am going to tell you a rather long story about the weather in Paris today."
    bye = "This call will now end, goodbye."
    call_id, token = stack.call(rt_cfg("rtcut", first=greeting))

    async def scenario():
        c, tap = await connect(stack, call_id, token)
        while not c.log.media:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.8)
        sent = time.monotonic()
        status, body = await control(stack, call_id, {"type": "say", "content": bye, "end_after": True})
        assert (status, body["success"]) == (200, True)
        return c, tap, sent, await c.wait_closed(20)

    c, tap, sent, closed = asyncio.run(scenario())
    assert closed
    row = stack.wait_ended(call_id)
    assert row.data["end_reason"] == "control_end_call"
    (session,) = xai.sessions
    kinds = [m["type"] for m in session.received if m["type"] in ("response.create", "response.cancel")]
    assert kinds == ["response.create", "response.cancel", "response.create"]
    assert asked(session) == ["", say_instructions(bye)]
    assert [r["status"] for r in session.responses] == ["cancelled", "completed"]
    assert c.log.clears and c.log.clears[0] >= sent  # Twilio's buffer of the greeting was cleared
    assert heard_line(tap, xai, bye, sent)
    said = assistant(row)
    assert said[-1] == bye
    assert not any(s == greeting for s in said)  # the greeting was cut: only what was said is kept
    assert {"Status": "completed"} in stack.twilio_updates(call_id)


def test_rt_max_duration_message(stack, xai):
    call_id, token = stack.call(rt_cfg("rtmax", max_duration_seconds=3))

    async def scenario():
        c, tap = await connect(stack, call_id, token)
        return tap, await c.wait_closed(20)

    tap, closed = asyncio.run(scenario())
    assert closed
    row = stack.wait_ended(call_id)
    assert row.data["end_reason"] == "max_duration"
    assert 3 <= row.data["duration_seconds"] < 12
    (session,) = xai.sessions
    assert asked(session)[-1] == say_instructions(MAX_DURATION_MESSAGE)
    assert heard_line(tap, xai, MAX_DURATION_MESSAGE)
    assert assistant(row)[-1] == MAX_DURATION_MESSAGE


def test_rt_stored_line_is_what_the_model_said(stack, xai):
    # A real model follows "say exactly" approximately: the record keeps what the caller heard.
    xai.say_transform = lambda text: f"Sure. {text}"
    code = "Your code is four two seven."
    call_id, token = stack.call(rt_cfg("rtpara"))

    async def scenario():
        c, tap = await connect(stack, call_id, token)
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        sent = time.monotonic()
        status, _ = await control(stack, call_id, {"type": "say", "content": code})
        assert status == 200
        await c.wait_agent_turn(sent, timeout=10)
        await c.hang_up()
        return tap, sent

    tap, sent = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    (session,) = xai.sessions
    assert asked(session)[-1] == say_instructions(code)
    assert heard_line(tap, xai, f"Sure. {code}", sent)
    assert assistant(row)[-1] == f"Sure. {code}"


def test_rt_tool_result_during_filler_start_is_still_answered(stack, xai):
    # The tool result lands after the filler's response.create but before its response.created: the
    # filler response (told to say the filler only) does not answer it, so a response is still owed.
    xai.response_created_delay_ms = 800
    hooks = stack.hooks
    hooks.replies["slowlookup"] = (1.3, {"result": "order 42 shipped"})
    tools = [{"type": "function", "name": "slowlookup", "description": "orders", "url": hooks.url("slowlookup")}]
    xai.add_rule(call_id="ref rtrace", contains="order", tool_calls=[ToolCall("slowlookup", {})])
    call_id, token = stack.call(rt_cfg("rtrace", tools=tools))

    async def scenario():
        c, tap = await connect(stack, call_id, token)
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        end = await c.speak("Where is my order?")
        await c.wait_agent_turn(end, quiet=3.0, timeout=15)
        await c.hang_up()
        return tap, end

    tap, end = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    (filler,) = row.data["fillers"]
    (session,) = xai.sessions
    kinds = [m["type"] for m in session.received
             if m["type"] == "response.create" or m.get("item", {}).get("type") == "function_call_output"]
    # greeting, filler, the tool result, then the model's answer to it
    assert kinds[-3:] == ["response.create", "conversation.item.create", "response.create"]
    assert asked(session)[-2:] == [say_instructions(filler), ""]
    assert spoken_texts(session)[-2:] == [filler, 'Okay, done: "order 42 shipped"']
    assert heard_line(tap, xai, 'Okay, done: "order 42 shipped"', end)
    assert assistant(row)[-1] == 'Okay, done: "order 42 shipped"'


def test_rt_say_mid_reply_is_queued_behind_it(stack, xai):
    # A plain `say` (no end_after) does not cut the model off, as in the cascade (TTSSpeakFrame queues):
    # no response.cancel; the line's response.create goes out once the running response is done, and
    # the caller hears the whole reply, then the line.
    xai.audio_pace = 1.0
    greeting = "Hello from Grok, thank you for calling the Acme weather line today."
    code = "Your code is four two seven."
    call_id, token = stack.call(rt_cfg("rtq", first=greeting))

    async def scenario():
        c, tap = await connect(stack, call_id, token)
        while not c.log.media:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)
        sent = time.monotonic()
        status, _ = await control(stack, call_id, {"type": "say", "content": code})
        assert status == 200
        await c.wait_agent_turn(sent, quiet=1.0, timeout=15)
        await c.hang_up()
        return c, tap, sent

    c, tap, sent = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    (session,) = xai.sessions
    assert "response.cancel" not in [m["type"] for m in session.received]
    assert asked(session) == ["", say_instructions(code)]
    say_at = next(t for m, t in zip(session.received, session.received_at, strict=True)
                  if m["type"] == "response.create" and (m.get("response") or {}).get("instructions"))
    greeting_done = next(t for m, t in zip(session.sent, session.sent_at, strict=True) if m["type"] == "response.done")
    assert sent < greeting_done <= say_at  # the command came mid-reply; the line waited for the reply
    assert spoken_texts(session) == [greeting, code]
    heard = _norm(tap.heard())
    assert heard.index(spoken(xai, greeting)) < heard.index(spoken(xai, code))
    assert not c.log.clears
    assert assistant(row) == [greeting, code]
