"""Fixtures for the media service tests: the server on an ephemeral port, call rows, fakes."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest

from chalicelib.security import make_call_token
from chalicelib.settings import get_settings, reset_settings
from chalicelib.storage.calls import Call, CallRepository
from chalicelib.timeutil import now_iso

ORG = "11111111-1111-4111-8111-111111111111"
OTHER_ORG = "22222222-2222-4222-8222-222222222222"


class ServerThread:
    """uvicorn serving the media app in a background thread (its own event loop)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        from media.pipeline.build import preload
        from media.server import MediaServer, create_app

        preload()

        self.host = host
        self.media = MediaServer()
        config = uvicorn.Config(create_app(self.media), host=host, port=port, log_level="warning",
                                lifespan="off", ws="websockets", ws_per_message_deflate=False)
        self.server = uvicorn.Server(config)
        # uvicorn (>= 0.29) listens to signals only on the main thread: this server runs in a worker thread
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("media server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.media.port = self.port
        return self

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/twilio/stream"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def new_call(org_id: str = ORG, *, config: dict[str, Any], direction: str = "outbound",
             **data: Any) -> tuple[str, str]:
    """Create a call row; returns (call_id, stream token)."""
    call_id = str(uuid.uuid4())
    now = now_iso()
    CallRepository().create(Call(org_id=org_id, id=call_id, status="queued", direction=direction, created_at=now,
                                 updated_at=now, twilio_call_sid="CA" + uuid.uuid4().hex,
                                 data={"config": config, "caller_phone": "+31612345678",
                                       "assistant_phone": "+31850000000", **data}))
    token = make_call_token(get_settings().call_token_secret, call_id, org_id)
    return call_id, token


def upgrades_offering_deflate(*fakes) -> tuple[int, int]:
    """(WebSocket upgrades the fakes received, how many offered permessage-deflate)."""
    ups = [r for fake in fakes for r in fake.requests if r["headers"].get("upgrade", "").lower() == "websocket"]
    return len(ups), sum("deflate" in r["headers"].get("sec-websocket-extensions", "") for r in ups)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture
def media_env(monkeypatch):
    monkeypatch.setenv("CALL_TOKEN_SECRET", "test-call-secret")
    monkeypatch.setenv("MEDIA_CONTROL_SECRET", "test-control-secret")
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")  # tool/webhook fakes listen on 127.0.0.1
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def media_server(aws, media_env):
    server = ServerThread().start()
    yield server
    server.stop()


def run(coro):
    return asyncio.run(coro)


class Hooks:
    """A webhook receiver for tool calls: per-tool delay and reply, every request recorded."""

    def __init__(self):
        import json as _json

        from sandbox.httpserver import FakeHTTPServer, FakeResponse

        self.replies: dict[str, tuple[float, Any]] = {}
        self.server = FakeHTTPServer()

        def handle(req):
            name = req.params["name"]
            delay, reply = self.replies.get(name, (0.0, {"result": "ok"}))
            time.sleep(delay)
            return FakeResponse(200, _json.dumps(reply), {"Content-Type": "application/json"})

        self.server.route("POST", r"/tools/(?P<name>[A-Za-z0-9_-]+)", handle)
        self.server.start()

    def url(self, name: str) -> str:
        return f"{self.server.base_url}/tools/{name}"

    def bodies(self, name: str) -> list[dict[str, Any]]:
        import json as _json

        return [_json.loads(r.body) for r in self.server.requests if r.path == f"/tools/{name}"]


