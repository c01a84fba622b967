"""Browser calls over the media service's /web socket, and listening in on /monitor: real websockets
client, espeak-ng speech as 16 kHz PCM, the protocol fakes behind the pipeline, the stored call row."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest

from chalicelib.security import make_socket_token
from chalicelib.settings import get_settings
from chalicelib.storage.calls import Call, CallRepository
from chalicelib.timeutil import now_iso
from tests.media.conftest import ORG

ASSISTANT = {
    "first_message": "Hello from the browser demo.",
    "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                   "messages": [{"role": "system", "content": "You are a demo agent."}]},
    "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"},
}
FRAME = 640  # 20 ms of 16 kHz PCM s16le


def web_call(direction: str = "web") -> str:
    call_id = str(uuid.uuid4())
    now = now_iso()
    CallRepository().create(Call(org_id=ORG, id=call_id, status="queued", direction=direction, created_at=now,
                                 updated_at=now, data={"config": ASSISTANT}))
    return call_id


def token(purpose: str, call_id: str, expires_in: int = 300) -> str:
    return make_socket_token(get_settings().call_token_secret, purpose, call_id, ORG,  # type: ignore[arg-type]
                             expires=int(time.time()) + expires_in)


class Peer:
    """A browser (or listener) on the socket: binary frames kept with arrival times, JSON events in order."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.audio: list[tuple[float, bytes]] = []
        self.events: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._recv())

    async def _recv(self) -> None:
        import websockets

        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    self.audio.append((time.monotonic(), message))
                else:
                    self.events.append(json.loads(message))
        except websockets.ConnectionClosed:
            pass

    async def wait_event(self, pred: Any, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if pred(e):
                    return e
            await asyncio.sleep(0.02)
        raise AssertionError(f"no such event in {self.events}")

    async def send_pcm(self, pcm: bytes) -> None:
        for i in range(0, len(pcm), FRAME):
            await self.ws.send(pcm[i:i + FRAME])
            await asyncio.sleep(0.02)


def _transcript(events: list[dict[str, Any]], role: str, *, final: bool = True) -> list[str]:
    return [e["text"] for e in events if e["type"] == "transcript" and e["role"] == role and e["final"] is final]


def _interims_lead_to(events: list[dict[str, Any]], line: str) -> None:
    """Interim lines of the caller came before its final line, each the words recognised so far."""
    finals = [i for i, e in enumerate(events) if e["type"] == "transcript" and e["final"] and e["text"] == line]
    interims = [(i, e["text"]) for i, e in enumerate(events)
                if e["type"] == "transcript" and e["role"] == "user" and e["final"] is False]
    assert interims and finals, events
    words = line.lower().rstrip("?.!").split()
    for i, text in interims:
        assert i < finals[0]
        said = text.lower().rstrip("?.!").split()
        assert said and said == words[:len(said)], (text, line)


def test_web_call_speaks_pcm_events_monitor_and_stores_the_call(stack):
    import websockets

    from sandbox.audio import silence, speak_pcm, ulaw_to_pcm_bytes
    from sandbox.registry import REGISTRY

    stack.openai.add_rule(contains="opening hours", text="We are open from nine to five.")
    call_id = web_call()
    REGISTRY.clear()
    REGISTRY.register(call_id, ["What are your opening hours?"])
    base = f"ws://127.0.0.1:{stack.media.port}"
    url = f"{base}/web/{call_id}?token={token('web', call_id)}"
    speech = speak_pcm("What are your opening hours?", 16000) + ulaw_to_pcm_bytes(silence(1200), 16000)

    async def scenario() -> tuple[Peer, Peer]:
        async with websockets.connect(url) as ws:
            browser = Peer(ws)
            greeting = await browser.wait_event(lambda e: e["type"] == "transcript" and e["role"] == "assistant")
            assert greeting == {"type": "transcript", "role": "assistant", "text": ASSISTANT["first_message"],
                                "final": True}
            row = stack.row(call_id)
            assert row is not None and row.status == "in-progress"
            # The token was single use: a second socket with it is refused at the handshake.
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(url):
                    pass
            assert refused.value.response.status_code == 403
            # A listener joins with the monitor token (a web token does not open it).
            with pytest.raises(websockets.InvalidStatus):
                async with websockets.connect(f"{base}/monitor/{call_id}?token={token('web', call_id)}"):
                    pass
            async with websockets.connect(f"{base}/monitor/{call_id}?token={token('monitor', call_id)}") as mws:
                listener = Peer(mws)
                await asyncio.sleep(1.0)  # the greeting's playout ends; the caller speaks after it
                await browser.send_pcm(speech)
                await browser.wait_event(lambda e: e["type"] == "transcript" and e["role"] == "assistant"
                                         and "nine to five" in e["text"])
                await browser.wait_event(lambda e: e == {"type": "speech-update", "role": "assistant",
                                                         "status": "stopped"} and len(_transcript(
                                                             browser.events, "assistant")) == 2)
                await asyncio.sleep(0.3)
            return browser, listener

    browser, listener = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    assert row.direction == "web" and row.status == "ended"
    assert row.data["end_reason"] == "customer_hangup"
    msgs = [(m["role"], m["content"]) for m in row.data["messages"]]
    assert msgs == [("assistant", ASSISTANT["first_message"]), ("user", "What are your opening hours?"),
                    ("assistant", "We are open from nine to five.")]

    # The browser: the agent's audio as 16 kHz PCM (about 2 bytes per sample, 32 kB a second), events in order.
    agent_bytes = sum(len(b) for _, b in browser.audio)
    assert agent_bytes > 32000 and agent_bytes % 2 == 0
    assert _transcript(browser.events, "user") == ["What are your opening hours?"]
    _interims_lead_to(browser.events, "What are your opening hours?")
    kinds = [(e["type"], e.get("role"), e.get("status")) for e in browser.events]
    assert kinds.index(("speech-update", "user", "started")) < kinds.index(("speech-update", "user", "stopped"))
    assert ("speech-update", "assistant", "started") in kinds

    # The listener: both sides' audio, tagged (1 caller, 2 agent), and the same events.
    tags = {frame[0] for _, frame in listener.audio}
    assert tags == {1, 2}
    assert all(len(frame) % 2 == 1 for _, frame in listener.audio)  # tag byte + whole samples
    assert _transcript(listener.events, "user") == ["What are your opening hours?"]
    _interims_lead_to(listener.events, "What are your opening hours?")
    assert "We are open from nine to five." in _transcript(listener.events, "assistant")


def test_web_call_barge_in_sends_clear_and_end_call_sends_call_ended(stack):
    import websockets

    from sandbox.audio import silence, speak_pcm, ulaw_to_pcm_bytes
    from sandbox.registry import REGISTRY
    from tests.media.test_e2e_control import control

    long_reply = " ".join(["This is a long answer about our many products and services."] * 8)
    stack.openai.add_rule(contains="products", text=long_reply)
    call_id = web_call()
    REGISTRY.clear()
    REGISTRY.register(call_id, ["Tell me about your products.", "Stop please."])
    url = f"ws://127.0.0.1:{stack.media.port}/web/{call_id}?token={token('web', call_id)}"
    pause = ulaw_to_pcm_bytes(silence(1200), 16000)

    async def scenario() -> Peer:
        async with websockets.connect(url) as ws:
            browser = Peer(ws)
            await browser.wait_event(lambda e: e["type"] == "transcript" and e["role"] == "assistant")
            await asyncio.sleep(1.0)
            await browser.send_pcm(speak_pcm("Tell me about your products.", 16000) + pause)
            await browser.wait_event(lambda e: e == {"type": "speech-update", "role": "assistant",
                                                     "status": "started"} and len(browser.audio) > 0)
            await asyncio.sleep(1.5)  # the long reply is playing
            await browser.send_pcm(speak_pcm("Stop please.", 16000) + pause)
            await browser.wait_event(lambda e: e["type"] == "clear")
            status, body = await control(stack, call_id, {"type": "end-call"})
            assert status == 200, body
            await browser.wait_event(lambda e: e["type"] == "call-ended")
            await asyncio.wait_for(browser.task, 10)  # the server closes the socket
            return browser

    browser = asyncio.run(scenario())
    assert browser.events[-1] == {"type": "call-ended", "reason": "control_end_call"}
    row = stack.wait_ended(call_id)
    assert row.data["end_reason"] == "control_end_call"
    said = [m["content"] for m in row.data["messages"] if m["role"] == "assistant"]
    assert said[1] != long_reply and long_reply.startswith(said[1].rstrip(".")[:20])  # only what was heard


def test_expired_token_and_phone_calls_are_refused(stack):
    import websockets

    base = f"ws://127.0.0.1:{stack.media.port}"
    call_id = web_call()
    phone_id = web_call(direction="outbound")

    async def refused(url: str) -> int:
        with pytest.raises(websockets.InvalidStatus) as exc:
            async with websockets.connect(url):
                pass
        return exc.value.response.status_code

    async def scenario() -> list[int]:
        return [await refused(f"{base}/web/{call_id}?token={token('web', call_id, expires_in=-1)}"),
                await refused(f"{base}/web/{call_id}?token=garbage"),
                await refused(f"{base}/web/{phone_id}?token={token('web', phone_id)}"),
                await refused(f"{base}/monitor/{call_id}?token={token('monitor', call_id)}")]  # not live here

    assert asyncio.run(scenario()) == [403, 403, 403, 403]
    row = CallRepository().get(ORG, call_id)
    assert row is not None and row.status == "queued"  # an expired token claims nothing


def test_live_webhooks_transcript_speech_update_conversation_update_in_order(stack):
    import websockets

    from sandbox.audio import silence, speak_pcm, ulaw_to_pcm_bytes
    from sandbox.registry import REGISTRY
    from sandbox.webhook_receiver import WebhookReceiver

    receiver = WebhookReceiver(secret="whsec-live").start()
    try:
        stack.openai.add_rule(contains="opening hours", text="We are open from nine to five.")
        config = {**ASSISTANT, "webhook_url": receiver.url(),
                  "webhook_events": ["transcript", "speech-update", "conversation-update"]}
        call_id = str(uuid.uuid4())
        now = now_iso()
        from chalicelib.services.call_secrets import encrypt_call_secrets

        CallRepository().create(Call(org_id=ORG, id=call_id, status="queued", direction="web", created_at=now,
                                     updated_at=now, data={"config": config, "secrets_enc": encrypt_call_secrets(
                                         ORG, call_id, {"webhook_secret": "whsec-live"})}))
        REGISTRY.clear()
        REGISTRY.register(call_id, ["What are your opening hours?"])
        url = f"ws://127.0.0.1:{stack.media.port}/web/{call_id}?token={token('web', call_id)}"
        speech = speak_pcm("What are your opening hours?", 16000) + ulaw_to_pcm_bytes(silence(1200), 16000)

        async def scenario() -> None:
            async with websockets.connect(url) as ws:
                browser = Peer(ws)
                await browser.wait_event(lambda e: e["type"] == "transcript")
                await asyncio.sleep(1.0)
                await browser.send_pcm(speech)
                await browser.wait_event(lambda e: e["type"] == "transcript" and "nine to five" in e["text"])

        asyncio.run(scenario())
        stack.wait_ended(call_id)
        received = receiver.wait_for("conversation-update", count=2, timeout=10)
        assert all(w.signature_valid for w in received)  # signed with the call's webhook secret
        everything = [w.message for w in receiver.events()]
        sequences = [m["sequence"] for m in everything]
        assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)  # ordered, numbered
        assert {m["call"]["type"] for m in everything} == {"web_call"}
        transcripts = [(m["role"], m["transcript"]) for m in everything if m["type"] == "transcript"]
        assert transcripts == [("assistant", ASSISTANT["first_message"]), ("user", "What are your opening hours?"),
                               ("assistant", "We are open from nine to five.")]
        assert all(m["transcript_type"] == "final" for m in everything if m["type"] == "transcript")
        speech_updates = [(m["role"], m["status"]) for m in everything if m["type"] == "speech-update"]
        assert ("user", "started") in speech_updates and ("assistant", "stopped") in speech_updates
        last = [m for m in everything if m["type"] == "conversation-update"][-1]
        assert [x["role"] for x in last["messages"]] == ["assistant", "user", "assistant"]
    finally:
        receiver.stop()


