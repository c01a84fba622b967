"""A media process killed mid-call on `make dev`'s stack: what is kept and how fast the call comes back.

    .venv/bin/python bench/media_crash.py [runs]

Each run starts the dev stack (its own state dir and free ports), places an outbound call answered by a
simulated caller, waits until the call row holds the greeting and the first caller turn, SIGKILLs the
media process, and polls the call row (every 50 ms) until the resumed conversation shows the apology.
Prints, per run and as medians: turns kept on the row right after the kill, seconds until the restarted
media process answers /healthz, and seconds from the kill until the apology is on the row (it reaches the
row within 0.5 s of being spoken, so this overstates the caller's wait by up to that).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST = "Can I book a cleaning next week?"
APOLOGY_PREFIX = "Sorry about that, we were cut off"


def _http(method: str, url: str, key: str | None = None, body: dict | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})  # noqa: S310 - the local stack
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the local stack
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _media_pid(stack_pid: int) -> int:
    for task in Path(f"/proc/{stack_pid}/task").iterdir():
        try:  # threads and short-lived children come and go while we read /proc
            for pid in (task / "children").read_text().split():
                if b"media.server" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return int(pid)
        except FileNotFoundError:
            continue
    raise RuntimeError("no media.server child")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - the local stack
            return resp.status == 200
    except OSError:
        return False


def one_run(tmp: Path) -> dict[str, float]:
    from devstack import launch

    state, log = tmp / "state", tmp / "dev.log"
    proc = launch.start(state, log)
    try:
        env = launch.wait_ready(state, proc, log, timeout=120)
        base, key = env["BASE_URL"], env["API_KEY"]
        health = env["MEDIA_WS_URL"].replace("ws://", "http://").replace("/twilio/stream", "/healthz")
        _, body = _http("POST", base + "/assistants", key, {
            "name": "Dental", "first_message": "Hello, Acme Dental here.",
            "stt_config": {"provider": "deepgram", "model": "nova-3-general", "language": "en"},
            "tts_config": {"provider": "elevenlabs", "voice_id": "21m00Tcm4TlvDq8ikWAM"},
            "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                           "messages": [{"role": "system", "content": "You are a receptionist."}]}})
        assistant_id = body["assistant"]["id"]
        _http("POST", base + "/numbers", key, {"phone_number": "+14155550100", "agent_id": assistant_id})
        _http("POST", env["SANDBOX_CONTROL_URL"] + "/sandbox/scripts", None,
              {"to": "+31612345678", "lines": [FIRST, "Tuesday morning would be great.", "Thanks, goodbye."]})
        _, body = _http("POST", base + "/calls/outbound", key, {"destination": "+31612345678",
                                                                 "assistant_id": assistant_id})
        call_url = base + f"/calls/{body['call_id']}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            messages = _http("GET", call_url, key)[1].get("messages") or []
            if any(m.get("content") == FIRST for m in messages):
                break
            time.sleep(0.05)
        os.kill(_media_pid(proc.pid), signal.SIGKILL)
        killed = time.monotonic()
        kept = len(_http("GET", call_url, key)[1].get("messages") or [])
        back = apology = None
        while time.monotonic() - killed < 90 and (back is None or apology is None):
            if back is None and _healthy(health):
                back = time.monotonic() - killed
            messages = _http("GET", call_url, key)[1].get("messages") or []
            if apology is None and any(str(m.get("content") or "").startswith(APOLOGY_PREFIX) for m in messages):
                apology = time.monotonic() - killed
            time.sleep(0.05)
        return {"turns_kept": kept, "media_back_s": back or float("nan"), "apology_s": apology or float("nan")}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    results = []
    for i in range(runs):
        with tempfile.TemporaryDirectory(prefix="media-crash-") as tmp:
            r = one_run(Path(tmp))
        results.append(r)
        print(f"run {i + 1}: turns kept {r['turns_kept']}, media back after {r['media_back_s']:.2f} s, "
              f"apology on the row {r['apology_s']:.2f} s after the kill", flush=True)
    print(f"median over {runs}: turns kept {statistics.median(r['turns_kept'] for r in results):g}, "
          f"media back {statistics.median(r['media_back_s'] for r in results):.2f} s, "
          f"apology {statistics.median(r['apology_s'] for r in results):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
