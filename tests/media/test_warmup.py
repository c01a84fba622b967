"""Ring-time warm-up: provider connections opened by /prepare and adopted by the call (media/providers/warm.py).

The fakes emulate TLS + round trips with ``connect_delay_ms`` on every new TCP connection / WebSocket
handshake, so a call that opens its connections itself pays it and a prepared call does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time

import pytest

from media.call.prepared import Prepared
from media.call.session import CallSession
from media.settings import reset_media_settings
from tests.media.conftest import (
    ORG,
    ServerThread,
    Stack,
    point_media_at,
    upgrades_offering_deflate,
    wait_for,
)
from tests.media.test_e2e_control import control

CONNECT_MS = 250
ASSISTANT = {
    "first_message": "Hi, this is Acme.",
    "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                   "messages": [{"role": "system", "content": "You are Acme's phone agent."}]},
    "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"},
}
REPLY = "Your order ships tomorrow."


class Fakes:
    """Deepgram, OpenAI and ElevenLabs fakes with a connection-setup delay; restartable on the same ports."""

    def __init__(self, connect_ms: float, dg_idle_s: float = 10.0):
        self.connect_ms, self.dg_idle_s = connect_ms, dg_idle_s
        self.ports: dict[str, int] = {"dg": 0, "oa": 0, "tts": 0}
        self.start()

    def start(self) -> None:
        from sandbox.deepgram import FakeDeepgram
        from sandbox.elevenlabs_tts import FakeElevenLabsStream
        from sandbox.openai_llm import FakeOpenAI

        self.dg = FakeDeepgram(final_delay_ms=150, idle_timeout_s=self.dg_idle_s, port=self.ports["dg"],
                               connect_delay_ms=self.connect_ms).start()
        self.oa = FakeOpenAI(first_token_delay_ms=300, token_delay_ms=10, port=self.ports["oa"],
                             connect_delay_ms=self.connect_ms).start()
        self.tts = FakeElevenLabsStream(first_byte_delay_ms=100, port=self.ports["tts"],
                                        connect_delay_ms=self.connect_ms).start()
        self.ports = {"dg": self.dg.port, "oa": self.oa.port, "tts": self.tts.port}
        self.oa.add_rule(contains="order", text=REPLY)

    def stop(self) -> None:
        for fake in (self.dg, self.oa, self.tts):
            fake.stop()


@contextlib.contextmanager
def warm_stack(monkeypatch, connect_ms: float = CONNECT_MS, dg_idle_s: float = 10.0):
    """Fakes + a fresh media server (a fresh event loop, so a cold LLM connection pool)."""
    from sandbox.twilio import FakeTwilio

    monkeypatch.setenv("MEDIA_SPECULATIVE_REPLIES", "false")  # one LLM request per turn: a clean figure
    fakes = Fakes(connect_ms, dg_idle_s)
    tw = FakeTwilio().start()
    point_media_at(monkeypatch, dg=fakes.dg, oa=fakes.oa, tts=fakes.tts, tw=tw)
    server = ServerThread().start()
    try:
        yield Stack(server, fakes.dg, fakes.oa, fakes.tts, tw, None), fakes
    finally:
        server.stop()
        fakes.stop()
        tw.stop()


async def prepare(st: Stack, call_id: str) -> None:
    status, body = await control(st, call_id, {"org_id": ORG}, path="prepare")
    assert status == 202 and body["success"] is True
    for _ in range(200):
        if call_id in st.media.media.prepared:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("prepare did not finish")


async def first_turn(st: Stack, call_id: str, token: str) -> tuple[float, float]:
    """Greeting, one caller line, the agent's answer; returns (stream start, first-turn voice-to-voice s)."""
    c = st.caller(call_id, token)
    await c.connect()
    assert await c.wait_agent_turn(c.log.started_at, timeout=10) is not None
    end = await c.speak("Where is my order?")
    first = await c.wait_agent_turn(end, timeout=10)
    await c.hang_up()
    assert first is not None, "no answer"
    return c.log.started_at, first - end


def live(cls: type) -> list:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, cls)]


def ws_connections(fake, path_part: str) -> list[dict]:
    return [c for c in fake.connections if any(path_part in p for p in c["paths"])]


