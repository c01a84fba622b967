"""The deploy-shaped run (`make dev-aws`) end to end: two media tasks behind HAProxy, Cloud Map stand-in,
control ports of their own, one call placed through the API, greeted, controlled and ended."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GREETING = "Hello, Acme Dental here."
SAID = "Your cleaning is booked for Tuesday."
GOODBYE = "Thanks for calling, goodbye."
CALLEE = "+31612345678"
SENT = {"success": True, "message": "Command sent successfully"}


def _http(method: str, url: str, key: str | None = None, body: dict | None = None) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - local URLs of the run
            return resp.status, json.loads(resp.read() or b"{}"), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def _status(method: str, url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"{}" if method == "POST" else None,  # noqa: S310 - local URLs of the run
                                                           method=method), timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _wait(what: str, check, timeout: float = 20.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def deploy_run(tmp_path):
    """`python -m devstack.deploy_shape` with two 1-call tasks (media_max_calls=1, as CDK context would set it)."""
    from devstack import launch
    from devstack.deploy_shape import haproxy_binary

    if shutil.which(haproxy_binary()) is None:
        pytest.fail("haproxy is not installed: `make bootstrap` (scripts/bootstrap.sh) installs it")
    state, log = tmp_path / "state", tmp_path / "dev-aws.log"
    proc = launch.start(state, log, module="devstack.deploy_shape", DEV_AWS_TASK_PORTS="free", DEV_AWS_LB_PORT="0",
                        DEV_AWS_TASKS="2", DEV_AWS_CONFIG=json.dumps({"media_max_calls": 1}))
    try:
        env = launch.wait_ready(state, proc, log, timeout=120)
        yield env, state, log
    finally:
        launch.stop(proc)


def _assistant_lines(base: str, key: str, call_id: str) -> list[str]:
    call = _http("GET", f"{base}/calls/{call_id}", key)[1]
    return [m["content"] for m in call.get("messages") or [] if m["role"] == "assistant"]


def _play_out(text: str) -> None:
    """Wait as long as the sandbox TTS's audio of ``text`` lasts, plus a second of slack."""
    from sandbox import audio
    from sandbox.elevenlabs_tts import FakeElevenLabsStream

    voice = (FakeElevenLabsStream.__init__.__kwdefaults__ or {})["voice"]
    time.sleep(audio.duration_ms(audio.speak(text, voice)) / 1000 + 1.0)


def _control_url_on_row(env: dict[str, str], state: Path, call_id: str) -> str:
    """The holder's control address as the media task wrote it on the call row (the API does not return
    it). Read with boto3 from the run's moto: this process's pynamodb models carry the tests' table prefix."""
    import boto3

    org_id = json.loads((state / "demo-org.json").read_text())["org_id"]
    ddb = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    item = ddb.get_item(TableName=env["TABLE_PREFIX"] + "calls",
                        Key={"org_id": {"S": org_id}, "id": {"S": call_id}})["Item"]
    return json.loads(item["data"]["S"])["control_url"]


