"""Fixtures for the calls feature: fake Twilio wired to the Chalice test client, a webhook
receiver, a fake media control server, the SQS retry queue, and assistant/number helpers."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest
from pydantic import BaseModel, ValidationError

from chalicelib.models.media import CommandEnvelope, CommandResult, PrepareCall
from sandbox.httpserver import FakeHTTPServer, FakeRequest, FakeResponse
from sandbox.twilio import FakeTwilio
from sandbox.webhook_receiver import WebhookReceiver

PUBLIC_BASE = "https://voice.example.test/api"
AUTH_TOKEN = "twilio-test-token"
ACCOUNT_SID = "AC" + "1" * 32
MEDIA_SECRET = "media-control-test-secret"
WEBHOOK_SECRET = "whsec-test-secret"


@pytest.fixture(autouse=True)
def _local_receivers_allowed(allow_private_urls):
    """The receivers and fakes here listen on 127.0.0.1 (tests/conftest.py ``allow_private_urls``)."""


class FakeControlServer(FakeHTTPServer):
    """The media service's control endpoint as docs/calls.md describes it: checks the HMAC, parses the
    body as the contract's ``CommandEnvelope`` / ``PrepareCall`` and records what it accepted."""

    def __init__(self, secret: str = MEDIA_SECRET, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host=host, port=port)
        self.secret = secret
        self.at_capacity = False  # answers prepare like a task at MEDIA_MAX_CALLS (docs/media.md, Admission)
        self.status = 200
        self.commands: list[dict] = []  # accepted CommandEnvelopes, as JSON
        self.answers: list[FakeResponse] = []  # canned answers for the next control requests
        self.prepared: list[dict] = []  # accepted PrepareCalls, as JSON
        self.route("POST", r"/calls/(?P<call_id>[^/]+)/control", self._control)
        self.route("POST", r"/calls/(?P<call_id>[^/]+)/prepare", self._prepare)

    def _valid(self, req: FakeRequest) -> bool:
        ts = req.headers.get("x-control-timestamp", "")
        expected = hmac.new(self.secret.encode(), ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, req.headers.get("x-control-signature", ""))

    @staticmethod
    def _parse(req: FakeRequest, model: type[BaseModel]) -> dict | FakeResponse:
        try:
            message = model.model_validate_json(req.body)
        except ValidationError as exc:
            return FakeResponse(400, {"error": "invalid_request", "message": str(exc)})
        if getattr(message, "call_id", None) != req.params["call_id"]:
            return FakeResponse(400, {"error": "invalid_request", "message": "call_id differs from the path"})
        return req.json()

    def _control(self, req: FakeRequest) -> FakeResponse:
        if not self._valid(req):
            return FakeResponse(401, {"error": "bad signature"})
        if self.answers:
            return self.answers.pop(0)
        envelope = self._parse(req, CommandEnvelope)
        if isinstance(envelope, FakeResponse):
            return envelope
        self.commands.append(envelope)
        if self.status >= 300:
            return FakeResponse(self.status, {"error": "not_found" if self.status == 404 else "internal_error"})
        return FakeResponse(self.status, CommandResult(success=True, message="Command sent successfully").model_dump())

    def _prepare(self, req: FakeRequest) -> FakeResponse:
        if not self._valid(req):
            return FakeResponse(401, {"error": "bad signature"})
        prepare = self._parse(req, PrepareCall)
        if isinstance(prepare, FakeResponse):
            return prepare
        if self.at_capacity:
            return FakeResponse(503, {"error": "capacity_exceeded",
                                      "message": "This media task is at capacity or draining."})
        self.prepared.append(prepare)
        return FakeResponse(202, {"success": True, "status": "preparing"})


@pytest.fixture
def control_server():
    with FakeControlServer() as server:
        yield server


@pytest.fixture
def receiver():
    with WebhookReceiver(secret=WEBHOOK_SECRET) as server:
        yield server


@pytest.fixture
def twilio(aws, client, control_server, monkeypatch):
    """FakeTwilio as the deployment's Twilio; its callbacks go to the Chalice test client."""
    from chalicelib.settings import reset_settings

    fake = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN).start()
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("TWILIO_API_URL", fake.base_url)
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC_BASE)
    monkeypatch.setenv("MEDIA_WS_URL", "wss://media.example.test/twilio/stream")
    monkeypatch.setenv("MEDIA_CONTROL_URL", control_server.base_url)
    monkeypatch.setenv("MEDIA_CONTROL_SECRET", MEDIA_SECRET)
    monkeypatch.setenv("CALL_TOKEN_SECRET", "call-token-test-secret")
    reset_settings()

    def send(url: str, form: list[tuple[str, str]], headers: dict[str, str]) -> tuple[int, str]:
        assert url.startswith(PUBLIC_BASE), url
        resp = client.http.post(url[len(PUBLIC_BASE):], body=urlencode(form),
                                headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
        return resp.status_code, resp.body.decode() if isinstance(resp.body, bytes) else str(resp.body)

    fake.callback_sender = send
    yield fake
    fake.stop()
    reset_settings()


@pytest.fixture
def webhook_queue(aws, monkeypatch):
    """The SQS delay queue of webhook retries (moto); returns its URL."""
    import boto3

    from chalicelib.settings import reset_settings

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="test-webhooks")["QueueUrl"]
    monkeypatch.setenv("WEBHOOK_QUEUE_URL", url)
    reset_settings()
    yield url
    reset_settings()


@pytest.fixture
def finished(monkeypatch):
    """Records the workflow seams the calls feature calls once per finished call."""
    from chalicelib.workflows import hooks, start

    seen: dict[str, list] = {"finished": [], "analysis": []}
    monkeypatch.setattr(hooks, "on_call_finished", lambda call: seen["finished"].append(call.id))
    monkeypatch.setattr(start, "start_call_analysis", lambda org_id, call_id: seen["analysis"].append(call_id))
    return seen


PIPELINE = {
    "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                   "messages": [{"role": "system", "content": "You help {{name}} with dental appointments."}]},
    "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"},
}


def make_assistant(api, **fields) -> dict:
    body = {"name": "Receptionist", "first_message": "Hello {{name}}!", **json.loads(json.dumps(PIPELINE)), **fields}
    r = api.post("/assistants", body)
    assert r.status_code == 201, r.body
    return r.data["assistant"]


def make_number(api, phone: str, assistant_id: str | None = None, **fields) -> dict:
    body = {"phone_number": phone, "name": "Main line", **fields}
    if assistant_id:
        body["agent_id"] = assistant_id
    r = api.post("/numbers", body)
    assert r.status_code == 201, r.body
    return r.data["number"]


@pytest.fixture
def setup(api, twilio, receiver):
    """A subscribed assistant (status-update, end-of-call-report) and an active number."""
    assistant = make_assistant(api, webhook_url=receiver.url(), webhook_secret=WEBHOOK_SECRET,
                               webhook_events=["status-update", "end-of-call-report"], metadata={"crm_id": "42"})
    number = make_number(api, "+14155550100", assistant["id"])
    return {"assistant": assistant, "number": number}


def status_of(api, call_id: str) -> dict:
    r = api.get(f"/calls/{call_id}")
    assert r.status_code == 200, r.body
    return r.data