def test_prepared_call_adopts_ring_time_connections_and_first_turn_skips_setup(aws, media_env, monkeypatch):
    with warm_stack(monkeypatch) as (st, _):
        call_id, token = st.call(ASSISTANT)
        cold_started, cold_v2v = asyncio.run(first_turn(st, call_id, token))
        row = st.wait_ended(call_id)
        assert ("assistant", REPLY) in [(m["role"], m["content"]) for m in row.data["messages"]]
        # Without prepare every provider connection is opened after the stream started: the first turn
        # pays the LLM's connection setup (CONNECT_MS in the fake).
        [cold_llm] = st.openai.connections
        assert cold_llm["opened_at"] > cold_started

    with warm_stack(monkeypatch) as (st, _):
        call_id, token = st.call(ASSISTANT)

        async def scenario():
            await prepare(st, call_id)
            await asyncio.sleep(0.3)  # the phone rings a little longer
            return await first_turn(st, call_id, token)

        started, warm_v2v = asyncio.run(scenario())
        row = st.wait_ended(call_id)
        msgs = [(m["role"], m["content"]) for m in row.data["messages"]]
        assert msgs[0] == ("assistant", ASSISTANT["first_message"])
        assert ("user", "Where is my order?") in msgs and ("assistant", REPLY) in msgs

        # LLM: one connection, opened at ring time by the warm-up request and reused by the completion.
        assert len(st.openai.connections) == 1
        llm = st.openai.connections[0]
        assert llm["opened_at"] < started
        assert llm["paths"] == ["/v1/models", "/v1/chat/completions"]
        # STT: the call's only Deepgram socket was opened before Twilio's start and carried the call.
        listen = ws_connections(st.deepgram, "/v1/listen")
        assert len(listen) == 1 and listen[0]["opened_at"] < started
        assert len(st.deepgram.sessions) == 1
        session = st.deepgram.sessions[0]
        assert session.call_id == call_id and session.audio_bytes > 0
        assert session.transcripts == ["Where is my order?"]
        # TTS: the call's only stream-input socket was opened before the start and spoke the reply.
        streams = ws_connections(st.tts, "multi-stream-input")
        assert len(streams) == 1 and streams[0]["opened_at"] < started
        assert len(st.tts.sessions) == 1
        assert REPLY in [t for ctx in st.tts.sessions[0].contexts.values() for t in ctx.generated]
        assert upgrades_offering_deflate(st.deepgram, st.tts) == (2, 0)  # ring-time sockets: no deflate either
        # The adopted sockets are closed with the call, like sockets the services open themselves.
        wait_for(lambda: not st.deepgram._sockets and not st.tts._sockets, 5)
        assert st.deepgram.sessions[0].received_control[-1] == {"type": "CloseStream"}
        # Nothing of the ended call stays in memory (the TTL timer once pinned it, pipeline and all, for 3 min).
        wait_for(lambda: not live(Prepared) and not live(CallSession), 5)

    # The time this saves is a figure (bench/warmup.py), not asserted: on a loaded machine it drowns.
    print(f"first-turn v2v: prepared {warm_v2v * 1000:.0f} ms, unprepared {cold_v2v * 1000:.0f} ms")


def test_unanswered_prepared_call_keeps_sockets_alive_then_closes_them_at_ttl(aws, media_env, monkeypatch):
    import media.prepared_calls
    import media.providers.ringtime

    # Counted from the moment prepare published the call (the greeting may still be synthesizing then).
    monkeypatch.setattr(media.prepared_calls, "PREPARED_TTL_SECONDS", 3.0)
    monkeypatch.setattr(media.providers.ringtime, "KEEPALIVE_SECONDS", 0.3)
    # Deepgram drops a socket idle for this long: only the KeepAlives keep it open until the TTL.
    with warm_stack(monkeypatch, connect_ms=0, dg_idle_s=0.8) as (st, _):
        call_id, _token = st.call(ASSISTANT)

        async def scenario():
            await prepare(st, call_id)
            assert len(st.deepgram._sockets) == 1 and len(st.tts._sockets) == 1
            await asyncio.sleep(1.5)
            open_mid_way = (len(st.deepgram._sockets), len(st.tts._sockets))
            deadline = time.monotonic() + 5
            while (st.deepgram._sockets or st.tts._sockets) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return open_mid_way

        assert asyncio.run(scenario()) == (1, 1)
        assert not st.deepgram._sockets and not st.tts._sockets
        assert call_id not in st.media.media.prepared
        dg = st.deepgram.sessions[0]
        assert sum(m.get("type") == "KeepAlive" for m in dg.received_control) >= 3
        assert dg.received_control[-1] == {"type": "CloseStream"} and dg.closed_code == 1000
        assert dg.audio_bytes == 0
        tts = st.tts.sessions[0]
        assert sum(m == {"text": ""} for m in tts.received) >= 3
        assert tts.received[-1] == {"close_socket": True} and tts.close_code == 1000
        assert not tts.contexts


