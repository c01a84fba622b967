"""Ring-time warm-up for speech-to-speech calls (xai_realtime): the socket opened by /prepare is adopted.

The xAI fake emulates TLS + round trips with ``connect_delay_ms`` on the WebSocket handshake, so a call
that connects itself pays it after Twilio's start and a prepared call does not.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.media.conftest import ORG, ServerThread, Stack, point_media_at, wait_for
from tests.media.test_warmup import prepare

CONNECT_MS = 250
GREETING = "Hello from Grok."
ASSISTANT = {"first_message": GREETING,
             "llm_config": {"provider": "xai_realtime", "voice": "ara",
                            "messages": [{"role": "system", "content": "Grok agent. ref warmrt"}]}}
CALLEE_FIRST = {k: v for k, v in ASSISTANT.items() if k != "first_message"}  # no greeting to pre-generate
REPLY = "Your order ships tomorrow."


@contextlib.contextmanager
def rt_stack(monkeypatch, connect_ms: float = CONNECT_MS, **fake_kw):
    """xAI realtime fake + Twilio fake + a fresh media server."""
    from sandbox.registry import REGISTRY
    from sandbox.twilio import FakeTwilio
    from sandbox.xai_realtime import FakeXAIRealtime

    REGISTRY.clear()  # the realtime fake pairs a connection with the oldest unclaimed registration
    fake_kw.setdefault("first_audio_delay_ms", 150)
    xai = FakeXAIRealtime(connect_delay_ms=connect_ms, **fake_kw).start()
    xai.add_rule(contains="order", text=REPLY)
    tw = FakeTwilio().start()
    point_media_at(monkeypatch, tw=tw, xai=xai)
    server = ServerThread().start()
    holder = {"xai": xai}
    forget_keys()
    try:
        yield Stack(server, None, None, None, tw, None), holder
    finally:
        server.stop()
        holder["xai"].stop()
        tw.stop()
        forget_keys()  # a rotated key must not outlive the test


async def greet_and_turn(st: Stack, call_id: str, token: str) -> tuple[float, float, float]:
    """Greeting, one caller line, the agent's answer; (stream start, greeting audio, answer audio)."""
    c = st.caller(call_id, token)
    await c.connect()
    greeting = await c.wait_agent_turn(c.log.started_at, timeout=10)
    assert greeting is not None, "no greeting"
    end = await c.speak("Where is my order?")
    answer = await c.wait_agent_turn(end, timeout=10)
    await c.hang_up()
    assert answer is not None, "no answer"
    return c.log.started_at, greeting, answer


async def caller_first_turn(st: Stack, call_id: str, token: str) -> tuple[float, float]:
    """The caller speaks first; (stream start, answer audio)."""
    c = st.caller(call_id, token)
    await c.connect()
    await asyncio.sleep(0.2)  # "hello?" after picking up
    end = await c.speak("Where is my order?")
    answer = await c.wait_agent_turn(end, timeout=10)
    await c.hang_up()
    assert answer is not None, "no answer"
    return c.log.started_at, answer


def forget_keys() -> None:
    """Empty the in-process provider-key cache (a changed key is seen at once)."""
    import chalicelib.services.byok as byok

    with byok._lock:
        byok._cache.clear()


def rotate_key(monkeypatch) -> None:
    """The org's xAI key changes."""
    monkeypatch.setenv("XAI_API_KEY", "rotated-key")
    forget_keys()


def _realtime_conns(xai) -> list[dict]:
    return [c for c in xai.connections if any("/v1/realtime" in p for p in c["paths"])]


def _setup_events(session) -> list[str]:
    """The first client events other than caller audio (session set-up and the greeting's response)."""
    return [m["type"] for m in session.received if m["type"] != "input_audio_buffer.append"][:4]


def _check_transcript(row) -> None:
    msgs = [(m["role"], m["content"]) for m in row.data["messages"]]
    assert msgs.count(("assistant", GREETING)) == 1
    assert ("user", "Where is my order?") in msgs and ("assistant", REPLY) in msgs


def _without_empty_tools(session_update: dict) -> dict:
    return {k: v for k, v in session_update.items() if not (k == "tools" and not v)}


