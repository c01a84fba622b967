"""`make dev`'s stack as a subprocess: health, the demo key, SIGTERM, and data surviving a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _env(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TABLE_"))}
    env.update(DEV_STATE_DIR=str(state_dir), MOTO_PORT="0", API_PORT="0", DEV_SNAPSHOT_SECONDS="1",
               PYTHONUNBUFFERED="1")
    env.pop("DEV_MOTO_PORT", None)
    return env


def _start(state_dir: Path, log: Path) -> subprocess.Popen:
    (state_dir / "dev.env").unlink(missing_ok=True)
    out = open(log, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "devstack.run"], cwd=ROOT, env=_env(state_dir),
                            stdout=out, stderr=subprocess.STDOUT)


def _read_env(state_dir: Path, proc: subprocess.Popen, log: Path, timeout: float = 90) -> dict[str, str]:
    path = state_dir / "dev.env"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        if path.exists():
            lines = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
            if "API_KEY" in lines:
                return lines
        time.sleep(0.2)
    raise AssertionError("dev.env not written:\n" + log.read_text())


def _http(method: str, url: str, key: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _stop(proc: subprocess.Popen, log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Stopped." in log.read_text()


def test_dev_stack_serves_and_persists(tmp_path):
    state = tmp_path / "state"
    log = tmp_path / "dev.log"
    proc = _start(state, log)
    try:
        env = _read_env(state, proc, log)
        base, key = env["BASE_URL"], env["API_KEY"]
        assert base.startswith("http://127.0.0.1:") and base.endswith("/api/v1")
        assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        assert _http("GET", base + "/health") == (200, {"status": "ok"})
        status, body = _http("POST", base + "/assistants", key, {"name": "Survivor", "firstMessage": "Hi"})
        assert status == 201, body
        assistant_id = body["assistant"]["id"]
        status, body = _http("GET", base + "/assistants", key)
        assert status == 200 and [a["id"] for a in body["assistants"]] == [assistant_id]
        status, body = _http("GET", base + "/nope", key)
        assert status == 404 and body["error"] == "not_found"
        assert _http("GET", base + "/assistants")[0] == 401
    finally:
        _stop(proc, log)
    assert (state / "moto-dynamodb.pickle").exists()

    proc = _start(state, log)
    try:
        env2 = _read_env(state, proc, log)
        assert env2["API_KEY"] == key  # the demo org is created once
        status, body = _http("GET", env2["BASE_URL"] + f"/assistants/{assistant_id}", key)
        assert status == 200 and body["assistant"]["name"] == "Survivor"
        assert "(existing)" in log.read_text()
    finally:
        _stop(proc, log)
