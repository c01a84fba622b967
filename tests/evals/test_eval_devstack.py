"""`make dev`'s stack as a subprocess (devstack.launch) runs a suite with a persona and a scripted scenario:
the API and workflow Lambdas in-process on moto, the media service as its own process running the persona
caller on a web call, the fake Twilio answering the scripted one with the sandbox phone caller."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path


def _http(method: str, url: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={  # noqa: S310 - the local stack
        "Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the local stack
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_make_dev_runs_a_persona_and_a_scripted_scenario(tmp_path: Path):
    from devstack import launch

    state, log = tmp_path / "state", tmp_path / "dev.log"
    proc = launch.start(state, log)
    try:
        env = launch.wait_ready(state, proc, log)
        base, key = env["BASE_URL"], env["API_KEY"]
        demo = json.loads((state / "demo-org.json").read_text())
        scenarios = [
            {"name": "Persona", "caller": {"instructions": "You are Kim. Ask about 'opening hours' and then say "
                                                           "'thanks a lot'.", "pace": 1.2}, "max_turns": 4,
             "criteria": ["The assistant repeats 'opening hours'"],
             "expect": [{"type": "transcript_contains", "text": "opening hours", "role": "user"}]},
            {"name": "Scripted", "caller": {"lines": ["Do you open on Sunday?", "Bye for now"]},
             "criteria": ["The assistant repeats 'open on Sunday'"]},
        ]
        status, body = _http("POST", base + "/test-suites", key, {"name": "Dev", "assistant_id": demo["assistant_id"],
                                                                 "scenarios": scenarios})
        assert status == 201, body
        status, body = _http("POST", f"{base}/test-suites/{body['test_suite']['id']}/runs", key, {"concurrency": 2})
        assert status == 202, body
        run_id = body["test_run"]["id"]
        deadline = time.monotonic() + 180
        run: dict = {}
        while time.monotonic() < deadline:
            run = _http("GET", f"{base}/test-runs/{run_id}", key)[1]["test_run"]
            if run["status"] in ("completed", "failed"):
                break
            time.sleep(1)
        assert run["status"] == "completed", (run, log.read_text()[-4000:])
        results = {r["scenario"]: r for r in run["results"]}
        assert all(r["error"] is None and r["passed"] for r in results.values()), run["results"]
        persona_call = _http("GET", f"{base}/calls/{results['Persona']['call_id']}", key)[1]
        assert persona_call["direction"] == "web" and persona_call["test_run_id"] == run_id
        assert [m["content"] for m in persona_call["messages"] if m["role"] == "user"][:2] == [
            "opening hours", "thanks a lot"]
        scripted_call = _http("GET", f"{base}/calls/{results['Scripted']['call_id']}", key)[1]
        assert scripted_call["direction"] == "outbound" and scripted_call["test_run_id"] == run_id
    finally:
        launch.stop(proc)
