"""Ring-time greetings stored with the call: the task that gets the stream plays the greeting another
task prepared (docs/media.md, "Greeting store"); storage rules of ``chalicelib.storage.greetings``."""

from __future__ import annotations

import asyncio

from chalicelib.models.media import PreparedGreeting
from chalicelib.services import media_gateway
from chalicelib.storage.greetings import MAX_GREETING_BYTES, GreetingRepository, StoredGreeting
from media.call.prepared import greeting_for
from media.plan import build_plan
from media.providers.greeting import greeting_fingerprint
from tests.media.conftest import ORG, OTHER_ORG, ServerThread, Stack
from tests.media.test_e2e_control import control

ASSISTANT = {
    "first_message": "Hello, this is Acme support. How can I help?",
    "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                   "messages": [{"role": "system", "content": "You are Acme's phone agent."}]},
    "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"},
}


async def _greeted(st: Stack, call_id: str, token: str) -> tuple[float, int, list[str]]:
    """Stream to ``st.media``; (greeting delay after start s, bytes of agent audio heard, marks)."""
    c = st.caller(call_id, token)
    await c.connect()
    heard = await c.wait_agent_turn(c.log.started_at, timeout=10)
    await c.hang_up()
    assert heard is not None, "no greeting"
    first = c.first_audio_after(c.log.started_at)
    assert first is not None
    return first - c.log.started_at, sum(r.nbytes for r in c.log.media), list(c.log.marks_sent)


def test_greeting_prepared_on_one_task_plays_at_once_on_the_task_that_gets_the_stream(stack):
    other = ServerThread().start()  # a second media task on the same store
    try:
        call_id, token = stack.call(ASSISTANT)

        async def prepare_on_first_task() -> None:
            status, _ = await control(stack, call_id, {"org_id": ORG}, path="prepare")
            assert status == 202
            for _ in range(200):
                if call_id in stack.media.media.prepared:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("prepare did not finish")

        asyncio.run(prepare_on_first_task())
        stored = GreetingRepository().get(ORG, call_id)
        assert stored is not None and len(stored.audio) > 8000  # over a second of mu-law
        assert [r["text"] for r in stack.tts.http_requests] == [ASSISTANT["first_message"]]

        receiving = Stack(other, stack.deepgram, stack.openai, stack.tts, stack.twilio, stack.hooks)
        delay, heard_bytes, marks = asyncio.run(_greeted(receiving, call_id, token))

        print(f"greeting {delay * 1000:.0f} ms after start")  # a figure (bench/deploy_greeting.py), not asserted
        # The bytes on the wire are the stored audio, sent as the ring-time greeting (one mark per
        # 100 ms chunk), and the receiving task synthesized nothing itself.
        assert heard_bytes == len(stored.audio)
        chunks = -(-len(stored.audio) // 800)
        assert marks == [f"greet-{i}" for i in range(chunks)]
        assert [r["text"] for r in stack.tts.http_requests] == [ASSISTANT["first_message"]]
        row = stack.wait_ended(call_id)
        assert row.data["messages"][0] == {"role": "assistant", "content": ASSISTANT["first_message"]}
        assert row.data["latency"]["greeting_ms"] is not None
        assert row.data["control_url"] == other.http_url  # the task that took the stream owns the call
        # The caller's greeting is not kept once the call started.
        assert GreetingRepository().get(ORG, call_id) is None
    finally:
        other.stop()


def test_stored_greeting_for_another_voice_is_not_played(stack):
    call_id, token = stack.call(ASSISTANT)
    plan = build_plan(ORG, call_id, "outbound", stack.row(call_id).data)
    wrong = {**ASSISTANT["tts_config"], "voice_id": "voice-2"}
    other_plan = build_plan(ORG, call_id, "outbound", {**stack.row(call_id).data,
                                                       "config": {**ASSISTANT, "tts_config": wrong}})
    assert greeting_fingerprint(other_plan) != greeting_fingerprint(plan)
    stale = b"\x7f" * 4000  # what another voice would have said: must never reach the caller
    media_gateway.store_greeting(PreparedGreeting(org_id=ORG, call_id=call_id,
                                                  fingerprint=greeting_fingerprint(other_plan), audio=stale))

    delay, heard_bytes, _ = asyncio.run(_greeted(stack, call_id, token))

    # Synthesized at answer in the call's own voice instead.
    assert [r["text"] for r in stack.tts.http_requests] == [ASSISTANT["first_message"]]
    assert heard_bytes != len(stale)
    row = stack.wait_ended(call_id)
    assert row.data["messages"][0] == {"role": "assistant", "content": ASSISTANT["first_message"]}
    print(f"greeting synthesized at answer: {delay * 1000:.0f} ms after start")


def test_greeting_store_is_per_org_expires_and_refuses_oversized_audio(aws):
    call_id = "33333333-3333-4333-8333-333333333333"
    greeting = PreparedGreeting(org_id=ORG, call_id=call_id, fingerprint="f" * 64, audio=b"\x01" * 1600)
    assert media_gateway.store_greeting(greeting) is True
    assert media_gateway.load_greeting(ORG, call_id) == greeting
    assert media_gateway.load_greeting(OTHER_ORG, call_id) is None  # another org's call: nothing

    repo = GreetingRepository()
    big = StoredGreeting(ORG, "big", "f", b"\x01" * (MAX_GREETING_BYTES + 1))
    assert repo.put(big, 60) is False and repo.get(ORG, "big") is None
    # DynamoDB's TTL deletes lazily: an expired item still stored is not returned.
    repo.put(StoredGreeting(ORG, "old", "f", b"\x01" * 10), -1)
    assert repo.get(ORG, "old") is None

    plan = build_plan(ORG, call_id, "outbound", {"config": ASSISTANT, "first_message": ASSISTANT["first_message"]})
    matching = PreparedGreeting(org_id=ORG, call_id=call_id, fingerprint=greeting_fingerprint(plan), audio=b"a")
    assert greeting_for(plan, matching) == b"a"
    assert greeting_for(plan, matching.model_copy(update={"org_id": OTHER_ORG})) is None
    assert greeting_for(plan, None) is None
