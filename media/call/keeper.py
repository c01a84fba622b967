"""Keeps the call row current while this task holds the call: the transcript after each message and a
heartbeat every ``HEARTBEAT_SECONDS``. If the task dies, the row still holds every turn so far, and the
control plane's reaper (``chalicelib/services/call_reaper.py``) notices the missing heartbeat."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from chalicelib.models.media import CallProgress
from media.controlplane import control_plane

log = logging.getLogger("voice.media.keeper")

HEARTBEAT_SECONDS = 10.0  # the reaper ends a call after 35 s without one
POLL_SECONDS = 0.5  # how soon a new message reaches the row


class CallKeeper:
    """One call's heartbeat and transcript writer; ``run`` until cancelled (or the call is over)."""

    def __init__(self, org_id: str, call_id: str, messages: Callable[[], list[dict[str, Any]]],
                 on_lost: Callable[[], Awaitable[None]], *, heartbeat_seconds: float = HEARTBEAT_SECONDS,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.org_id, self.call_id = org_id, call_id
        self._messages, self._on_lost = messages, on_lost
        self._heartbeat, self._poll = heartbeat_seconds, poll_seconds
        self._sent: list[dict[str, Any]] | None = None
        self.writes = 0

    async def run(self) -> None:
        last_beat = time.monotonic()
        while True:
            await asyncio.sleep(self._poll)
            messages = self._messages()
            changed = messages != self._sent
            if not changed and time.monotonic() - last_beat < self._heartbeat:
                continue
            event = CallProgress(org_id=self.org_id, call_id=self.call_id, messages=messages if changed else None)
            try:
                live = await asyncio.to_thread(control_plane().call_progress, event)
            except Exception:  # noqa: BLE001 - a failed write is retried on the next tick; the call goes on
                log.exception("heartbeat for call %s failed", self.call_id)
                continue
            last_beat = time.monotonic()
            self.writes += 1
            if changed:
                self._sent = messages
            if not live:
                # The control plane no longer has this call in progress (ended elsewhere, or reaped after
                # this task stalled): stop serving it.
                log.warning("call %s is no longer in progress on the row; ending it here", self.call_id)
                await self._on_lost()
                return