def test_failed_warm_up_falls_back_to_connecting_at_call_start(aws, media_env, monkeypatch):
    with warm_stack(monkeypatch, connect_ms=50) as (st, fakes):
        call_id, token = st.call(ASSISTANT)
        fakes.stop()  # every provider is down while the phone rings

        async def ring():
            await prepare(st, call_id)
            warm = st.media.media.prepared[call_id].warm
            assert warm is not None and not warm.llm_warm and set(warm.services) <= {"llm"}  # no socket to adopt
            assert all(h.conn is None for h in warm.held.values())

        asyncio.run(ring())
        fakes.start()  # back (same ports) by the time the caller answers
        st.deepgram, st.openai, st.tts = fakes.dg, fakes.oa, fakes.tts
        started, v2v = asyncio.run(first_turn(st, call_id, token))
        row = st.wait_ended(call_id)
        msgs = [(m["role"], m["content"]) for m in row.data["messages"]]
        assert msgs[0] == ("assistant", ASSISTANT["first_message"])  # spoken by the pipeline's TTS
        assert ("assistant", REPLY) in msgs and row.data["end_reason"] == "customer_hangup"
        for fake, part in ((fakes.dg, "/v1/listen"), (fakes.oa, "/chat/completions"),
                           (fakes.tts, "multi-stream-input")):
            conns = ws_connections(fake, part)
            assert len(conns) == 1 and conns[0]["opened_at"] > started


@pytest.mark.parametrize("provider", ["openai", "xai", "mistral"])
def test_llm_services_share_one_pooled_client_per_loop(provider, media_env):
    from pipecat.services.openai.base_llm import BaseOpenAILLMService

    from media.plan import build_plan
    from media.providers.factory import build_llm

    cfg = {**ASSISTANT, "llm_config": {"provider": provider, "model": "m"}}
    plan = build_plan(ORG, "call-1", "outbound", {"config": cfg, "caller_phone": "+31612345678"})

    async def build_two() -> tuple[BaseOpenAILLMService, BaseOpenAILLMService]:
        a, b = build_llm(plan, "k1"), build_llm(plan, "k2")
        assert isinstance(a, BaseOpenAILLMService) and isinstance(b, BaseOpenAILLMService)
        return a, b

    a, b = asyncio.run(build_two())
    assert a._client._client is b._client._client  # one HTTP pool, per-request keys
    assert a._client.api_key == "k1" and b._client.api_key == "k2"
    c, _ = asyncio.run(build_two())  # another loop: its own pool
    assert c._client._client is not a._client._client
    assert type(a).__name__ == {"openai": "OpenAILLMService", "xai": "GrokLLMService",
                                "mistral": "MistralLLMService"}[provider]


def test_prepared_callee_speaks_first_with_speculation_opens_nothing_after_start(aws, media_env, monkeypatch):
    """Outbound "Hello?" at answer, speculative replies on: two LLM connections are warmed (a withdrawn
    guess overlaps the real request) and the call opens no provider connection after Twilio's start."""
    with warm_stack(monkeypatch) as (st, _):
        monkeypatch.setenv("MEDIA_SPECULATIVE_REPLIES", "true")
        reset_media_settings()  # the server read its settings at start (with speculation off)
        call_id, token = st.call({k: v for k, v in ASSISTANT.items() if k != "first_message"})

        async def scenario():
            await prepare(st, call_id)
            assert [c["paths"] for c in st.openai.connections] == [["/v1/models"], ["/v1/models"]]
            c = st.caller(call_id, token)
            await c.connect()
            end = await c.speak("Where is my order?")
            first = await c.wait_agent_turn(end, timeout=10)
            await c.hang_up()
            return c.log.started_at, first

        started, first = asyncio.run(scenario())
        assert first is not None
        row = st.wait_ended(call_id)
        assert ("assistant", REPLY) in [(m["role"], m["content"]) for m in row.data["messages"]]
        late = [(f.name, c["paths"]) for f in (st.deepgram, st.openai, st.tts) for c in f.connections
                if c["opened_at"] > started]
        assert late == []
