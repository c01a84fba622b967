"""Health, draining and SIGTERM handling of the media server process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_healthz_and_draining_refuses_new_streams(media_server):
    assert _get(media_server.http_url + "/healthz") == (200, {"status": "ok", "active_calls": 0})
    media_server.media.draining = True
    assert _get(media_server.http_url + "/healthz") == (503, {"status": "draining", "active_calls": 0})

    async def connect():
        import websockets

        try:
            async with websockets.connect(media_server.ws_url) as ws:
                await ws.recv()
        except Exception as exc:  # refused upgrade or immediate close
            return type(exc).__name__
        return "open"

    assert asyncio.run(connect()) != "open"


def test_sigterm_exits_when_no_call_is_live():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, MEDIA_PORT=str(port), MEDIA_HOST="127.0.0.1", PYTHONPATH=str(ROOT), LOG_LEVEL="ERROR")
    proc = subprocess.Popen([sys.executable, "-m", "media.server"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _get(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_with_a_live_call_drains_until_the_call_ends():
    """SIGTERM first drains: health says 503, the server keeps serving the live call, and exits once it ended.

    (uvicorn's own signal capture would stop the server at once and cut the call.)
    """
    from media.server import MediaServer, serve

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    media = MediaServer()
    media.sessions["live-call"] = object()  # type: ignore[assignment]  # stands in for a CallSession
    seen: dict[str, object] = {}

    async def scenario() -> None:
        server = asyncio.create_task(serve("127.0.0.1", port, media))
        for _ in range(200):
            try:
                if (await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/healthz"))[0] == 200:
                    break
            except OSError:
                await asyncio.sleep(0.05)
        if server.done():
            server.result()  # the server's own error fails the test (a SIGTERM now would kill pytest)
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None), "serve installed no SIGTERM handler"
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(1.5)
        seen["running"] = not server.done()
        seen["health"] = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/healthz")
        media.sessions.clear()  # the call ends
        await asyncio.wait_for(server, 10)

    asyncio.run(scenario())
    assert seen["running"] is True
    assert seen["health"] == (503, {"status": "draining", "active_calls": 1})


def test_twilio_signature_on_upgrade(media_server, monkeypatch):
    from twilio.request_validator import RequestValidator

    from chalicelib.settings import reset_settings
    from media.settings import reset_media_settings
    from sandbox.measuring_caller import TestCaller
    from tests.media.conftest import ASSISTANT_MIN, ORG, new_call

    public = "wss://media.example.com/twilio/stream"
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "sig-token")
    monkeypatch.setenv("MEDIA_PUBLIC_WS_URL", public)
    reset_settings()
    reset_media_settings()
    call_id, token = new_call(ORG, config=ASSISTANT_MIN)
    good = RequestValidator("sig-token").compute_signature(public, {})

    async def attempt(headers):
        c = TestCaller(media_server.ws_url, call_id=call_id, org_id=ORG, token="bad-token", headers=headers)
        try:
            await c.connect()
        except Exception as exc:
            return type(exc).__name__
        closed = await c.wait_closed(5)
        await c.close()
        return "closed-after-start" if closed else "open"

    assert asyncio.run(attempt({})) == "InvalidStatus"  # refused at the upgrade
    assert asyncio.run(attempt({"X-Twilio-Signature": "wrong"})) == "InvalidStatus"
    # A good signature passes the upgrade; the bad call token then closes the stream.
    assert asyncio.run(attempt({"X-Twilio-Signature": good})) == "closed-after-start"
    assert media_server.media.stats.rejected == 3