class Stack:
    def __init__(self, media, deepgram, openai, tts, twilio, hooks):
        self.media, self.deepgram, self.openai, self.tts = media, deepgram, openai, tts
        self.twilio, self.hooks = twilio, hooks

    def call(self, config: dict[str, Any], org_id: str = ORG, **data: Any) -> tuple[str, str]:
        call_id, token = new_call(org_id, config=config, **data)
        sid = self._sid(call_id, org_id)
        with self.twilio.lock:
            self.twilio.calls[sid] = {"sid": sid, "status": "in-progress", "account_sid": self.twilio.account_sid}
        return call_id, token

    def tts_texts(self) -> list[str]:
        texts = [r["text"] for r in self.tts.http_requests]
        for session in self.tts.sessions:
            for ctx in session.contexts.values():
                texts.extend(ctx.generated)
        return texts

    def twilio_updates(self, call_id: str, org_id: str = ORG) -> list[dict[str, str]]:
        return self.twilio.call_updates(self._sid(call_id, org_id))

    def row(self, call_id: str, org_id: str = ORG):
        return CallRepository().get(org_id, call_id)

    def _sid(self, call_id: str, org_id: str) -> str | None:
        row = self.row(call_id, org_id)
        assert row is not None
        return row.twilio_call_sid

    def wait_ended(self, call_id: str, timeout: float = 20.0, org_id: str = ORG):
        return wait_for(lambda: (r := self.row(call_id, org_id)) is not None and r.status in ("ended", "failed")
                        and r, timeout)

    def caller(self, call_id: str, token: str, org_id: str = ORG):
        from sandbox.measuring_caller import TestCaller
        from sandbox.registry import REGISTRY

        row = self.row(call_id, org_id)
        sid = row.twilio_call_sid if row else None
        caller = TestCaller(self.media.ws_url, call_id=call_id, org_id=org_id, token=token, registry=REGISTRY)
        if sid:
            caller.call_sid = sid
        return caller


def point_media_at(monkeypatch, *, tw, dg=None, oa=None, tts=None, xai=None) -> None:
    """Point the media service's provider and Twilio settings at these fakes."""
    if dg is not None:
        monkeypatch.setenv("DEEPGRAM_URL", dg.ws_url)
    if oa is not None:
        monkeypatch.setenv("OPENAI_BASE_URL", oa.url + "/v1")
    if tts is not None:
        monkeypatch.setenv("ELEVENLABS_URL", tts.url)
    if xai is not None:
        monkeypatch.setenv("XAI_URL", xai.url)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", tw.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", tw.auth_token)
    monkeypatch.setenv("TWILIO_API_URL", tw.base_url)
    reset_settings()


@pytest.fixture
def start_xai(monkeypatch):
    """Start the xAI realtime fake (``start_xai(first_audio_delay_ms=...)``) and point XAI_URL at it."""
    from sandbox.registry import REGISTRY
    from sandbox.xai_realtime import FakeXAIRealtime

    started = []

    def start(**kw):
        REGISTRY.clear()  # the realtime fake pairs a connection with the oldest unclaimed registration
        fake = FakeXAIRealtime(**kw).start()
        started.append(fake)
        monkeypatch.setenv("XAI_URL", fake.url)
        reset_settings()
        return fake

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def stack(aws, media_env, monkeypatch):
    from sandbox.deepgram import FakeDeepgram
    from sandbox.elevenlabs_tts import FakeElevenLabsStream
    from sandbox.openai_llm import FakeOpenAI
    from sandbox.twilio import FakeTwilio

    dg = FakeDeepgram(final_delay_ms=150).start()
    oa = FakeOpenAI(first_token_delay_ms=300, token_delay_ms=10).start()
    tts = FakeElevenLabsStream(first_byte_delay_ms=100).start()
    tw = FakeTwilio().start()
    hooks = Hooks()
    point_media_at(monkeypatch, dg=dg, oa=oa, tts=tts, tw=tw)
    server = ServerThread().start()
    yield Stack(server, dg, oa, tts, tw, hooks)
    server.stop()
    for fake in (dg, oa, tts, tw, hooks.server):
        fake.stop()


ASSISTANT_MIN = {"first_message": "Hi.", "llm_config": {"provider": "openai", "model": "gpt-4o-mini"},
                 "stt_config": {"provider": "deepgram"}, "tts_config": {"provider": "elevenlabs", "voice_id": "v"}}
