"""A customer's webhook endpoint: records every webhook, verifies signatures, fails on demand.

It checks ``X-Webhook-Signature: sha256=<hex HMAC-SHA256 of "<X-Webhook-Timestamp>.<raw body>">``
the way the contract tells customers to (constant-time compare, its own implementation), and can
be told to answer 500 N times, to answer an event with a given body, or to be slow.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.httpserver import FakeHTTPServer, FakeRequest, FakeResponse


@dataclass
class ReceivedWebhook:
    path: str
    event: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool | None  # None when the receiver has no secret
    status: int  # what the receiver answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> dict[str, Any]:
        return self.json.get("message", {})


def verify_signature(secret: str, timestamp: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    value = header[len("sha256="):] if header.startswith("sha256=") else header
    return hmac.compare_digest(expected, value)


class WebhookReceiver(FakeHTTPServer):
    def __init__(self, secret: str | None = None, **kw: Any):
        super().__init__(**kw)
        self.secret = secret
        self.received: list[ReceivedWebhook] = []
        self.fail_times = 0  # answer ``fail_status`` to the next N requests
        self.fail_status = 500
        # event -> JSON body (dict/list), raw text, or callable(ReceivedWebhook) -> FakeResponse
        self.responses: dict[str, Any] = {}
        self.delays: dict[str, float] = {}  # event -> seconds to wait before answering
        self._arrived = threading.Condition(self.lock)
        self.route("POST", r"/.*", self._receive)

    def url(self, path: str = "/webhook") -> str:
        return self.base_url + path

    def _receive(self, req: FakeRequest) -> FakeResponse:
        event = req.headers.get("x-webhook-event", "")
        valid = None
        if self.secret is not None:
            valid = verify_signature(self.secret, req.headers.get("x-webhook-timestamp", ""), req.body,
                                     req.headers.get("x-webhook-signature"))
        delay = self.delays.get(event)
        if delay:
            time.sleep(delay)
        with self.lock:
            failing = self.fail_times > 0
            if failing:
                self.fail_times -= 1
        if failing:
            resp = FakeResponse(self.fail_status, {"error": "receiver told to fail"})
        elif valid is False:
            resp = FakeResponse(401, {"error": "bad signature"})
        else:
            resp = self._answer(event, req)
        record = ReceivedWebhook(req.path, event, dict(req.headers), req.body, valid, resp.status)
        with self._arrived:
            self.received.append(record)
            self._arrived.notify_all()
        return resp

    def _answer(self, event: str, req: FakeRequest) -> FakeResponse:
        answer = self.responses.get(event)
        if answer is None:
            return FakeResponse(200, {"ok": True})
        if callable(answer):
            result: Callable[[FakeRequest], FakeResponse] = answer
            return result(req)
        if isinstance(answer, FakeResponse):
            return answer
        return FakeResponse(200, answer)

    def events(self, event: str | None = None) -> list[ReceivedWebhook]:
        with self.lock:
            return [r for r in self.received if event is None or r.event == event]

    def wait_for(self, event: str, count: int = 1, timeout: float = 5.0) -> list[ReceivedWebhook]:
        """Block until ``count`` webhooks of ``event`` arrived (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len([r for r in self.received if r.event == event]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            return [r for r in self.received if r.event == event]


def webhook_queue_component() -> Any:
    """A ``devstack`` component: the webhook delay queue in the local AWS and its consumer.

    Creates the SQS queue in moto (WEBHOOK_QUEUE_URL for the app) and polls it in a thread, handing
    each batch to the same Chalice ``on_sqs_message`` handler Lambda runs (``webhook_retry``), so
    webhook retries and delayed call checks work under ``make dev``. Register it after "moto":
    ``register_component(webhook_queue_component(), after="moto")``.
    """
    import os

    from devstack.run import Component, Stack

    def start(stack: Stack) -> None:
        import boto3

        from chalicelib.settings import get_settings, reset_settings

        name = os.environ.get("WEBHOOK_QUEUE_NAME", "voice-dev-webhooks")
        sqs = boto3.client("sqs", region_name=get_settings().region)
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        stack.set_env(WEBHOOK_QUEUE_URL=url, WEBHOOK_QUEUE_NAME=name)
        reset_settings()
        thread = threading.Thread(target=_poll_queue, args=(sqs, url, name, stack.stop_event),
                                  name="webhook-queue", daemon=True)
        thread.start()
        stack.values["webhook_queue_thread"] = thread
        print(f"Webhook queue:     {url}", flush=True)

    def stop(stack: Stack) -> None:
        thread = stack.values.pop("webhook_queue_thread", None)
        if thread is not None:
            thread.join(5)

    return Component("webhook-queue", start, stop)


def _poll_queue(sqs: Any, url: str, name: str, stop: threading.Event) -> None:
    """Deliver queue messages to the Chalice handler the way the SQS event source would."""
    import logging

    from chalice.local import LambdaContext

    from chalicelib.webhooks.handlers import webhook_retry

    log = logging.getLogger("devstack.webhooks")
    arn = f"arn:aws:sqs:us-east-1:123456789012:{name}"
    while not stop.is_set():
        try:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if not got:
                continue
            records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                        "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                        "eventSourceARN": arn, "awsRegion": "us-east-1"} for m in got]
            webhook_retry({"Records": records}, LambdaContext("webhook_retry", 256, max_runtime_ms=60_000))
            for m in got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        except Exception:  # noqa: BLE001 - a dev poller keeps polling; the message becomes visible again
            log.exception("webhook queue poll failed")
            stop.wait(1)
