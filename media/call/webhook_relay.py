"""Live conversation events to the assistant's webhook: only the subscribed ones, one at a time in order.

The control plane numbers each event (``sequence``) as it sends it, so sending them one after another
from a single task keeps the receiver's order the call's order.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chalicelib.jsonvalue import as_list
from chalicelib.models.media import LiveEvent
from media.controlplane import control_plane
from media.plan import CallPlan

log = logging.getLogger("voice.media.webhooks")

LIVE_EVENTS = ("transcript", "speech-update", "conversation-update")


class WebhookRelay:
    """Queues a call's subscribed live events and sends them in order (``CallEvents``' relay)."""

    def __init__(self, plan: CallPlan) -> None:
        config = plan.config
        wanted = as_list(config.get("webhook_events")) if config.get("webhook_url") else []
        self.events: set[str] = {e for e in LIVE_EVENTS if e in wanted}
        self._plan = plan
        self._queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue()

    def offer(self, kind: str, data: dict[str, Any]) -> None:
        if kind in self.events:
            self._queue.put_nowait(LiveEvent(org_id=self._plan.org_id, call_id=self._plan.call_id,
                                             event=kind, data=data))  # pyright: ignore[reportArgumentType] - checked against LIVE_EVENTS

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def run(self) -> None:
        """Send until closed (what is queued at the end still goes out)."""
        while (event := await self._queue.get()) is not None:
            try:
                await asyncio.to_thread(control_plane().live_event, event)
            except Exception:  # noqa: BLE001 - a failed live webhook must not end the call
                log.exception("live %s webhook failed for %s", event.event, event.call_id)
