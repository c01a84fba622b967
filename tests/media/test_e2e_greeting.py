"""The first message streamed onto the wire (issue 14 item 5): synthesis starts at ring time, or at
``start`` when there was no ring, and playback starts with the first chunk. Asserted on the bytes the
simulated caller received and on the stored transcript, not on timings."""

from __future__ import annotations

import asyncio

from sandbox.elevenlabs_tts import render
from tests.media.conftest import ORG, OTHER_ORG
from tests.media.test_e2e_control import control

FIRST = "Hello, this is Acme support. How can I help you today?"
ASSISTANT = {
    "first_message": FIRST,
    "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                   "messages": [{"role": "system", "content": "You are Acme's phone agent."}]},
    "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"},
}


async def _heard_greeting(stack, call_id: str, token: str, *, prepare: bool = False,
                          org_id: str = ORG) -> tuple[bytes, float]:
    """Place the call (after a ring-time prepare when asked, with no ring to wait through), wait for the
    greeting, hang up; returns (every agent byte the caller received, stream start time)."""
    if prepare:
        status, _ = await control(stack, call_id, {"org_id": ORG}, path="prepare")
        assert status == 202
        for _ in range(200):  # the ring ends once the synthesis has started
            if _greeting_requests(stack):
                break
            await asyncio.sleep(0.01)
    c = stack.caller(call_id, token, org_id=org_id)
    heard: list[bytes] = []
    c._play = heard  # the caller's sink: every media payload, decoded, in arrival order (cleared on `clear`)
    await c.connect()
    assert await c.wait_agent_turn(c.log.started_at, timeout=10, quiet=1.0) is not None, "no greeting"
    await c.hang_up()
    assert not c.log.clears
    return b"".join(heard), c.log.started_at


def _expected(stack) -> bytes:
    audio, _ = render(FIRST, "ulaw_8000", stack.tts.voice)
    return audio


def _greeting_requests(stack) -> list[dict]:
    return [r for r in stack.tts.http_requests if r["text"] == FIRST]


def test_greeting_without_ring_is_synthesized_at_start_and_arrives_whole_and_in_order(stack):
    call_id, token = stack.call(ASSISTANT, direction="inbound")
    heard, started = asyncio.run(_heard_greeting(stack, call_id, token))
    assert heard == _expected(stack)
    [request] = _greeting_requests(stack)
    assert request["at"] >= started and request["output_format"] == "ulaw_8000"
    row = stack.wait_ended(call_id)
    assert row.data["messages"][0] == {"role": "assistant", "content": FIRST}
    assert sum(m["role"] == "assistant" for m in row.data["messages"]) == 1  # said once, not again by the TTS
    assert row.data["latency"]["greeting_ms"] is not None


def test_greeting_still_arriving_when_the_stream_starts_plays_as_it_comes(stack):
    # The TTS's first byte comes well after the stream started: the stream must not wait for a
    # preparation's whole clip, it plays what arrives.
    stack.tts.first_byte_delay_ms = 800
    call_id, token = stack.call(ASSISTANT)
    heard, started = asyncio.run(_heard_greeting(stack, call_id, token, prepare=True))
    assert heard == _expected(stack)
    [request] = _greeting_requests(stack)  # synthesized once, at ring time
    assert request["at"] < started
    row = stack.wait_ended(call_id)
    assert [m for m in row.data["messages"] if m["role"] == "assistant"] == [{"role": "assistant", "content": FIRST}]


def test_static_first_message_is_synthesized_once_per_process_and_org(stack):
    first_id, first_token = stack.call(ASSISTANT, direction="inbound")
    heard_first, _ = asyncio.run(_heard_greeting(stack, first_id, first_token))
    again_id, again_token = stack.call(ASSISTANT, direction="inbound")
    heard_again, _ = asyncio.run(_heard_greeting(stack, again_id, again_token))
    assert heard_first == heard_again == _expected(stack)
    assert len(_greeting_requests(stack)) == 1  # the second call played the cached audio
    # Another org's call with the same assistant config gets its own synthesis (nothing crosses orgs).
    other_id, other_token = stack.call(ASSISTANT, org_id=OTHER_ORG, direction="inbound")
    heard_other, _ = asyncio.run(_heard_greeting(stack, other_id, other_token, org_id=OTHER_ORG))
    assert heard_other == _expected(stack)
    assert len(_greeting_requests(stack)) == 2
    for call_id, org in ((first_id, ORG), (again_id, ORG), (other_id, OTHER_ORG)):
        row = stack.wait_ended(call_id, org_id=org)
        assert row.data["messages"][0] == {"role": "assistant", "content": FIRST}
