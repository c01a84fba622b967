"""Admission control on one media process (one core): offered load 0.5x, 1x and 2x its capacity.

    .venv/bin/python bench/admission.py [--capacity 10] [--loads 0.5,1,2] [--turns 2]

The media service is ONE process pinned alone to core 0 with ``MEDIA_MAX_CALLS`` = ``--capacity``; the load
generators share the other core (``bench/media_latency.py``'s layout and helpers: moto server, the fakes of
``bench/media_fakes.py`` with the reference profile, ``sandbox/measuring_caller.py`` callers). The control
plane is the real Chalice app in this process (``chalice.test.Client``, as ``bench/outbound_call.py``), on
the same moto, with ``MEDIA_CONTROL_URL`` naming the media process and the real ``twilio`` SDK dialling
FakeTwilio.

A level offers N = load x capacity outbound calls at once through ``POST /api/v1/calls/outbound``. The API
prepares each call on the media task before dialling; a task at capacity (live calls plus ring-time
reservations) refuses the prepare with 503, and with no task left the API answers 503 ``capacity_exceeded``
with ``Retry-After``. When the level filled the task, one inbound call is offered too (Twilio's signed
``/twilio/voice``): it must hear the busy message (``<Say>`` + ``<Hangup>``, no ``<Stream>``). Every
admitted call is then answered by a measuring caller on the stream URL and token of its own TwiML, greets,
and speaks ``--turns`` lines; voice-to-voice is measured on the wire with all admitted calls live.

A single call runs first as the reference. Printed per level: offered, admitted, refused and how (API 503
+ Retry-After; inbound busy; failures of admitted calls with their reason, e.g. a stream closed 1013 by the
media task), admitted calls that failed after admission (goal: 0), v2v p50/p95 of the admitted calls, first
greeting p50. Calls are created through the API, so they carry the assistant defaults the API resolves
(``bench/media_latency.py`` writes bare configs into the table). Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import media_latency as ml  # noqa: E402 - after the path setup

NUMBER = "+14155550100"
PUBLIC_BASE = "https://bench.example.test/api"


class AdmissionBench(ml.Bench):
    """media_latency's harness with calls created through the API instead of written to the table."""

    def __init__(self, args) -> None:
        super().__init__(args)
        self.admitted: list[tuple[str, str, str]] = []

    def new_call(self, marker: str) -> tuple[str, str, str]:
        return self.admitted.pop(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capacity", type=int, default=10, help="MEDIA_MAX_CALLS of the media process")
    parser.add_argument("--loads", default="0.5,1,2", help="offered load as multiples of the capacity")
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--ramp-rate", type=float, default=20.0)
    args = parser.parse_args()
    os.sched_setaffinity(0, ml.GEN_CORES)
    bench = AdmissionBench(SimpleNamespace(prepare=False, turns=args.turns, ramp_rate=args.ramp_rate,
                                           caller_procs=0, caller_deflate=False, single_rounds=1))
    rows = []
    try:
        bench.start_generators()
        port = ml.free_port()
        url = f"ws://127.0.0.1:{port}/twilio/stream"
        bench.env["MEDIA_MAX_CALLS"] = str(args.capacity)
        bot = bench.spawn_bot([sys.executable, "-m", "media.server"], port)
        api = Api(bench, port, url)
        # First the 1-call reference (the goal: admitted calls stay within +10 % of its p95), then the loads.
        for load in [0.0, *(float(x) for x in args.loads.split(","))]:
            rows.append(level(bench, api, url, port, bot.pid, args.capacity, load))
            print_rows(args, rows[-1:])
    finally:
        bench.stop()
    print_rows(args, rows)
    return 0


class Api:
    """The Chalice app in process against the bench's moto, dialling FakeTwilio with the real SDK."""

    def __init__(self, bench: AdmissionBench, port: int, ws_url: str) -> None:
        os.environ.update({"MEDIA_CONTROL_URL": f"http://127.0.0.1:{port}", "MEDIA_WS_URL": ws_url,
                           "PUBLIC_BASE_URL": PUBLIC_BASE, "RATE_LIMIT_PER_MINUTE": "1000000",
                           "POWERTOOLS_METRICS_NAMESPACE": "Bench", "POWERTOOLS_TRACE_DISABLED": "true",
                           "ALLOW_PRIVATE_URLS": "true"})
        from chalice.test import Client

        from chalicelib.services import orgs
        from chalicelib.services.auth import issue_key
        from chalicelib.settings import reset_settings

        reset_settings()
        import app as app_module

        tw = bench.tw
        if tw is None:
            raise RuntimeError("start the generators first")
        self.tw = tw
        # The org the measuring callers claim (media_latency.ORG), created with that id.
        orgs.repo().create(ml.ORG, "Admission bench", None, 100000)
        key, _ = issue_key(ml.ORG)
        self.client = Client(app_module.app)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        # The callers wait for every admitted call to connect before their turns (up to ~10 s): the
        # default 7 s silence timeout would prompt them first and the prompt would be taken for replies.
        config = {"name": "Admission", "first_message": "Hello, this is Acme support. How can I help?",
                  "silence_timeout_seconds": 60,
                  "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
                  "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                                 "messages": [{"role": "system", "content": "You are Acme's agent."}]},
                  "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"}}
        self.assistant = json.loads(self.post("/assistants", config).body)["assistant"]["id"]
        self.post("/numbers", {"phone_number": NUMBER, "agent_id": self.assistant})

        def sender(u: str, form, hdrs):
            resp = self.client.http.post(u[len(PUBLIC_BASE):], body=urlencode(form),
                                         headers={"Content-Type": "application/x-www-form-urlencoded", **hdrs})
            return resp.status_code, resp.body.decode()

        tw.callback_sender = sender

    def post(self, path: str, body: dict):
        return self.client.http.post("/api/v1" + path, headers=self.headers, body=json.dumps(body))

    def outbound(self, i: int):
        return self.post("/calls/outbound", {"destination": f"+3161234{i:04d}", "assistant_id": self.assistant})

    def stream_of(self, call_id: str) -> tuple[str, str]:
        """(token, call sid) from the TwiML the API gave Twilio for this call."""
        from sandbox.caller import parse_stream_twiml

        with self.tw.lock:
            sids = list(self.tw.calls)
        for sid in reversed(sids):
            twiml = (self.tw.call_form(sid).get("Twiml") or [""])[0]
            if call_id in twiml:
                _, params = parse_stream_twiml(twiml)
                return params["token"], sid
        raise RuntimeError(f"no TwiML for {call_id}")

    def inbound(self) -> str:
        _, twiml = self.tw.incoming_call(f"{PUBLIC_BASE}/twilio/voice", NUMBER, "+31687654321")
        return twiml


