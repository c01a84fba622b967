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
from typing import Any, cast

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
            handler = cast(Callable[[FakeRequest], FakeResponse], answer)  # responses holds bodies or handlers
            return handler(req)
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
