"""The control plane's client of the media service: typed, signed, versioned (``chalicelib.models.media``).

Wire contract (docs/calls.md): ``POST {base}/calls/{call_id}/control`` with a ``CommandEnvelope`` and
``POST {MEDIA_CONTROL_URL}/calls/{call_id}/prepare`` with a ``PrepareCall`` (tried on each task the
name resolves to until one admits the call, ``admit``), both as JSON with headers
``X-Control-Timestamp`` (unix seconds) and ``X-Control-Signature`` (hex HMAC-SHA256 of
``"<timestamp>." + body`` keyed with MEDIA_CONTROL_SECRET). The media task answers a ``CommandResult``.
``POST {MEDIA_CONTROL_URL}/calls/{call_id}/caller`` with a ``RunCaller`` starts an eval's simulated
caller on a web call (``start_caller``: the first task that accepts it runs it).
"""

from __future__ import annotations

import logging
import time
from enum import StrEnum
from typing import TYPE_CHECKING, cast

from pydantic import BaseModel

from chalicelib import errors
from chalicelib.httpclient import session
from chalicelib.models.media import CommandEnvelope, CommandResult, MediaCommand, PrepareCall, RunCaller
from chalicelib.security import sign_control
from chalicelib.services.media_discovery import media_tasks
from chalicelib.settings import get_settings
from chalicelib.storage.calls import Call

if TYPE_CHECKING:
    import requests

log = logging.getLogger("voice.calls")

CONTROL_TIMEOUT = 3.0
PREPARE_TIMEOUT = 0.3
CALLER_TIMEOUT = 5.0
# What the media task answers when it no longer holds the call.
GONE_STATUSES = (404, 409, 410)


class OwnerUnreachable(errors.UpstreamError):
    """The task recorded as the call's owner does not accept connections (it stopped or died)."""


def _post(url: str, message: BaseModel, timeout: float, host: str | None = None) -> requests.Response:
    body = message.model_dump_json().encode()
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Control-Timestamp": ts,
               "X-Control-Signature": sign_control(get_settings().media_control_secret, ts, body)}
    if host:
        headers["Host"] = host
    return session().post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)


def _result(resp: requests.Response) -> CommandResult:
    """The media task's answer as a ``CommandResult`` (an error body ``{error, message}`` included)."""
    try:
        answer: object = resp.json()
    except ValueError:
        answer = None
    fields = cast("dict[str, object]", answer) if isinstance(answer, dict) else {}  # JSON boundary
    error, message = fields.get("error"), fields.get("message")
    return CommandResult(success=resp.status_code < 300,
                         error=str(error) if error else None, message=str(message) if message else None)


def send_command(call: Call, command: MediaCommand, *, timeout: float = CONTROL_TIMEOUT,
                 fallback_base: str | None = None) -> bool:
    """Deliver one command to the media task that owns the call (or ``fallback_base`` before it has one).

    False when there is nowhere to send it. Raises CallNotActive when the owner no longer holds the
    call (404/409/410, or its ``call_not_active``), InvalidRequest when it rejects the command
    (400 ``invalid_request``), OwnerUnreachable when no connection to it can be made (a dead task),
    and UpstreamError when it fails otherwise (a timeout after connecting, a 5xx).
    """
    import requests

    base: str | None = call.data.get("control_url") or fallback_base
    if not base:
        return False
    envelope = CommandEnvelope(call_id=call.id, org_id=call.org_id, command=command)
    try:
        resp = _post(f"{base.rstrip('/')}/calls/{call.id}/control", envelope, timeout)
    except requests.ConnectionError as exc:  # refused or connect timeout (ConnectTimeout is one)
        raise OwnerUnreachable(f"The media task holding the call could not be reached ({type(exc).__name__}).") \
            from None
    except requests.RequestException as exc:
        raise errors.UpstreamError(f"The media service could not be reached ({type(exc).__name__}).") from None
    result = _result(resp)
    if result.success:
        return True
    if resp.status_code in GONE_STATUSES or result.error == "call_not_active":
        raise errors.CallNotActive(f"Call {call.id} is not active.")
    if resp.status_code == 400 and result.error == "invalid_request":
        raise errors.InvalidRequest(result.message or "The live call rejected the command.")
    raise errors.UpstreamError(f"The media service answered HTTP {resp.status_code}.")


class Admission(StrEnum):
    """The media fleet's answer to a call about to be placed or answered."""

    ADMITTED = "admitted"  # a task reserved a slot and is preparing the call
    FULL = "full"  # every task that answered is at capacity: refuse the call
    UNKNOWN = "unknown"  # no task could be asked (none configured, unreachable, slow): go ahead


def admit(org_id: str, call_id: str) -> Admission:
    """Ring-time admission: the call's prepare, tried on each media task until one accepts it.

    A task at capacity answers 503 ``capacity_exceeded`` and the next one is asked. FULL only when at
    least one task answered so and none accepted; a fleet that cannot be reached at all leaves the call
    to go ahead unprepared (prepare stays best effort, 300 ms per task)."""
    import requests

    full = False
    message = PrepareCall(call_id=call_id, org_id=org_id)
    for task in media_tasks(call_id):
        try:
            resp = _post(f"{task.base_url}/calls/{call_id}/prepare", message, PREPARE_TIMEOUT, host=task.host_header)
        except requests.RequestException as exc:
            log.info("prepare for call %s at %s skipped: %s", call_id, task.base_url, type(exc).__name__)
            continue
        if resp.status_code < 300:
            return Admission.ADMITTED
        if resp.status_code == 503 and _result(resp).error == "capacity_exceeded":
            full = True
    return Admission.FULL if full else Admission.UNKNOWN


def start_caller(message: RunCaller) -> str | None:
    """Ask the media fleet to run an eval's simulated caller on a web call's socket.

    Tried on each task MEDIA_CONTROL_URL resolves to until one accepts (2xx). Returns None when one
    did, else why none did (none configured, unreachable, at capacity, refused)."""
    import requests

    why = "no media task is configured (MEDIA_CONTROL_URL)"
    for task in media_tasks(message.call_id):
        try:
            resp = _post(f"{task.base_url}/calls/{message.call_id}/caller", message, CALLER_TIMEOUT,
                         host=task.host_header)
        except requests.RequestException as exc:
            why = f"the media task at {task.base_url} could not be reached ({type(exc).__name__})"
            continue
        if resp.status_code < 300:
            return None
        answer = _result(resp)
        why = f"the media task answered HTTP {resp.status_code} {answer.error or ''}: {answer.message or ''}".strip()
    return why
