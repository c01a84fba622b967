"""Outgoing webhooks: envelope, signature, timeouts, and durable retries.

- ``emit`` sends the contract's snake_case envelope for an event the call's assistant subscribes to.
  status-update and end-of-call-report are recorded in the webhook_deliveries table; the first
  attempt runs inline, later ones are scheduled through the SQS delay queue
  (``WEBHOOK_QUEUE_URL``) and run by ``chalicelib.webhooks.handlers`` (survives a Lambda crash;
  no in-process sleeps). Backoff about 1 s, 4 s, 16 s, 1 min, 5 min, then every 5 min, for up to
  15 minutes after the first attempt. A delivery that never succeeds stays ``failed``.
- Per call, events are delivered in order: every event takes the call's next ``sequence`` number
  and the time it happened (``timestamp``); while an earlier event of the call is still being
  retried, later ones wait (``held``) and are sent, in sequence order, once it settles (delivered
  or finally failed). A receiver therefore never sees ``ended`` before ``in-progress``.
- ``deliver`` sends an event that belongs to no call (``test-run.completed``) through the same
  recorded, retried path; it is not ordered with anything, and its secret is read from the
  assistant named in the delivery at each attempt.
- ``call_tool_webhook`` (media service, tool-calls) and ``request_assistant`` (inbound
  assistant-request) are single signed POSTs, never retried: the caller is waiting.
"""

from __future__ import annotations

import json
import logging
import time
from functools import lru_cache
from typing import Any

from chalicelib import errors
from chalicelib.models.end_reasons import normalize_end_reason
from chalicelib.netguard import public_session
from chalicelib.security import sign_webhook
from chalicelib.services.assistants import get_document, secret_for
from chalicelib.services.call_secrets import secret_for_call
from chalicelib.settings import get_settings
from chalicelib.storage.calls import Call, CallRepository
from chalicelib.storage.webhooks import Delivery, WebhookDeliveryRepository
from chalicelib.timeutil import new_id, now_iso

log = logging.getLogger("voice.webhooks")

USER_AGENT = "HMS-Sovereign/1.0"
ASSISTANT_REQUEST_TIMEOUT = 5.0
DEFAULT_TIMEOUT = 10.0
RETRIED_EVENTS = ("status-update", "end-of-call-report", "test-run.completed")
BACKOFF_SECONDS = (1, 4, 16, 60, 300)  # after attempt 1, 2, 3, 4, 5; then every 300 s
RETRY_WINDOW_SECONDS = 15 * 60
MAX_SQS_DELAY = 900
RETRYABLE_STATUS = {408, 425, 429}
CALL_TYPES = {"inbound": "inbound_phone_call", "outbound": "outbound_phone_call", "web": "web_call"}
WEBHOOK_STATUS = {"queued": "ringing", "ringing": "ringing", "in-progress": "in-progress", "ended": "ended",
                  "failed": "ended-with-error"}


# ---------------------------------------------------------------- envelope
def webhook_status(call: Call) -> str:
    """The call's status in webhook vocabulary (ringing, in-progress, ended, ended-with-error)."""
    return WEBHOOK_STATUS.get(call.status, call.status)


def assistant_view(call: Call) -> dict[str, Any]:
    """The resolved assistant config of a call as webhooks show it (secrets never stored there)."""
    config = dict(call.data.get("config") or {})
    config.pop("webhook_secret", None)
    out: dict[str, Any] = {"id": call.data.get("assistant_id"), **config}
    out["metadata"] = call.data.get("metadata") if call.data.get("metadata") is not None else config.get("metadata")
    return out


