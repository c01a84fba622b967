"""A media process killed mid-call (SIGKILL, after the greeting and the first caller turn) on `make dev`'s
stack: the turns so far stay on the row, and the call resumes on the restarted process (apology, next
turn answered); with no media coming back, the reaper ends the call as media_failure with its webhooks."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from media.call.lines import RESUME_APOLOGY
from sandbox.webhook_receiver import WebhookReceiver

FIRST = "Can I book a cleaning next week?"
SECOND = "Tuesday morning would be great."
TO = "+31612345678"


def _http(method: str, url: str, key: str | None = None, body: dict | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the local stack
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:  # the thread ended since the listing: it has no children to give
            continue
    return out


def media_pid(stack_pid: int) -> int:
    """The media service process the dev stack runs (its child running ``media.server``)."""
    for pid in _children(stack_pid):
        try:
            if b"media.server" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except FileNotFoundError:  # a short-lived child that already exited
            continue
    raise AssertionError("no media.server child")


class DevStack:
    def __init__(self, tmp: Path, **env: str):
        from devstack import launch

        self.state, self.log = tmp / "state", tmp / "dev.log"
        self.proc = launch.start(self.state, self.log, DEV_REAPER_SECONDS="1", **env)
        self.env = launch.wait_ready(self.state, self.proc, self.log, timeout=120)
        self.base, self.key = self.env["BASE_URL"], self.env["API_KEY"]

    def stop(self) -> None:
        from devstack import launch

        launch.stop(self.proc)

    def call(self, receiver: WebhookReceiver, lines: list[str]) -> str:
        status, body = _http("POST", self.base + "/assistants", self.key, {
            "name": "Dental", "first_message": "Hello, Acme Dental here.",
            "webhook_url": receiver.url(), "webhook_events": ["status-update", "end-of-call-report"],
            "stt_config": {"provider": "deepgram", "model": "nova-3-general", "language": "en"},
            "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                           "messages": [{"role": "system", "content": "You are a receptionist."}]},
            "tts_config": {"provider": "elevenlabs", "voice_id": "21m00Tcm4TlvDq8ikWAM"}})
        assert status == 201, body
        assistant_id = body["assistant"]["id"]
        status, body = _http("POST", self.base + "/numbers", self.key,
                             {"phone_number": "+14155550100", "agent_id": assistant_id})
        assert status == 201, body
        status, body = _http("POST", self.env["SANDBOX_CONTROL_URL"] + "/sandbox/scripts", None,
                             {"to": TO, "lines": lines})
        assert status == 201, body
        status, body = _http("POST", self.base + "/calls/outbound", self.key,
                             {"destination": TO, "assistant_id": assistant_id})
        assert status == 200, body
        return body["call_id"]

    def get(self, call_id: str) -> dict[str, Any]:
        status, call = _http("GET", self.base + f"/calls/{call_id}", self.key)
        assert status == 200, call
        return call

    def wait(self, call_id: str, done, timeout: float) -> dict[str, Any]:  # noqa: ANN001 - a predicate
        deadline = time.monotonic() + timeout
        call = self.get(call_id)
        while not done(call) and time.monotonic() < deadline:
            time.sleep(1.0)  # the API allows 100 requests a minute per key; a resume can take a minute
            call = self.get(call_id)
        assert done(call), (call, self.log.read_text()[-3000:])
        return call


def greeted_and_first_turn(call: dict[str, Any]) -> bool:
    roles = [(m["role"], m.get("content")) for m in call.get("messages") or []]
    return ("assistant", "Hello, Acme Dental here.") in roles and ("user", FIRST) in roles


@pytest.fixture
def receiver(allow_private_urls):
    with WebhookReceiver() as server:
        yield server


def test_killed_media_process_loses_no_turn_and_the_call_resumes(tmp_path, receiver):
    stack = DevStack(tmp_path)
    try:
        call_id = stack.call(receiver, [FIRST, SECOND, "Thanks, goodbye."])
        stack.wait(call_id, greeted_and_first_turn, 60)
        os.kill(media_pid(stack.proc.pid), signal.SIGKILL)

        # Nothing said so far is lost, though no task reported an end.
        call = stack.get(call_id)
        assert call["status"] == "in-progress" and greeted_and_first_turn(call)

        def resumed(c: dict[str, Any]) -> bool:
            contents = [m.get("content") for m in c.get("messages") or []]
            return RESUME_APOLOGY in contents and SECOND in contents[contents.index(RESUME_APOLOGY):] and \
                contents[-1] != SECOND
        # The restarted media process takes the reconnected stream: apology, then the next turn is answered.
        call = stack.wait(call_id, resumed, 90)
        messages = call["messages"]
        assert messages[0] == {"role": "assistant", "content": "Hello, Acme Dental here."}
        assert messages[1] == {"role": "user", "content": FIRST}
        after = messages[[m.get("content") for m in messages].index(SECOND) + 1:]
        assert after and after[0]["role"] == "assistant" and after[0]["content"]
        call = stack.wait(call_id, lambda c: c["status"] != "in-progress", 60)
        assert call["status"] == "ended" and call["end_reason"] in ("customer_hangup", "assistant_hangup")
    finally:
        stack.stop()


def test_with_no_media_coming_back_the_reaper_ends_the_call_as_media_failure(tmp_path, receiver):
    stack = DevStack(tmp_path, DEV_MEDIA_RESTART="0", DEV_REAPER_STALE_SECONDS="5")
    try:
        call_id = stack.call(receiver, [FIRST, SECOND, "Thanks, goodbye."])
        stack.wait(call_id, greeted_and_first_turn, 60)
        os.kill(media_pid(stack.proc.pid), signal.SIGKILL)
        call = stack.wait(call_id, lambda c: c["status"] != "in-progress", 60)
        assert (call["status"], call["end_reason"]) == ("failed", "media_failure")
        assert greeted_and_first_turn(call)
        ended = receiver.wait_for("status-update", count=2, timeout=30)[-1].message
        assert ended["call"]["status"] == "ended-with-error" and ended["end_reason"] == "media_failure"
        [report] = receiver.wait_for("end-of-call-report", count=1, timeout=60)
        assert report.message["end_reason"] == "media_failure"
        assert [m["content"] for m in report.message["messages"]][:2] == ["Hello, Acme Dental here.", FIRST]
    finally:
        stack.stop()
