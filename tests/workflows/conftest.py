"""Fixtures for the workflows: both ASL files deployed in moto with Lambda routed to the real
Chalice handlers (devstack/sfn.py), the sandbox OpenAI fake, FakeTwilio wired to the Chalice test
client, the webhook receiver, FakeResend, and a settable clock for the campaign run."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from sandbox.httpserver import FakeHTTPServer, FakeRequest, FakeResponse
from sandbox.twilio import FakeTwilio
from sandbox.webhook_receiver import WebhookReceiver

PUBLIC_BASE = "https://voice.example.test/api"
ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "twilio-wf-token"
MEDIA_SECRET = "media-control-wf-secret"
WEBHOOK_SECRET = "whsec-wf-secret"


@pytest.fixture(autouse=True)
def _local_receivers_allowed(allow_private_urls):
    """The receivers and fakes here listen on 127.0.0.1 (tests/conftest.py ``allow_private_urls``)."""
PLATFORM_OPENAI_KEY = "sk-platform-analysis"


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def sfn_client():
    import boto3

    return boto3.client("stepfunctions", region_name="us-east-1")


def wait_execution(arn: str, timeout: float = 30.0) -> dict:
    client = sfn_client()

    def done() -> dict | None:
        d = client.describe_execution(executionArn=arn)
        return d if d["status"] != "RUNNING" else None

    return wait_until(done, timeout, 0.05, f"execution {arn}")


def executions(machine_arn: str) -> list[dict]:
    return sfn_client().list_executions(stateMachineArn=machine_arn)["executions"]


@pytest.fixture
def client(app):
    """The Chalice test client, one request at a time: Chalice keeps ``current_request`` on the app,
    so the test thread and FakeTwilio's callback threads must not interleave requests."""
    from chalice.test import Client

    with Client(app) as c:
        lock = threading.RLock()
        unlocked = c.http.request

        def request(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return unlocked(*args, **kwargs)

        c.http.request = request  # type: ignore[method-assign]
        yield c


@pytest.fixture
def sfn(aws, monkeypatch):
    """Both state machines in moto, tasks routed to the real handlers; stops leftovers at the end."""
    from chalicelib.settings import reset_settings
    from devstack import sfn as devsfn

    for env in devsfn.MACHINES.values():
        monkeypatch.setenv(env, "")  # restored (removed) at teardown; deploy() fills them in
    monkeypatch.setenv("CAMPAIGN_MAX_WAIT_SECONDS", "1")
    monkeypatch.setenv("CAMPAIGN_CALL_TIMEOUT_SECONDS", "20")
    monkeypatch.setenv("CAMPAIGN_WORKER_POLL_SECONDS", "1")
    monkeypatch.setenv("CAMPAIGN_DISPATCH_SECONDS", "2")
    monkeypatch.setenv("CAMPAIGN_DISPATCH_POLL_MS", "50")
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "100000")  # the tests poll the API
    reset_settings()
    devsfn.install_router()
    devsfn.after_hooks.clear()
    machines = devsfn.deploy()
    yield machines
    devsfn.after_hooks.clear()
    client = sfn_client()

    def running() -> list[str]:
        return [ex["executionArn"] for arn in machines.values()
                for ex in client.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]]

    for _ in range(3):  # a run may start its next segment while we stop the previous one
        for arn in running():
            try:
                client.stop_execution(executionArn=arn)
            except AttributeError:
                # moto: an execution whose interpreter thread has not set itself up yet cannot be
                # stopped (its worker has no environment); the next pass stops it.
                pass
        time.sleep(0.2)  # let stopped interpreter threads unwind before moto's mock goes away
        if not running():
            break
    reset_settings()


@pytest.fixture
def openai_fake(monkeypatch):
    from chalicelib.settings import reset_settings
    from sandbox.openai_llm import FakeOpenAI

    fake = FakeOpenAI(first_token_delay_ms=0, token_delay_ms=0)
    fake.start()
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", PLATFORM_OPENAI_KEY)
    reset_settings()
    from chalicelib.services import byok

    byok.clear_cache()
    yield fake
    fake.stop()
    byok.clear_cache()


@pytest.fixture
def receiver():
    with WebhookReceiver(secret=WEBHOOK_SECRET) as server:
        yield server


class FakeControlServer(FakeHTTPServer):
    """The media service's control endpoint (ring-time admission and warm-up requests land here);
    ``at_capacity`` answers prepare as a media task at MEDIA_MAX_CALLS does."""

    def __init__(self):
        super().__init__()
        self.at_capacity = False
        self.route("POST", r"/calls/(?P<call_id>[^/]+)/(?P<cmd>\w+)", self._answer)

    def _answer(self, req: FakeRequest) -> FakeResponse:
        if self.at_capacity and req.params["cmd"] == "prepare":
            return FakeResponse(503, {"error": "capacity_exceeded",
                                      "message": "This media task is at capacity or draining."})
        return FakeResponse(202, {"success": True, "status": "preparing"})