def test_a_listener_reaching_another_task_is_relayed_to_the_task_holding_the_call(stack):
    """Two media servers: the call runs on A, the listener lands on B, which relays it from A (the call row
    names A's control address); B refuses a bad token, another organization's token and an ended call."""
    import websockets

    from chalicelib.security import make_socket_token
    from sandbox.audio import silence, speak_pcm, ulaw_to_pcm_bytes
    from sandbox.registry import REGISTRY
    from tests.media.conftest import OTHER_ORG, ServerThread

    stack.openai.add_rule(contains="opening hours", text="We are open from nine to five.")
    call_id = web_call()
    REGISTRY.clear()
    REGISTRY.register(call_id, ["What are your opening hours?"])
    other = ServerThread().start()
    a, b = f"ws://127.0.0.1:{stack.media.port}", f"ws://127.0.0.1:{other.port}"
    speech = speak_pcm("What are your opening hours?", 16000) + ulaw_to_pcm_bytes(silence(1200), 16000)
    foreign = make_socket_token(get_settings().call_token_secret, "monitor", call_id, OTHER_ORG,  # type: ignore[arg-type]
                                expires=int(time.time()) + 300)

    async def refused(url: str) -> int:
        with pytest.raises(websockets.InvalidStatus) as exc:
            async with websockets.connect(url):
                pass
        return exc.value.response.status_code

    async def scenario() -> tuple[Peer, list[int]]:
        async with websockets.connect(f"{a}/web/{call_id}?token={token('web', call_id)}") as ws:
            browser = Peer(ws)
            await browser.wait_event(lambda e: e["type"] == "transcript" and e["role"] == "assistant")
            statuses = [await refused(f"{b}/monitor/{call_id}?token=garbage"),
                        await refused(f"{b}/monitor/{call_id}?token={foreign}")]
            mws = await websockets.connect(f"{b}/monitor/{call_id}?token={token('monitor', call_id)}")
            listener = Peer(mws)
            await asyncio.sleep(1.0)
            await browser.send_pcm(speech)
            await browser.wait_event(lambda e: e["type"] == "transcript" and "nine to five" in e["text"])
            await listener.wait_event(lambda e: e["type"] == "transcript" and "nine to five" in e["text"])
        # the browser hung up: A ends the call, tells its listeners, closes; B closes the relayed socket
        await listener.wait_event(lambda e: e["type"] == "call-ended")
        await asyncio.wait_for(listener.task, 10)
        stack.wait_ended(call_id)
        statuses.append(await refused(f"{b}/monitor/{call_id}?token={token('monitor', call_id)}"))
        return listener, statuses

    try:
        listener, statuses = asyncio.run(scenario())
    finally:
        other.stop()
    assert statuses == [403, 403, 403]
    assert other.media.stats.relayed_listeners == 1 and not other.media.sessions
    # the relayed listener got what a listener on A gets: both sides' tagged audio and the call's events
    assert {frame[0] for _, frame in listener.audio} == {1, 2}
    assert _transcript(listener.events, "user") == ["What are your opening hours?"]
    assert "We are open from nine to five." in _transcript(listener.events, "assistant")
    assert listener.events[-1] == {"type": "call-ended", "reason": "customer_hangup"}


def test_the_control_listener_serves_monitor_sockets_for_relays():
    from starlette.routing import WebSocketRoute

    from media.server import MediaServer, create_app

    control_only = create_app(MediaServer(), public=False, control=True)
    assert "/monitor/{call_id}" in [r.path for r in control_only.routes if isinstance(r, WebSocketRoute)]