def test_a_call_through_two_tasks_behind_the_balancer(deploy_run):
    from devstack.deploy_shape import server_states

    env, state, _log = deploy_run
    base, key = env["BASE_URL"], env["API_KEY"]
    tasks = env["MEDIA_TASKS"].split(",")  # control URLs: http://127.0.0.2:<port>, http://127.0.0.3:<port>
    sock = Path(env["HAPROXY_SOCKET"])
    assert len(tasks) == 2 and len({t.rsplit(":", 1)[0] for t in tasks}) == 2
    assert server_states(sock) == {"task-1": "UP", "task-2": "UP"}

    # The listener's rules: only the stream, browser and monitor paths reach a task; control never does.
    lb = env["MEDIA_WS_URL"].replace("ws://", "http://").removesuffix("/twilio/stream")
    assert _http("POST", f"{lb}/calls/x/control", body={})[:2] == (404, {"error": "not_found"})
    assert _http("GET", f"{lb}/readyz")[:2] == (404, {"error": "not_found"})
    # Each task serves control on its own port only: its stream port does not know the route.
    for stream in env["MEDIA_TASK_STREAMS"].split(","):
        assert _status("POST", f"{stream}/calls/x/prepare") == 404
        assert _status("GET", f"{stream}/readyz") == 200

    status, body, _ = _http("POST", base + "/assistants", key, {
        "name": "Deploy-shaped receptionist", "first_message": GREETING, "silence_timeout_seconds": 60,
        "stt_config": {"provider": "deepgram", "model": "nova-3-general", "language": "en"},
        "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                       "messages": [{"role": "system", "content": "You are a receptionist."}]},
        "tts_config": {"provider": "elevenlabs", "voice_id": "21m00Tcm4TlvDq8ikWAM"}})
    assert status == 201, body
    assistant_id = body["assistant"]["id"]
    # The simulated caller stays on the line, silent, while the call is controlled.
    assert _http("POST", env["SANDBOX_CONTROL_URL"] + "/sandbox/scripts",
                 body={"to": CALLEE, "lines": ["<silence 40s>"]})[0] == 201

    status, body, _ = _http("POST", base + "/calls/outbound", key,
                            {"destination": CALLEE, "assistant_id": assistant_id})
    assert status == 200 and body["status"] == "dialing", body
    call_id = body["call_id"]

    def greeted():
        call = _http("GET", f"{base}/calls/{call_id}", key)[1]
        return call["status"] == "in-progress" and GREETING in _assistant_lines(base, key, call_id)

    _wait("the greeting on the call row", greeted, timeout=20)
    holder = _control_url_on_row(env, state, call_id)
    assert holder in tasks  # the task's own address (from its ECS metadata stand-in), not the Cloud Map name
    name = f"task-{tasks.index(holder) + 1}"
    # At its capacity (1 call) the holding task answers /readyz 503 and the balancer takes it out.
    _wait(f"{name} DOWN in HAProxy", lambda: server_states(sock).get(name) == "DOWN", timeout=5)
    # Whichever task accepted the ring-time prepare, the other one holds no reservation for this call: a
    # preparer that did not get the stream was told to release it (docs/media.md, "Greeting store").
    other = tasks[1 - tasks.index(holder)]
    _wait("the other task free", lambda: _http("GET", f"{other}/readyz")[:2] == (
        200, {"status": "ok", "active_calls": 0, "callers": 0, "reserved": 0, "max_calls": 1}), timeout=5)

    # Commands interrupt what the agent is saying (the transcript keeps what was heard): let the greeting
    # and the said line play out first (their length is the sandbox TTS's own espeak-ng audio).
    _play_out(GREETING)
    status, body, _ = _http("POST", f"{base}/calls/{call_id}/control", key, {"type": "say", "content": SAID})
    assert (status, body) == (200, SENT)
    _wait("the said line on the call row", lambda: SAID in _assistant_lines(base, key, call_id), timeout=10)
    _play_out(SAID)
    # Context injected with a reply: the agent answers it (a third line of its own) before the end.
    status, body, _ = _http("POST", f"{base}/calls/{call_id}/control", key, {
        "type": "inject-context", "content": "The caller is a returning patient.", "trigger_response": True})
    assert (status, body) == (200, SENT)
    _wait("the reply to the injected context", lambda: len(_assistant_lines(base, key, call_id)) == 3, timeout=10)
    status, body, _ = _http("POST", f"{base}/calls/{call_id}/control", key, {"type": "end-call", "message": GOODBYE})
    assert (status, body) == (200, SENT)

    def ended():
        call = _http("GET", f"{base}/calls/{call_id}", key)[1]
        return call if call["status"] == "ended" else None

    call = _wait("the call to end", ended, timeout=20)
    assert call["end_reason"] == "control_end_call"
    said = [m["content"] for m in call["messages"] if m["role"] == "assistant"]
    assert said[:2] == [GREETING, SAID] and said[3:] == [GOODBYE] and said[2], call["messages"]
    assert call["latency"]["greeting_ms"] is not None
    assert _control_url_on_row(env, state, call_id) == holder
    # Free again: back in the balancer.
    _wait(f"{name} UP again", lambda: server_states(sock).get(name) == "UP", timeout=5)
    # Another org's key cannot see the call (a 404, not a 403).
    other_key = _http("POST", base + "/organizations", key, {"name": "Child"})[1]["api_key"]
    assert _http("GET", f"{base}/calls/{call_id}", other_key)[0] == 404