def build_envelope(event: str, call: Call, extra: dict[str, Any] | None = None,
                   status: str | None = None, *, sequence: int | None = None,
                   occurred_at: str | None = None) -> dict[str, Any]:
    """``{"message": {type, timestamp, sequence, call, phone_number, customer, assistant, ...extra}}``.

    ``timestamp`` is when the event happened (not when it is sent: a retry resends the same bytes);
    ``sequence`` numbers the events of one call from 1, so receivers can order and de-duplicate.
    """
    d = call.data
    message: dict[str, Any] = {
        "type": event,
        "timestamp": occurred_at or now_iso(),
        "call": {"id": call.id, "type": CALL_TYPES.get(call.direction, "outbound_phone_call"),
                 "status": status or webhook_status(call)},
        "phone_number": {"id": d.get("number_id"), "number": d.get("assistant_phone"), "name": d.get("number_name")},
        "customer": {"number": d.get("caller_phone")},
        "assistant": assistant_view(call),
    }
    if sequence is not None:
        message["sequence"] = sequence
    if d.get("campaign_id"):
        message["call"]["campaign_id"] = d["campaign_id"]
        message["call"]["lead_id"] = d.get("lead_id")
    if event == "end-of-call-report":
        message.update({
            "duration_seconds": d.get("duration_seconds"),
            "summary": d.get("summary"),
            "messages": d.get("messages") or [],
            "end_reason": normalize_end_reason(d.get("end_reason")),
            "started_at": d.get("started_at"),
            "ended_at": d.get("ended_at"),
        })
        if d.get("analysis_result") is not None:
            message["analysis"] = d.get("analysis_result")
        if d.get("recording_key"):
            from chalicelib.services.recordings import url_for

            # Presigned now, with the longer webhook lifetime (receivers may fetch it from a queue later).
            url = url_for(d, webhook=True)
            if url:
                message["recording_url"] = url
    if event == "status-update" and call.status in ("ended", "failed"):
        message["end_reason"] = normalize_end_reason(d.get("end_reason"))
        if call.status == "failed" or d.get("error"):
            message["error"] = d.get("error")
    message.update(extra or {})
    return {"message": message}


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# ---------------------------------------------------------------- transport
def signed_headers(event: str, body: bytes, secret: str | None) -> dict[str, str]:
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Webhook-Event": event,
               "X-Webhook-Timestamp": ts}
    if secret:
        headers["X-Webhook-Signature"] = sign_webhook(secret, ts, body)
    return headers


def post(url: str, event: str, body: bytes, secret: str | None, timeout: float) -> dict[str, Any]:
    """One signed POST. Returns {status_code, error, body, duration_ms}; never raises."""
    import requests

    started = time.monotonic()
    out: dict[str, Any] = {"status_code": None, "error": None, "body": b""}
    try:
        resp = public_session().post(url, data=body, headers=signed_headers(event, body, secret), timeout=timeout,
                               allow_redirects=False)
        out["status_code"] = resp.status_code
        out["body"] = resp.content[:65536]
        if resp.status_code >= 300:
            out["error"] = f"HTTP {resp.status_code}"
    except requests.Timeout:
        out["error"] = "timeout"
    except requests.RequestException as exc:
        out["error"] = f"network error: {type(exc).__name__}"
    out["duration_ms"] = int((time.monotonic() - started) * 1000)
    return out


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------- tool-calls (media service)
def parse_tool_response(data: Any, tool_call_id: str | None = None) -> dict[str, Any]:
    """Map every tool-calls response form of the contract to ``{"result", "error"}``."""
    if isinstance(data, dict):
        results = data.get("results")
        if isinstance(results, list) and results:
            chosen = results[0]
            for item in results:
                if isinstance(item, dict) and tool_call_id and tool_call_id in (
                        item.get("tool_call_id"), item.get("toolCallId")):
                    chosen = item
                    break
            if isinstance(chosen, dict):
                return {"result": chosen.get("result"), "error": chosen.get("error")}
            return {"result": chosen, "error": None}
        if "error" in data and data.get("error"):
            return {"result": None, "error": str(data["error"])}
        if "result" in data:
            return {"result": data["result"], "error": None}
        return {"result": data, "error": None}
    return {"result": data, "error": None}


