"""Telling the task that prepared a call at ring time that its stream started here (docs/media.md, "Greeting store").

The load balancer routes streams round robin, so the stream of a call prepared on one task often lands on
another. The preparing task (``prepared_by`` on the call row, recorded at admission) would otherwise count
the call against its capacity for the whole ring window. Best effort and off the call's path: a task that
does not answer keeps its reservation until the window ends, as before.
"""

from __future__ import annotations

import asyncio
import logging
import time

from chalicelib.models.media import ReleasePreparation
from chalicelib.security import sign_control
from chalicelib.settings import get_settings

log = logging.getLogger("voice.media.release")

RELEASE_TIMEOUT_SECONDS = 1.0
_sending: set[asyncio.Task[None]] = set()  # strong refs until each request is done


def release_elsewhere(prepared_by: object, own_url: str, org_id: str, call_id: str) -> None:
    """Ask ``prepared_by`` (a control base URL) to drop its preparation of the call, unless it is this task.

    Returns at once; the request runs in the background with a short timeout."""
    if not isinstance(prepared_by, str) or not prepared_by or prepared_by.rstrip("/") == own_url.rstrip("/"):
        return
    task = asyncio.get_running_loop().create_task(_send(prepared_by.rstrip("/"), org_id, call_id))
    _sending.add(task)
    task.add_done_callback(_sending.discard)


async def _send(base: str, org_id: str, call_id: str) -> None:
    import aiohttp

    body = ReleasePreparation(call_id=call_id, org_id=org_id).model_dump_json().encode()
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Control-Timestamp": ts,
               "X-Control-Signature": sign_control(get_settings().media_control_secret, ts, body)}
    timeout = aiohttp.ClientTimeout(total=RELEASE_TIMEOUT_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http, http.post(
                f"{base}/calls/{call_id}/release", data=body, headers=headers, allow_redirects=False) as resp:
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.info("release of call %s at %s failed: %s", call_id, base, type(exc).__name__)
        return
    # 404: that task no longer holds a preparation of the call (expired, or never finished).
    log.info("release of call %s at %s: HTTP %d", call_id, base, status)
