"""First greeting latency in the deploy-shaped run (`make dev-aws`) with 1 and with 2 media tasks.

    .venv/bin/python bench/deploy_greeting.py [--calls 10] [--tasks 1,2] [--ring 2]

For each task count: starts ``python -m devstack.deploy_shape`` (HAProxy in front of the tasks, the Cloud Map
stand-in, the sandbox providers with the reference timing profile, fake Twilio ringing ``--ring`` seconds
before the simulated caller answers), then places one warm-up call per task (a fresh task's first call,
printed apart as "cold") and ``--calls`` outbound calls, one after the other, through
``POST /calls/outbound``. The API prepares each call on a task picked through discovery (ring-time
greeting synthesized and stored with the call, provider sockets warmed there), and Twilio's stream reaches a
task through the balancer: with 2 tasks, about half the streams land on the other task, which plays the
stored greeting. Printed per task count: the greeting latency each call's media task measured (Twilio
``start`` -> first agent audio frame sent, ``latency.greeting_ms`` on the call), p50/p95, split by whether
the stream met the task that prepared it. A stream that met another task leaves the preparing task a
reservation (its ``/readyz`` ``reserved``) for 60 s: that is how the split is counted (per task, before and
after each call). Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GREETING = "Hello, this is Acme support. How can I help?"


def http(method: str, url: str, key: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})  # noqa: S310 - the local run's URLs
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 - the local run's URLs
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def reserved(streams: list[str]) -> list[int]:
    """Each task's ring-time reservations (``/readyz``)."""
    return [http("GET", f"{s}/readyz")[1].get("reserved", 0) for s in streams]


def run_level(tasks: int, calls: int, ring: float, log_dir: Path) -> dict:
    from devstack import launch

    state = log_dir / f"state-{tasks}"
    log = log_dir / f"dev-aws-{tasks}.log"
    proc = launch.start(state, log, module="devstack.deploy_shape", DEV_AWS_TASKS=str(tasks), DEV_AWS_TASK_PORTS="free",
                        DEV_AWS_LB_PORT="0", FAKE_TWILIO_RING_SECONDS=str(ring), DEV_MEDIA_RESTART="0")
    out: dict = {"tasks": tasks, "same": [], "other": [], "failed": 0, "cold": []}
    try:
        env = launch.wait_ready(state, proc, log, timeout=180)
        base, key = env["BASE_URL"], env["API_KEY"]
        streams = env["MEDIA_TASK_STREAMS"].split(",")
        status, body = http("POST", base + "/assistants", key, {
            "name": "Greeting bench", "first_message": GREETING,
            "stt_config": {"provider": "deepgram", "model": "nova-3-general", "language": "en"},
            "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                           "messages": [{"role": "system", "content": "You are Acme's agent."}]},
            "tts_config": {"provider": "elevenlabs", "voice_id": "21m00Tcm4TlvDq8ikWAM"}})
        if status != 201:
            raise RuntimeError(f"assistant not created: {status} {body}")
        assistant = body["assistant"]["id"]
        # The first call on each fresh task builds what a task builds once (measured apart: "cold").
        for i in range(tasks + calls):
            to = f"+1202555{i:04d}"
            http("POST", env["SANDBOX_CONTROL_URL"] + "/sandbox/scripts", body={"to": to, "lines": ["<silence 1s>"]})
            before = reserved(streams)
            status, body = http("POST", base + "/calls/outbound", key, {"destination": to, "assistant_id": assistant})
            if status != 200:
                out["failed"] += 1
                continue
            call_id, deadline, call = body["call_id"], time.monotonic() + 60, {}
            while time.monotonic() < deadline:
                call = http("GET", f"{base}/calls/{call_id}", key)[1]
                if call.get("status") in ("ended", "failed"):
                    break
                time.sleep(0.25)
            greeting = (call.get("latency") or {}).get("greeting_ms")
            if greeting is None:
                out["failed"] += 1
                continue
            # A new reservation left on some task: the stream did not meet it. (One expiring on the same
            # task in the same interval would hide it: calls are ~10 s apart, reservations last 60 s.)
            where = "other" if any(a > b for a, b in zip(reserved(streams), before, strict=True)) else "same"
            out["cold" if i < tasks else where].append(float(greeting))
            print(f"  {tasks} task(s), call {i + 1}{' (warm-up)' if i < tasks else ''}: greeting {greeting} ms, "
                  f"stream met the {'preparing' if where == 'same' else 'other'} task", flush=True)
    finally:
        proc.terminate()
        proc.wait(90)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--tasks", default="1,2")
    parser.add_argument("--ring", type=float, default=2.0, help="seconds each call rings before it is answered")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="deploy-greeting-") as tmp:
        for tasks in (int(t) for t in args.tasks.split(",")):
            rows.append(run_level(tasks, args.calls, args.ring, Path(tmp)))
    print(f"\nFirst greeting after Twilio start (task-measured latency.greeting_ms), {args.calls} calls one at a "
          f"time, ring {args.ring:g} s, deploy-shaped run (HAProxy, sandbox reference profile)")
    print(f"{'tasks':>5} {'ok':>3} {'failed':>6} {'p50 ms':>7} {'p95 ms':>7} {'mean':>6}   "
          f"{'met preparing task: n p50':>26} {'met other task: n p50':>22}   first call per task (cold)")
    for r in rows:
        both = r["same"] + r["other"]
        mean = f"{statistics.mean(both):.0f}" if both else "-"

        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.0f}"

        print(f"{r['tasks']:>5} {len(both):>3} {r['failed']:>6} {fmt(pct(both, 0.5)):>7} {fmt(pct(both, 0.95)):>7} "
              f"{mean:>6}   {len(r['same']):>20} {fmt(pct(r['same'], 0.5)):>5} "
              f"{len(r['other']):>16} {fmt(pct(r['other'], 0.5)):>5}   {', '.join(fmt(c) for c in r['cold'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