def call_tool_webhook(url: str, secret: str | None, payload: dict[str, Any],
                      timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """POST a tool-calls payload (signed, no retries) and parse the reply into ``{"result", "error"}``.

    A timeout, network error or non-2xx answer becomes ``{"result": None, "error": "<reason>"}``.
    """
    body = encode(payload)
    sent = post(url, "tool-calls", body, secret, timeout)
    if sent["error"]:
        return {"result": None, "error": sent["error"]}
    data = _json_body(sent["body"])
    if data is None:  # not JSON: the text is the result
        return {"result": sent["body"].decode("utf-8", errors="replace"), "error": None}
    message = payload.get("message") if isinstance(payload, dict) else None
    calls = (message or {}).get("tool_call_list") or (message or {}).get("toolCallList") or []
    first_id = calls[0].get("id") if len(calls) == 1 and isinstance(calls[0], dict) else None
    return parse_tool_response(data, first_id)


# ---------------------------------------------------------------- assistant-request (inbound)
def request_assistant(url: str, secret: str | None, payload: dict[str, Any],
                      timeout: float | None = None) -> dict[str, Any] | None:
    """POST the assistant-request; the JSON object answered, or None on timeout, error or junk."""
    sent = post(url, "assistant-request", encode(payload), secret, timeout or ASSISTANT_REQUEST_TIMEOUT)
    if sent["error"]:
        log.warning("assistant-request failed: %s", sent["error"])
        return None
    data = _json_body(sent["body"])
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------- durable events
def subscribed(call: Call, event: str) -> bool:
    config = call.data.get("config") or {}
    return bool(config.get("webhook_url")) and event in (config.get("webhook_events") or [])


@lru_cache(maxsize=1)
def _deliveries() -> WebhookDeliveryRepository:
    return WebhookDeliveryRepository()


def emit(org_id: str, event: str, call: Call, extra: dict[str, Any] | None = None) -> Delivery | None:
    """Send ``event`` for ``call`` when its assistant subscribes to it.

    status-update and end-of-call-report return the recorded Delivery (delivered, pending a
    retry, held behind an earlier event of the call, or failed); other events are sent once and
    return None.
    """
    if not subscribed(call, event):
        return None
    occurred_at = now_iso()
    url = call.data["config"]["webhook_url"]
    sequence = _deliveries().next_sequence(org_id, call.id)
    body = encode(build_envelope(event, call, extra, sequence=sequence, occurred_at=occurred_at))
    secret = _secret(call)
    if event not in RETRIED_EVENTS:
        post(url, event, body, secret, DEFAULT_TIMEOUT)
        return None
    delivery = Delivery(org_id, new_id(), call.id, event, "held", occurred_at, occurred_at,
                        {"url": url, "body": body.decode(), "attempts": [],
                         "gdpr_mode": bool((call.data.get("config") or {}).get("gdpr_mode"))},
                        sequence=sequence)
    # Written as held first, then checked: a concurrent earlier delivery that settles in between
    # sees this row when it looks for the next one to release (one of the two always sends it).
    _deliveries().create(delivery)
    if _blocked(delivery):
        log.info("webhook %s #%d for call %s held behind an earlier event", event, sequence, call.id)
        return delivery
    claimed = _claim(delivery)
    if claimed is None:
        return _deliveries().get(org_id, delivery.id) or delivery  # released by the earlier one meanwhile
    return _attempt(claimed, secret)


def deliver(org_id: str, event: str, url: str, payload: dict[str, Any], *, secret_assistant_id: str,
            subject: dict[str, str]) -> Delivery:
    """Send an event that belongs to no call, recorded and retried like status-update.

    ``secret_assistant_id``: the assistant whose ``webhook_secret`` signs each attempt (read again at
    every retry, so a rotated secret applies); ``subject``: what the event is about (``{"test_run_id": ...}``),
    kept on the delivery for inspection.
    """
    now = now_iso()
    delivery = Delivery(org_id, new_id(), None, event, "pending", now, now,
                        {"url": url, "body": encode(payload).decode(), "attempts": [], "first_attempt_at": time.time(),
                         "secret_assistant_id": secret_assistant_id, **subject})
    _deliveries().create(delivery)
    return _attempt(delivery, _delivery_secret(delivery))


def _delivery_secret(delivery: Delivery) -> str | None:
    """The signing secret of a delivery: its call's resolved assistant, or the assistant it names."""
    if delivery.call_id:
        call = CallRepository().get(delivery.org_id, delivery.call_id)
        return _secret(call) if call is not None else None
    assistant_id = delivery.data.get("secret_assistant_id")
    if not assistant_id:
        return None
    try:
        return secret_for(get_document(delivery.org_id, str(assistant_id)), "webhook_secret")
    except errors.NotFound:
        return None  # the assistant was deleted since: sent unsigned, as for a call without a secret
    except Exception:  # noqa: BLE001 - as in _secret: an undecryptable secret must not stop delivery
        log.exception("could not read the webhook secret of assistant %s", assistant_id)
        return None


def _blocked(delivery: Delivery) -> bool:
    """True while an earlier event of the same call is not settled (held or being retried)."""
    if delivery.call_id is None or delivery.sequence is None:
        return False
    for other in _deliveries().for_call(delivery.org_id, delivery.call_id):
        if other.id != delivery.id and other.status in ("held", "pending") \
                and other.sequence is not None and other.sequence < delivery.sequence:
            return True
    return False


def _claim(delivery: Delivery) -> Delivery | None:
    """Move a held delivery to pending (first attempt now); None when someone else claimed it."""
    if delivery.status != "held":
        return None
    expected = delivery.updated_at
    delivery.status = "pending"
    delivery.data["first_attempt_at"] = time.time()
    if not _deliveries().save(delivery, expect_updated_at=expected):
        return None
    return delivery


def _release_next(settled: Delivery) -> None:
    """After an event of a call settles, send the call's next held event (which releases the next)."""
    if settled.call_id is None:
        return
    for other in _deliveries().for_call(settled.org_id, settled.call_id):
        if other.status == "pending":
            return  # an earlier (or concurrently released) event is still in flight
        if other.status == "held":
            claimed = _claim(other)
            if claimed is None:
                return
            call = CallRepository().get(claimed.org_id, claimed.call_id) if claimed.call_id else None
            _attempt(claimed, _secret(call) if call is not None else None)
            return


def _secret(call: Call) -> str | None:
    try:
        return secret_for_call(call, "webhook_secret")
    except Exception:  # noqa: BLE001 - an undecryptable secret must not stop the call flow; sent unsigned
        log.exception("could not read the webhook secret of call %s", call.id)
        return None


def next_delay(attempts: int, first_attempt_at: float, now: float | None = None) -> int | None:
    """Seconds until the next attempt after ``attempts`` failures, or None when the window is spent."""
    delay = BACKOFF_SECONDS[attempts - 1] if attempts - 1 < len(BACKOFF_SECONDS) else BACKOFF_SECONDS[-1]
    elapsed = (now if now is not None else time.time()) - first_attempt_at
    if elapsed + delay > RETRY_WINDOW_SECONDS:
        return None
    return delay


def _attempt(delivery: Delivery, secret: str | None) -> Delivery:
    data = delivery.data
    sent = post(data["url"], delivery.event, data["body"].encode(), secret, DEFAULT_TIMEOUT)
    data["attempts"].append({"at": now_iso(), "status_code": sent["status_code"], "error": sent["error"],
                             "duration_ms": sent["duration_ms"]})
    status_code = sent["status_code"]
    if sent["error"] is None:
        delivery.status = "delivered"
        data.pop("next_attempt_at", None)
        data.pop("last_error", None)  # the receiver has it now; earlier failures stay in attempts
    elif status_code is not None and status_code < 500 and status_code not in RETRYABLE_STATUS:
        delivery.status = "failed"  # the receiver rejected it: retrying will not help
        data["last_error"] = sent["error"]
    else:
        data["last_error"] = sent["error"]
        delay = next_delay(len(data["attempts"]), data["first_attempt_at"])
        if delay is not None and _enqueue(delivery, delay):
            delivery.status = "pending"
            data["next_attempt_at"] = time.time() + delay
        else:
            delivery.status = "failed"
            data.pop("next_attempt_at", None)
            if delay is not None:
                data["last_error"] = f"{sent['error']} (no retry queue configured)"
    if delivery.status != "pending" and data.get("gdpr_mode"):
        data.pop("body", None)  # GDPR mode: the transcript does not outlive its delivery
    _deliveries().save(delivery)
    log.info("webhook %s for call %s: %s (attempt %d)", delivery.event, delivery.call_id, delivery.status,
             len(data["attempts"]))
    if delivery.status != "pending":
        _release_next(delivery)
    return delivery


@lru_cache(maxsize=1)
def _sqs() -> Any:
    import boto3

    return boto3.client("sqs", region_name=get_settings().region)


def enqueue(message: dict[str, Any], delay: int) -> bool:
    """Put a message on the delay queue (at most 15 minutes). False when no queue is configured."""
    url = get_settings().webhook_queue_url
    if not url:
        log.warning("WEBHOOK_QUEUE_URL not set; %s not scheduled", message.get("kind", "delivery"))
        return False
    _sqs().send_message(QueueUrl=url, DelaySeconds=max(0, min(int(delay), MAX_SQS_DELAY)),
                        MessageBody=json.dumps(message))
    return True


def _enqueue(delivery: Delivery, delay: int) -> bool:
    return enqueue({"kind": "delivery", "org_id": delivery.org_id, "delivery_id": delivery.id}, delay)


def retry_delivery(org_id: str, delivery_id: str) -> Delivery | None:
    """Run the next attempt of a pending delivery (the SQS consumer calls this)."""
    delivery = _deliveries().get(org_id, delivery_id)
    if delivery is None or delivery.status != "pending":
        return delivery  # duplicate message or already settled
    due = delivery.data.get("next_attempt_at")
    if due and due - time.time() > 1:
        # SQS delays cap at 15 minutes and can fire early after a redrive: wait out the rest.
        _enqueue(delivery, int(due - time.time()))
        return delivery
    return _attempt(delivery, _delivery_secret(delivery))
