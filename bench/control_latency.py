"""How fast a call control command reaches a live call, through the whole local stack (`make dev`).

    .venv/bin/python bench/control_latency.py [--calls 3] [--commands 8]

Starts the dev stack as a subprocess (moto, the API behind the local gateway, fake Twilio, the sandbox
providers, the media service), places ``--calls`` simulated calls at once and, while each call is in
progress, sends ``--commands`` ``inject-context`` commands through ``POST /api/v1/calls/{id}/control``.
The API answers 200 only after the media task that owns the call has applied the command to the
conversation, so the request's round trip is an upper bound of "command -> call". ``GET /calls/{id}`` on
the same gateway, key and rate limiter is timed alongside: the difference is the hop to the media
service and back. Printed, never asserted (the goal is under 100 ms).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _http(method: str, url: str, key: str | None = None, body: dict | None = None) -> tuple[int, dict | None]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})  # noqa: S310 - the local dev stack's URL
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 - local URLs
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def start_stack(state: Path, log: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    from devstack import launch

    state.mkdir(parents=True, exist_ok=True)
    proc = launch.start(state, log, LOG_LEVEL="WARNING")
    try:
        return proc, launch.wait_ready(state, proc, log, timeout=120)
    except RuntimeError as exc:
        proc.kill()
        raise SystemExit(str(exc)) from None


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run_call(env: dict[str, str], assistant_id: str, index: int, commands: int,
             control_ms: list[float], get_ms: list[float], errors: list[str]) -> None:
    base, key, sandbox = env["BASE_URL"], env["API_KEY"], env["SANDBOX_CONTROL_URL"].rstrip("/")
    to = f"+1202555{index:04d}"
    lines = ["Hello, I would like some information please."] * 3 + ["Thank you, goodbye!"]
    status, body = _http("POST", f"{sandbox}/sandbox/scripts", body={"to": to, "lines": lines})
    if status != 201:
        errors.append(f"script {status} {body}")
        return
    status, body = _http("POST", f"{base}/calls/outbound", key, {"destination": to, "assistant_id": assistant_id})
    if status != 200 or not body:
        errors.append(f"outbound {status} {body}")
        return
    call_id = body["call_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, call = _http("GET", f"{base}/calls/{call_id}", key)
        if status == 200 and call and call.get("status") == "in-progress":
            break
        time.sleep(0.1)
    else:
        errors.append(f"call {call_id} never in progress")
        return
    # The first command may wait for the media stream to take the call (the API waits up to 2 s for
    # the owner after Twilio's "answered" callback): not measured.
    while time.monotonic() < deadline:
        status, body = _http("POST", f"{base}/calls/{call_id}/control", key,
                             {"type": "inject-context", "content": "Warm-up note.", "trigger_response": False})
        if status == 200:
            break
        time.sleep(0.1)
    for i in range(commands):  # at most 10 per call per minute (the contract's limit), one used above
        t = time.perf_counter()
        status, body = _http("POST", f"{base}/calls/{call_id}/control", key,
                             {"type": "inject-context", "content": f"Note {i}: the caller is a member.",
                              "trigger_response": False})
        elapsed = (time.perf_counter() - t) * 1000
        if status != 200:
            errors.append(f"control {status} {body}")
            break
        control_ms.append(elapsed)
        t = time.perf_counter()
        status, _ = _http("GET", f"{base}/calls/{call_id}", key)
        if status == 200:
            get_ms.append((time.perf_counter() - t) * 1000)
        time.sleep(0.4)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--commands", type=int, default=8, help="commands per call (the limit is 10 a minute)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state, log = Path(tmp) / "state", Path(tmp) / "dev.log"
        proc, env = start_stack(state, log)
        try:
            base, key = env["BASE_URL"], env["API_KEY"]
            status, body = _http("POST", f"{base}/assistants", key, {
                "name": "Control bench", "first_message": "Hello, Acme here.", "silence_timeout_seconds": 30,
                "stt_config": {"provider": "deepgram"}, "tts_config": {"provider": "elevenlabs", "voice_id": "v"},
                "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                               "messages": [{"role": "system", "content": "You are a receptionist."}]}})
            if status != 201 or not body:
                raise SystemExit(f"assistant: {status} {body}")
            status, number = _http("POST", f"{base}/numbers", key,
                                   {"phone_number": "+14155550123", "agent_id": body["assistant"]["id"]})
            if status != 201:
                raise SystemExit(f"number: {status} {number}")
            control_ms: list[float] = []
            get_ms: list[float] = []
            errors: list[str] = []
            threads = [threading.Thread(target=run_call, args=(env, body["assistant"]["id"], i, args.commands,
                                                               control_ms, get_ms, errors))
                       for i in range(args.calls)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(180)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"{args.calls} live calls, {len(control_ms)} inject-context commands through the local API gateway")
    if errors:
        print("errors:", *errors[:5], sep="\n  ")
    if not control_ms:
        return 1
    print("| request | n | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    print(f"| POST /calls/{{id}}/control (applied at the call) | {len(control_ms)} | {pct(control_ms, 50):.1f} | "
          f"{pct(control_ms, 95):.1f} | {max(control_ms):.1f} |")
    if get_ms:
        print(f"| GET /calls/{{id}} (same gateway, no media hop) | {len(get_ms)} | {pct(get_ms, 50):.1f} | "
              f"{pct(get_ms, 95):.1f} | {max(get_ms):.1f} |")
        print(f"media hop (control p50 - get p50): {pct(control_ms, 50) - pct(get_ms, 50):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