class CampaignTwilio(FakeTwilio):
    """FakeTwilio whose calls progress by themselves, per destination and attempt:
    ``outcomes[number] = ["no-answer", "completed"]`` (1st attempt, 2nd ...; the last one repeats).
    Outcomes: completed, no-answer, busy, failed, voicemail, hold (stays in progress until released)."""

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self.outcomes: dict[str, list[str]] = {}
        self.default_outcome = "completed"
        self.dial_log: list[tuple[str, str]] = []  # (to, call sid) in dial order
        self.held: list[str] = []
        self.delay = 0.05
        self.throttle: dict[str, int] = {}  # number -> creates answered 429 before one is accepted
        self.throttled: list[str] = []
        self.control: FakeControlServer | None = None  # the media fleet's control endpoint (set by the fixture)

    def _create_call(self, req: FakeRequest) -> FakeResponse:
        to = dict(parse_qsl(req.body.decode())).get("To", "")
        with self.lock:
            if self.throttle.get(to, 0) > 0:
                self.throttle[to] -= 1
                self.throttled.append(to)
                return self._twilio_error(429, 20429, "Too Many Requests")
        resp = super()._create_call(req)
        if resp.status == 201 and isinstance(resp.body, dict):
            to, call_sid = resp.body["to"], resp.body["sid"]
            with self.lock:
                attempt = sum(1 for t, _ in self.dial_log if t == to)
                self.dial_log.append((to, call_sid))
            plan = self.outcomes.get(to) or [self.default_outcome]
            outcome = plan[min(attempt, len(plan) - 1)]
            threading.Timer(self.delay, self._drive, args=(call_sid, outcome)).start()
        return resp

    def _drive(self, call_sid: str, outcome: str) -> None:
        if outcome == "hold":
            self.fire_status(call_sid, "initiated")
            self.fire_status(call_sid, "ringing")
            self.answer(call_sid)
            with self.lock:
                self.held.append(call_sid)
            return
        if outcome == "voicemail":
            self.fire_status(call_sid, "initiated")
            self.answer(call_sid)
            self.fire_amd(call_sid, "machine_end_beep")
            self.fire_status(call_sid, "completed", CallDuration="21")
            return
        self.progress(call_sid, outcome, duration=42)

    def release(self, call_sid: str) -> None:
        self.fire_status(call_sid, "completed", CallDuration="30")

    def dials_to(self, number: str) -> int:
        with self.lock:
            return sum(1 for t, _ in self.dial_log if t == number)


@pytest.fixture
def twilio(aws, client, monkeypatch):
    """CampaignTwilio as the deployment's Twilio; its signed callbacks go to the Chalice test client."""
    from chalicelib.settings import reset_settings

    control = FakeControlServer().start()
    fake = CampaignTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN).start()
    for key, value in {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                       "TWILIO_API_URL": fake.base_url, "PUBLIC_BASE_URL": PUBLIC_BASE,
                       "MEDIA_WS_URL": "wss://media.example.test/twilio/stream",
                       "MEDIA_CONTROL_URL": control.base_url, "MEDIA_CONTROL_SECRET": MEDIA_SECRET}.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    def send(url: str, form: list[tuple[str, str]], headers: dict[str, str]) -> tuple[int, str]:
        assert url.startswith(PUBLIC_BASE), url
        resp = client.http.post(url[len(PUBLIC_BASE):], body=urlencode(form),
                                headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
        return resp.status_code, resp.body.decode() if isinstance(resp.body, bytes) else str(resp.body)

    fake.callback_sender = send
    fake.control = control
    yield fake
    fake.stop()
    control.stop()


class SettableClock:
    def __init__(self, start: datetime):
        self.value = start
        self.lock = threading.Lock()

    def now(self) -> datetime:
        with self.lock:
            return self.value

    def set(self, value: datetime) -> None:
        with self.lock:
            self.value = value

    def advance(self, **kw: float) -> None:
        with self.lock:
            self.value = self.value + timedelta(**kw)


# Tuesday 24 Nov 2026, 10:00 in Amsterdam (CET, UTC+1): inside the default window.
WEEKDAY_MORNING = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    from chalicelib.services import campaigns

    fake = SettableClock(WEEKDAY_MORNING)
    monkeypatch.setattr(campaigns, "clock", fake)
    return fake


PIPELINE = {
    "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                   "messages": [{"role": "system", "content": "You call {{name}} about their appointment."}]},
    "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"},
}


def make_assistant(api, **fields) -> dict:
    body = {"name": "Campaign caller", "first_message": "Hello {{name}}!", **json.loads(json.dumps(PIPELINE)),
            **fields}
    r = api.post("/assistants", body)
    assert r.status_code == 201, r.body
    return r.data["assistant"]


def make_number(api, phone: str, assistant_id: str | None = None) -> dict:
    body: dict[str, Any] = {"phone_number": phone, "name": "Campaign line"}
    if assistant_id:
        body["agent_id"] = assistant_id
    r = api.post("/numbers", body)
    assert r.status_code == 201, r.body
    return r.data["number"]