def test_prepared_realtime_call_adopts_ring_time_socket(aws, media_env, monkeypatch):
    """No first message (the callee speaks first): the socket opened at prepare is the call's only one."""
    cfg = CALLEE_FIRST
    with rt_stack(monkeypatch) as (st, fakes):
        call_id, token = st.call(cfg)
        cold_start, _ = asyncio.run(caller_first_turn(st, call_id, token))
        row = st.wait_ended(call_id)
        assert ("assistant", REPLY) in [(m["role"], m["content"]) for m in row.data["messages"]]
        conns = _realtime_conns(fakes["xai"])
        assert len(conns) == 1 and conns[0]["opened_at"] > cold_start  # unprepared: connects after start
        (cold_session,) = fakes["xai"].sessions
        cold_update = cold_session.received[0]

    with rt_stack(monkeypatch) as (st, fakes):
        xai = fakes["xai"]
        call_id, token = st.call(cfg)

        async def scenario():
            await prepare(st, call_id)
            warm = st.media.media.prepared[call_id].warm
            assert warm is not None and set(warm.services) == {"llm"} and warm.held["llm"].conn is not None
            await asyncio.sleep(0.3)  # the phone rings a little longer
            assert len(xai.sessions) == 1 and xai.sessions[0].received == []  # open, nothing sent yet
            return await caller_first_turn(st, call_id, token)

        started, answer = asyncio.run(scenario())
        row = st.wait_ended(call_id)
        msgs = [(m["role"], m["content"]) for m in row.data["messages"]]
        assert msgs[-2:] == [("user", "Where is my order?"), ("assistant", REPLY)]
        # One socket, opened before Twilio's start, carried the whole call.
        conns = _realtime_conns(xai)
        assert len(conns) == 1 and conns[0]["opened_at"] < started
        (session,) = xai.sessions
        assert session.headers["authorization"].startswith("Bearer ")
        assert "deflate" not in session.headers.get("sec-websocket-extensions", "")
        assert session.query.get("model") == "grok-voice-latest"
        # The adopted service set the session up itself on the replayed conversation.created, exactly
        # as a service that connected at pipeline start does.
        assert cold_update["type"] == session.received[0]["type"] == "session.update"
        upd = session.received[0]["session"]
        # Pipecat's session.update sends `tools: []` when the call's context reached the service first and
        # no `tools` when conversation.created did (a race in either path): both mean "no tools".
        assert _without_empty_tools(upd) == _without_empty_tools(cold_update["session"])
        assert upd["voice"] == "ara" and upd["audio"]["output"]["format"]["type"] == "audio/pcmu"
        assert session.transcripts == ["Where is my order?"]
        assert [r["text"] for r in session.responses][-1] == REPLY
        # Closed with the call, like a socket the service opens itself.
        wait_for(lambda: not xai._sockets, 5)
        assert not st.media.media.prepared


def test_unanswered_prepared_realtime_call_stays_open_then_closes_at_ttl(aws, media_env, monkeypatch):
    import media.prepared_calls

    # 4 s: the check at 1.5 s keeps a wide margin on a loaded machine.
    monkeypatch.setattr(media.prepared_calls, "PREPARED_TTL_SECONDS", 4.0)
    # Pings every 0.2 s while ringing: the ring-time reader drains them, the socket stays healthy.
    with rt_stack(monkeypatch, connect_ms=0, ping_interval_s=0.2) as (st, fakes):
        xai = fakes["xai"]
        call_id, _token = st.call(CALLEE_FIRST)

        async def scenario():
            await prepare(st, call_id)
            assert len(xai._sockets) == 1
            await asyncio.sleep(1.5)
            return len(xai._sockets)

        assert asyncio.run(scenario()) == 1  # open mid-way through the TTL
        wait_for(lambda: not xai._sockets, 8)
        assert call_id not in st.media.media.prepared
        (session,) = xai.sessions
        assert session.types_sent().count("ping") >= 5
        assert session.received == [] and session.responses == []  # nothing set up, nothing generated


def test_failed_realtime_warm_up_falls_back_to_connecting_at_call_start(aws, media_env, monkeypatch):
    from sandbox.xai_realtime import FakeXAIRealtime

    with rt_stack(monkeypatch, connect_ms=50) as (st, fakes):
        port = fakes["xai"].port
        call_id, token = st.call(ASSISTANT)
        fakes["xai"].stop()  # xAI is down while the phone rings

        async def ring():
            await prepare(st, call_id)
            warm = st.media.media.prepared[call_id].warm
            assert warm is not None and warm.services == {}  # nothing to adopt
            assert warm.held["llm"].conn is None

        asyncio.run(ring())
        xai = fakes["xai"] = FakeXAIRealtime(port=port, first_audio_delay_ms=150).start()  # back at answer
        xai.add_rule(contains="order", text=REPLY)
        started, _, _ = asyncio.run(greet_and_turn(st, call_id, token))
        row = st.wait_ended(call_id)
        _check_transcript(row)
        assert row.data["end_reason"] == "customer_hangup"
        conns = _realtime_conns(xai)
        assert len(conns) == 1 and conns[0]["opened_at"] > started


