"""ECS task scale-in protection while this task holds calls, so scale-in and deployments never cut them.

The ECS agent's documented endpoint: ``PUT $ECS_AGENT_URI/task-protection/v1/state`` with
``{"ProtectionEnabled": bool, "ExpiresInMinutes": n}``. Set when the first call starts, cleared when the
last one ends, renewed while busy before it expires. The HTTP call runs in a thread (never on the loop).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request

log = logging.getLogger("voice.media.protection")

EXPIRES_IN_MINUTES = 120  # longer than the longest call; renewed while the task stays busy
RENEW_AFTER_SECONDS = 30 * 60
TIMEOUT_SECONDS = 3.0


class ScaleInProtection:
    def __init__(self, agent_uri: str) -> None:
        self.url = agent_uri.rstrip("/") + "/task-protection/v1/state"
        self.enabled: bool = False
        self._sent_at: float = 0.0
        self._lock = asyncio.Lock()

    async def update(self, active_calls: int) -> None:
        """Follow the live-call count (call on every change); failures are logged, never raised."""
        async with self._lock:
            want = active_calls > 0
            stale = want and time.monotonic() - self._sent_at > RENEW_AFTER_SECONDS
            if want == self.enabled and not stale:
                return
            try:
                await asyncio.to_thread(self._put, want)
            except Exception:  # the agent may be briefly unavailable; the next change retries
                log.warning("task protection %s failed", "set" if want else "clear", exc_info=True)
                return
            self.enabled = want
            self._sent_at = time.monotonic()

    def _put(self, enabled: bool) -> None:
        body: dict[str, object] = {"ProtectionEnabled": enabled}
        if enabled:
            body["ExpiresInMinutes"] = EXPIRES_IN_MINUTES
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="PUT",  # noqa: S310 - the ECS agent's local endpoint
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:  # noqa: S310 - the ECS agent's local endpoint
            resp.read()
