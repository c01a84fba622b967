"""`make dev`'s stack as a subprocess: health, the demo key, SIGTERM, and data surviving a restart."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _start(state_dir: Path, log: Path) -> subprocess.Popen:
    from devstack import launch

    return launch.start(state_dir, log, DEV_SNAPSHOT_SECONDS="1")


def _read_env(state_dir: Path, proc: subprocess.Popen, log: Path, timeout: float = 90) -> dict[str, str]:
    from devstack import launch

    try:
        return launch.wait_ready(state_dir, proc, log, timeout)
    except RuntimeError as exc:
        raise AssertionError(str(exc)) from None


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
        # Components stop in reverse order with their own budgets (the media service drains for up to
        # 10 s, worker threads join for 5 s each, then the moto snapshot): 30 s was tight on a loaded CI.
        assert proc.wait(60) == 0, log.read_text()
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
        # make dev seeds the demo org with an assistant and a sandbox number pointing at it
        demo = json.loads((state / "demo-org.json").read_text())
        status, body = _http("GET", base + "/assistants", key)
        assert status == 200
        assert sorted(a["id"] for a in body["assistants"]) == sorted([assistant_id, demo["assistant_id"]])
        status, body = _http("GET", base + "/numbers", key)
        assert status == 200
        assert [(n["id"], n["phone_number"], n["agent_id"]) for n in body["numbers"]] == [
            (demo["number_id"], "+12025550100", demo["assistant_id"])]
        assert env["CONSOLE_URL"] == base.removesuffix("/api/v1") + "/console"
        status, body = _http("GET", base + "/nope", key)
        assert status == 404 and body["error"] == "not_found"
        assert _http("GET", base + "/assistants")[0] == 401
        media_control_on_its_own_port(env)
        simulated_call_through_the_whole_stack(state, base, key)
        example_suite_through_the_cli(state, base, key, tmp_path / "junit.xml")
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


def _status(method: str, url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"{}" if method == "POST" else None,
                                                           method=method), timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def media_control_on_its_own_port(env: dict[str, str]) -> None:
    """As the stack deploys it: prepare and commands on MEDIA_CONTROL_PORT, never on the public stream port."""
    public = env["MEDIA_WS_URL"].replace("ws://", "http://").removesuffix("/twilio/stream")
    control = env["MEDIA_CONTROL_URL"]
    assert control.startswith("http://127.0.0.1:") and control != public
    assert _status("GET", control + "/healthz") == 200
    assert _status("POST", public + "/calls/c1/prepare") == 404
    # Reached, and refused for its missing signature (not 404): the control endpoint lives here.
    assert _status("POST", control + "/calls/c1/prepare") == 401


def simulated_call_through_the_whole_stack(state: Path, base: str, key: str) -> None:
    """Without any keys, an outbound call is answered by a simulated caller and runs end to end:
    fake Twilio -> media service -> sandbox STT/LLM/TTS -> call row -> analysis workflow."""
    from devstack import launch

    status, body = _http("POST", base + "/assistants", key, {
        "name": "Dev receptionist", "first_message": "Hello, Acme Dental here.",
        "stt_config": {"provider": "deepgram", "model": "nova-3-general", "language": "en"},
        "llm_config": {"provider": "openai", "model": "gpt-4o-mini", "tools": [{"type": "endCall"}],
                       "messages": [{"role": "system", "content": "You are a receptionist."}]},
        "tts_config": {"provider": "elevenlabs", "voice_id": "21m00Tcm4TlvDq8ikWAM"}})
    assert status == 201, body
    assistant_id = body["assistant"]["id"]
    status, body = _http("POST", base + "/numbers", key, {"phone_number": "+14155550100", "agent_id": assistant_id})
    assert status == 201, body
    out = subprocess.run(
        [sys.executable, "-m", "media.simulate", "--assistant-id", assistant_id, "--to", "+31612345678",
         "--say", "Can I book a cleaning?", "--say", "Thanks, goodbye", "--json"],
        cwd=ROOT, env=launch.isolated_env(state), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert [t["caller"] for t in result["turns"]] == ["Can I book a cleaning?", "Thanks, goodbye"]
    # The agent answered the first line (later turn texts depend on the caller's turn-end guess under load).
    assert result["turns"][0]["agent"]
    assert result["end_reason"] == "assistant_hangup"
    status, call = _http("GET", base + f"/calls/{result['call_id']}", key)
    assert status == 200 and call["status"] == "ended"
    assert [m["content"] for m in call["messages"] if m["role"] == "user"] == ["Can I book a cleaning?",
                                                                              "Thanks, goodbye"]
    deadline = time.monotonic() + 30
    while call.get("summary") is None and time.monotonic() < deadline:  # the analysis workflow runs after
        time.sleep(0.5)
        call = _http("GET", base + f"/calls/{result['call_id']}", key)[1]
    assert call["summary"], call


def example_suite_through_the_cli(state: Path, base: str, key: str, junit: Path) -> None:
    """docs/examples/front-desk.yaml against the demo assistant with the CI command: a scripted test call
    to the sandbox's phone caller and a persona on a web call, through the eval-run workflow, judged,
    exit 0, JUnit without failures."""
    from xml.etree import ElementTree as ET

    from devstack import launch

    demo = json.loads((state / "demo-org.json").read_text())
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "eval", "run", "docs/examples/front-desk.yaml",
         "--assistant-id", demo["assistant_id"], "--junit", str(junit), "--poll", "0.5", "--timeout", "90"],
        cwd=ROOT, env=launch.isolated_env(state, BASE_URL=base, API_KEY=key), capture_output=True, text=True,
        timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed, 0 failed" in out.stdout
    root = ET.parse(junit).getroot()  # noqa: S314 - the file the CLI just wrote
    assert (root.get("tests"), root.get("failures")) == ("2", "0")
    print(f"example suite via the CLI: {time.monotonic() - started:.1f} s")