def test_realtime_ring_socket_not_adopted_by_another_key_is_closed(aws, media_env, monkeypatch):
    """The org's key changed between prepare and answer: the call connects with the new key and the
    ring-time socket (opened with the old one) is closed when the call ends, not left to the TTL."""
    with rt_stack(monkeypatch, connect_ms=0) as (st, fakes):
        xai = fakes["xai"]
        call_id, token = st.call(CALLEE_FIRST)
        asyncio.run(prepare(st, call_id))
        assert len(xai.sessions) == 1
        rotate_key(monkeypatch)
        asyncio.run(caller_first_turn(st, call_id, token))
        row = st.wait_ended(call_id)
        assert ("assistant", REPLY) in [(m["role"], m["content"]) for m in row.data["messages"]]
        assert len(xai.sessions) == 2
        assert xai.sessions[1].headers["authorization"] == "Bearer rotated-key"
        assert xai.sessions[0].received == []
        wait_for(lambda: not xai._sockets, 5)


def test_realtime_greeting_generated_on_held_socket_and_handed_over(aws, media_env, monkeypatch):
    """media.providers.warm.realtime_greeting on its own: the held session is set up by the service's own code and
    greeted; the audio is the model's mu-law; the adopting service starts ready and set up."""
    from media.plan import build_plan
    from media.providers.warm import realtime_greeting, warm_up
    from media.providers.xai_realtime import MulawGrokRealtimeLLMService, adopt_realtime
    from sandbox import audio

    def plan_for(cfg, direction="outbound"):
        return build_plan(ORG, "call-rt-unit", direction, {"config": cfg, "caller_phone": "+31612345678"})

    with rt_stack(monkeypatch, connect_ms=0) as (_st, fakes):
        xai = fakes["xai"]

        async def scenario():
            plan = plan_for(ASSISTANT)
            warm = await warm_up(plan)
            assert warm is not None
            spoken = await realtime_greeting(warm, plan)
            llm = warm.take("llm", warm.keys["llm"])
            assert isinstance(llm, MulawGrokRealtimeLLMService)
            ws = await adopt_realtime(llm)
            assert ws is not None
            state = (llm._api_session_ready, llm._llm_needs_conversation_setup, llm._context is not None)
            await ws.close()
            await warm.aclose()
            # No first message, voicemail detection on, or an inbound call: nothing is generated.
            quiet = []
            for cfg, direction in ((CALLEE_FIRST, "outbound"), ({**ASSISTANT, "voicemail_detection": True}, "outbound"),
                                   (ASSISTANT, "inbound")):
                other = await warm_up(plan_for(cfg, direction))
                assert other is not None
                quiet.append(await realtime_greeting(other, plan_for(cfg, direction)))
                await other.aclose()
            return spoken, state, quiet

        spoken, state, quiet = asyncio.run(scenario())
        assert spoken == audio.speak(GREETING, xai.voice)  # the model's pcmu bytes, as sent
        assert state == (True, False, True)
        assert quiet == [None, None, None]
        first = xai.sessions[0]
        types = [m["type"] for m in first.received]
        assert types[0] == "session.update" and types[-1] == "response.create"
        assert types.count("response.create") == 1
        assert first.received[0]["session"]["audio"]["output"]["format"]["type"] == "audio/pcmu"
        assert [r["text"] for r in first.responses] == [GREETING]
        assert all(s.received == [] for s in xai.sessions[1:])
        wait_for(lambda: not xai._sockets, 5)


