"""Ring-time warm-up bench: first-turn voice-to-voice of a prepared vs an unprepared call.

    .venv/bin/python bench/warmup.py                      # 200 ms connection setup, 3 rounds
    .venv/bin/python bench/warmup.py --connect-ms 300 --rounds 5 --no-speculative

The fakes (Deepgram, OpenAI, ElevenLabs; reference profile: STT final 150 ms, LLM first token 300 ms,
TTS first byte 100 ms) charge ``--connect-ms`` on every new TCP connection / WebSocket handshake, like
TLS plus round trips to a distant provider. Every call runs on a fresh media server (a fresh event loop,
so a cold LLM connection pool) and fresh fakes, in this process (moto in-process), one call at a time.

Two scenarios, each unprepared then prepared (``POST /calls/{id}/prepare`` 0.5 s before the stream):
- ``greeting first``: the agent greets, then the caller says one line: v2v of that first turn;
- ``caller first``: no first message, the callee speaks at once on answer (outbound "Hello?"): v2v of
  that line, which also waits for the STT socket when it is opened only at pipeline start.
Printed: medians over the rounds (on-the-wire voice-to-voice: caller's last voiced frame -> first agent
media frame), greeting latency after Twilio's ``start``, and provider connections opened after ``start``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import ddbcalls  # noqa: E402

ddbcalls.offline_aws_env("bench-warm-", CALL_TOKEN_SECRET="bench-secret", MEDIA_CONTROL_SECRET="bench-control",  # noqa: S106 - fixed secrets of an offline benchmark stack
                         LOGURU_LEVEL="ERROR")

ORG = "11111111-1111-4111-8111-111111111111"
LINE = "Where is my order?"
FIRST_LINE = "Hello, who is this?"
CONFIG = {"stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
          "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                         "messages": [{"role": "system", "content": "You are Acme's phone agent."}]},
          "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"}}


class MediaThread:
    def __init__(self) -> None:
        import uvicorn

        from media.server import MediaServer, create_app

        self.media = MediaServer()
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.media), host="127.0.0.1", port=0,
                                                    log_level="error", lifespan="off", ws="websockets"))
        # uvicorn captures signals only on the main thread, so this server leaves them to the bench.
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        self.port = self.media.port = self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Stack:
    def __init__(self, connect_ms: float) -> None:
        from chalicelib.settings import reset_settings
        from sandbox.deepgram import FakeDeepgram
        from sandbox.elevenlabs_tts import FakeElevenLabsStream
        from sandbox.openai_llm import FakeOpenAI
        from sandbox.twilio import FakeTwilio

        self.dg = FakeDeepgram(final_delay_ms=150, connect_delay_ms=connect_ms).start()
        self.oa = FakeOpenAI(first_token_delay_ms=300, token_delay_ms=10, connect_delay_ms=connect_ms).start()
        self.tts = FakeElevenLabsStream(first_byte_delay_ms=100, connect_delay_ms=connect_ms).start()
        self.tw = FakeTwilio().start()
        os.environ.update({"DEEPGRAM_URL": self.dg.ws_url, "OPENAI_BASE_URL": self.oa.url + "/v1",
                           "ELEVENLABS_URL": self.tts.url, "TWILIO_API_URL": self.tw.base_url,
                           "TWILIO_ACCOUNT_SID": self.tw.account_sid, "TWILIO_AUTH_TOKEN": self.tw.auth_token})
        reset_settings()
        self.media = MediaThread()

    def stop(self) -> None:
        self.media.stop()
        for fake in (self.dg, self.oa, self.tts, self.tw):
            fake.stop()

    def late_connections(self, after: float) -> int:
        """Provider connections the call opened after Twilio's start (the greeting's HTTP one aside)."""
        return sum(1 for fake in (self.dg, self.oa, self.tts) for c in fake.connections
                   if c["opened_at"] > after and not any("/text-to-speech/" in p and "stream-input" not in p
                                                          for p in c["paths"]))


def new_call(stack: Stack, first_message: str | None) -> tuple[str, str]:
    from chalicelib.security import make_call_token
    from chalicelib.settings import get_settings
    from chalicelib.storage.calls import Call, CallRepository
    from chalicelib.timeutil import now_iso

    call_id, now = str(uuid.uuid4()), now_iso()
    config = dict(CONFIG, first_message=first_message) if first_message else dict(CONFIG)
    sid = "CA" + uuid.uuid4().hex
    CallRepository().create(Call(org_id=ORG, id=call_id, status="queued", direction="outbound", created_at=now,
                                 updated_at=now, twilio_call_sid=sid,
                                 data={"config": config, "caller_phone": "+31612345678",
                                       "assistant_phone": "+31850000000"}))
    with stack.tw.lock:
        stack.tw.calls[sid] = {"sid": sid, "status": "in-progress", "account_sid": stack.tw.account_sid}
    stack.oa.add_rule(contains="", text="Your order ships tomorrow.")
    return call_id, make_call_token(get_settings().call_token_secret, call_id, ORG)


async def prepare(stack: Stack, call_id: str) -> None:
    import aiohttp

    from chalicelib.security import sign_control

    body = json.dumps({"org_id": ORG}).encode()
    ts = str(int(time.time()))
    headers = {"X-Control-Timestamp": ts, "X-Control-Signature": sign_control("bench-control", ts, body),
               "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{stack.media.port}/calls/{call_id}/prepare", data=body, headers=headers) as resp:
        if resp.status not in (200, 202):
            raise RuntimeError(f"prepare answered {resp.status}")
    while call_id not in stack.media.media.prepared:  # noqa: ASYNC110 - the media server fills `prepared` from its own loop; no event to wait on
        await asyncio.sleep(0.01)


async def one_call(stack: Stack, prepared: bool, caller_first: bool) -> dict:
    from sandbox.measuring_caller import TestCaller
    from sandbox.registry import REGISTRY

    call_id, token = new_call(stack, None if caller_first else "Hi, this is Acme. How can I help?")
    if prepared:
        await prepare(stack, call_id)
        await asyncio.sleep(0.5)  # ringing
    c = TestCaller(f"ws://127.0.0.1:{stack.media.port}/twilio/stream", call_id=call_id, org_id=ORG, token=token,
                   registry=REGISTRY)
    await c.connect()
    greeting = None
    if caller_first:
        end = await c.speak(FIRST_LINE)
    else:
        first = await c.wait_agent_turn(c.log.started_at, timeout=15)
        greeting = None if first is None else (first - c.log.started_at) * 1000
        end = await c.speak(LINE)
    answer = await c.wait_agent_turn(end, timeout=15)
    await c.hang_up()
    return {"v2v": None if answer is None else (answer - end) * 1000, "greeting": greeting,
            "late": stack.late_connections(c.log.started_at)}


def med(values: list) -> str:
    vals = [v for v in values if v is not None]
    return f"{statistics.median(vals):.0f}" if vals else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connect-ms", type=float, default=200.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-speculative", action="store_true", help="MEDIA_SPECULATIVE_REPLIES=false")
    args = parser.parse_args()
    os.environ["MEDIA_SPECULATIVE_REPLIES"] = "false" if args.no_speculative else "true"
    import logging

    logging.basicConfig(level=logging.ERROR)
    from moto import mock_aws

    from devstack import gateway
    from media.pipeline.build import preload

    gateway.install()
    preload()
    rows = []
    with mock_aws():
        from chalicelib.settings import reset_settings
        from chalicelib.storage.tables import create_tables

        reset_settings()
        create_tables()
        for caller_first in (False, True):
            results: dict[bool, list[dict]] = {False: [], True: []}
            for _ in range(args.rounds):
                for prepared in (False, True):
                    stack = Stack(args.connect_ms)
                    try:
                        results[prepared].append(asyncio.run(one_call(stack, prepared, caller_first)))
                    finally:
                        stack.stop()
            for prepared in (False, True):
                r = results[prepared]
                rows.append(("caller first" if caller_first else "greeting first",
                             "prepared" if prepared else "unprepared", med([x["v2v"] for x in r]),
                             med([x["greeting"] for x in r]), med([x["late"] for x in r])))
    spec = "off" if args.no_speculative else "on"
    print(f"\nRing-time warm-up, connection setup {args.connect_ms:.0f} ms per new connection, "
          f"{args.rounds} rounds (medians), speculative replies {spec}")
    print(f"{'scenario':<16} {'call':<11} {'first-turn v2v ms':>18} {'greeting ms':>12} {'late conns':>11}")
    for row in rows:
        print(f"{row[0]:<16} {row[1]:<11} {row[2]:>18} {row[3]:>12} {row[4]:>11}")
    for scenario in ("greeting first", "caller first"):
        cold, warm = [r for r in rows if r[0] == scenario]
        if cold[2] != "-" and warm[2] != "-":
            print(f"{scenario}: prepared saves {int(cold[2]) - int(warm[2])} ms of first-turn voice-to-voice")
    return 0


if __name__ == "__main__":
    sys.exit(main())