def level(bench: AdmissionBench, api: Api, url: str, port: int, pid: int, capacity: int, load: float) -> dict:
    offered = max(1, round(load * capacity))  # load 0: the single-call reference
    refused_api: list[str] = []
    admitted: list[tuple[str, str, str]] = []
    for i in range(offered):
        resp = api.outbound(i)
        body = json.loads(resp.body)
        if resp.status_code == 200:
            token, sid = api.stream_of(body["call_id"])
            admitted.append((body["call_id"], token, sid))
        else:
            retry = resp.headers.get("Retry-After") or resp.headers.get("retry-after")
            refused_api.append(f"{resp.status_code} {body.get('error')} Retry-After={retry}")
    busy = None
    if len(admitted) >= capacity:
        twiml = api.inbound()
        busy = "<Hangup" in twiml and "<Stream" not in twiml
    bench.admitted = list(admitted)
    if admitted:
        raw = bench.level_once(url, port, pid, len(admitted), True)
        row = ml.summarize(len(admitted), raw)
    else:
        row = {"ok": 0, "failed": 0, "reasons": {}}
    row.update(load=load, offered=offered, admitted=len(admitted), refused_api=refused_api, inbound_busy=busy)
    # Let ring-time reservations and sessions clear before the next level.
    ml.wait_idle(port, 60)
    time.sleep(2)
    return row


def print_rows(args, rows: list[dict]) -> None:
    print(f"\nAdmission on one media process (core {ml.BOT_CORE}), MEDIA_MAX_CALLS={args.capacity}, "
          f"{args.turns} caller turns a call, reference fake profile")
    print(f"{'load':>6} {'offered':>7} {'admitted':>8} {'refused':>7} {'failed after adm.':>17} "
          f"{'v2v p50':>7} {'v2v p95':>7} {'greet p50':>9}  how refused")
    for r in rows:
        how = []
        if r["refused_api"]:
            kinds: dict[str, int] = {}
            for k in r["refused_api"]:
                kinds[k] = kinds.get(k, 0) + 1
            how += [f"{n}x POST /calls/outbound {k}" for k, n in kinds.items()]
        if r["inbound_busy"] is not None:
            how.append("inbound: busy message + hangup" if r["inbound_busy"] else "inbound: CONNECTED (not refused)")
        closed = {k: v for k, v in (r.get("reasons") or {}).items()}
        if closed:
            how.append(f"failures: {closed}")
        print(f"{r['load'] or '1 call':>6} {r['offered']:>7} {r['admitted']:>8} {len(r['refused_api']):>7} "
              f"{r['failed']:>17} "
              f"{ml.fmt(r.get('v2v_p50')):>7} {ml.fmt(r.get('v2v_p95')):>7} {ml.fmt(r.get('greet_p50')):>9}  "
              f"{'; '.join(how) or '-'}")


if __name__ == "__main__":
    raise SystemExit(main())