# --- greeting generated at ring time (media.providers.warm.realtime_greeting) ----------------------------------------
def test_prepared_realtime_call_greets_within_100ms_from_ring_time_audio(aws, media_env, monkeypatch):
    with rt_stack(monkeypatch) as (st, fakes):
        xai = fakes["xai"]
        call_id, token = st.call(ASSISTANT)

        async def scenario():
            await prepare(st, call_id)
            # While ringing: set up and greeted once, nothing after (the audio waits in memory).
            (session,) = xai.sessions
            assert [r["text"] for r in session.responses] == [GREETING]
            before = len(session.received)
            return before, await greet_and_turn(st, call_id, token)

        before, (started, greeting, answer) = asyncio.run(scenario())
        print(f"greeting after {greeting - started:.3f}s")  # a figure (bench/warmup.py); the outcome is below
        row = st.wait_ended(call_id)
        _check_transcript(row)  # the greeting stored once, as the assistant's first message
        assert [(m["role"], m["content"]) for m in row.data["messages"]][0] == ("assistant", GREETING)
        assert row.data["latency"]["greeting_ms"] is not None
        conns = _realtime_conns(xai)
        assert len(conns) == 1 and conns[0]["opened_at"] < started
        (session,) = xai.sessions
        ring_events = [m["type"] for m in session.received[:before]]
        assert ring_events[0] == "session.update" and ring_events[-1] == "response.create"
        # The adopted session neither set the conversation up again nor asked for another greeting:
        # after the answer it got the caller's audio (and Pipecat's cancel at barge-in), and the model
        # answered the caller.
        assert {m["type"] for m in session.received[before:]} <= {"input_audio_buffer.append", "response.cancel"}
        assert [r["text"] for r in session.responses] == [GREETING, REPLY]
        # The model's conversation holds the greeting before the caller's line.
        roles = [(i.get("role"), i.get("text")) for i in xai_items(session)]
        assert roles.index(("assistant", GREETING)) < roles.index(("user", "Where is my order?"))


def xai_items(session) -> list[dict]:
    """The fake's conversation, rebuilt from what it sent (items added and responses' output)."""
    items = []
    for m in session.sent:
        if m["type"] == "conversation.item.added":
            item = m["item"]
            text = " ".join(c.get("text") or c.get("transcript") or "" for c in item.get("content") or [])
            items.append({"role": item.get("role"), "text": text})
        elif m["type"] == "conversation.item.input_audio_transcription.completed":
            items[-1]["text"] = m["transcript"]
        elif m["type"] == "response.output_item.done" and m["item"].get("role") == "assistant":
            items.append({"role": "assistant", "text": m["item"]["content"][0]["transcript"]})
    return items


def test_ring_time_greeting_with_another_key_sets_up_without_greeting_twice(aws, media_env, monkeypatch):
    """Greeted at ring time, but the call takes a new service (the key changed): the caller hears the
    ring-time greeting and the fresh session gets the conversation, greeting included, and no response."""
    with rt_stack(monkeypatch, connect_ms=0) as (st, fakes):
        xai = fakes["xai"]
        call_id, token = st.call(ASSISTANT)
        asyncio.run(prepare(st, call_id))
        rotate_key(monkeypatch)
        started, greeting, _ = asyncio.run(greet_and_turn(st, call_id, token))
        assert greeting > started
        _check_transcript(st.wait_ended(call_id))
        ring, fresh = xai.sessions
        assert [r["text"] for r in ring.responses] == [GREETING]
        assert [r["text"] for r in fresh.responses] == [REPLY]  # no second greeting
        # Pipecat's Grok adapter sends a context with history as one user item holding the conversation.
        setup = [m for m in fresh.received if m["type"] == "conversation.item.create"]
        assert len(setup) == 1 and GREETING in setup[0]["item"]["content"][0]["text"]
        assert "response.create" not in [m["type"] for m in fresh.received]
        wait_for(lambda: not xai._sockets, 5)


def test_unanswered_ring_time_greeting_closed_at_ttl(aws, media_env, monkeypatch):
    import media.prepared_calls

    monkeypatch.setattr(media.prepared_calls, "PREPARED_TTL_SECONDS", 1.5)
    with rt_stack(monkeypatch, connect_ms=0, ping_interval_s=0.2) as (st, fakes):
        xai = fakes["xai"]
        call_id, _token = st.call(ASSISTANT)

        async def scenario():
            await prepare(st, call_id)
            assert st.media.media.prepared[call_id].greeting

        asyncio.run(scenario())
        wait_for(lambda: not xai._sockets, 5)
        assert call_id not in st.media.media.prepared
        (session,) = xai.sessions
        assert [r["text"] for r in session.responses] == [GREETING]
        assert session.received[-1]["type"] == "response.create"
