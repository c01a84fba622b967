"""The process's ring-time preparations: started by /prepare, taken by the call's stream, expired at a TTL.

A preparation is published as soon as its plan is built and its greeting started, so a stream that
starts while the phone has rung only briefly plays the greeting as it arrives instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from media.call.prepared import Prepared, prepare
from media.plan import UnsupportedConfig

log = logging.getLogger("voice.media.prepared")

PREPARED_TTL_SECONDS = 180.0
LiveCheck = Callable[[str], bool]  # is this call already live on this task?
STREAM_WAIT_SECONDS = 2.0  # how long a stream waits for a preparation still in flight
# A ring-time admission holds a slot while the phone may still ring (Twilio's default dial timeout);
# after that its stream has started, here or on another task, or never will.
RESERVATION_SECONDS = 60.0


class PreparedCalls:
    """Prepared calls by call id (read like a mapping), with the preparations still running."""

    def __init__(self) -> None:
        self._ready: dict[str, Prepared] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._closing: set[asyncio.Task[None]] = set()  # warm-ups being closed (strong refs until done)

    def __contains__(self, call_id: object) -> bool:
        """Prepared, with everything prepare started done (a stream may take it before that)."""
        prepared = self._ready.get(call_id) if isinstance(call_id, str) else None
        return prepared is not None and prepared.settled()

    def __getitem__(self, call_id: str) -> Prepared:
        return self._ready[call_id]

    def __len__(self) -> int:
        return len(self._ready)

    def reserved(self) -> int:
        """Calls admitted at ring time whose stream has not started here: being prepared, or prepared
        within the ring window (this task cannot see a stream that went to another one)."""
        now = time.monotonic()
        return len(self._running) + sum(1 for p in self._ready.values() if now - p.created < RESERVATION_SECONDS)

    def known(self, call_id: str) -> bool:
        """Prepared or being prepared."""
        return call_id in self._ready or call_id in self._running

    def start(self, org_id: str, call_id: str, is_live: LiveCheck) -> None:
        """Prepare the call in the background."""
        self._running[call_id] = asyncio.create_task(self._prepare(org_id, call_id, is_live))

    async def _prepare(self, org_id: str, call_id: str, is_live: LiveCheck) -> None:
        try:
            prepared = await prepare(org_id, call_id)
            if prepared is None:
                return
            if is_live(call_id):  # the stream gave up waiting for us: nothing will adopt these
                self._discard(prepared)
                return
            self._ready[call_id] = prepared
            # An unanswered call's sockets must not outlive the TTL (keep-alives hold them open).
            prepared.expiry = asyncio.get_running_loop().call_later(
                PREPARED_TTL_SECONDS, self._expire, call_id, prepared)
            self._prune()
        except UnsupportedConfig:
            return
        except Exception:  # noqa: BLE001 - best effort: the call connects cold, as without prepare
            log.exception("prepare failed for %s", call_id)
        finally:
            self._running.pop(call_id, None)

    async def take(self, call_id: str, org_id: str) -> Prepared | None:
        """The call's preparation for its stream (waiting briefly for one in flight), or None."""
        prepared = self._take(call_id, org_id)
        running = self._running.get(call_id)
        if prepared is None and running is not None:
            try:
                await asyncio.wait_for(asyncio.shield(running), STREAM_WAIT_SECONDS)
            except Exception:  # noqa: BLE001, S110 - too slow or failed: the call connects cold
                pass
            prepared = self._take(call_id, org_id)
        return prepared

    def _take(self, call_id: str, org_id: str) -> Prepared | None:
        prepared = self._ready.pop(call_id, None)
        if prepared is None:
            return None
        if prepared.expiry is not None:
            # The call owns it now (the stream closes what it did not adopt). A live timer would keep it,
            # and through the adopted sockets the call's whole pipeline, in memory for the full TTL.
            prepared.expiry.cancel()
            prepared.expiry = None
        if prepared.plan.org_id != org_id or time.monotonic() - prepared.created > PREPARED_TTL_SECONDS:
            self._discard(prepared)
            return None
        return prepared

    def _expire(self, call_id: str, prepared: Prepared) -> None:
        prepared.expiry = None
        if self._ready.get(call_id) is prepared:
            self._ready.pop(call_id, None)
        self._discard(prepared)

    def _discard(self, prepared: Prepared) -> None:
        if prepared.warm is not None or prepared.warming is not None:
            task = asyncio.get_running_loop().create_task(prepared.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _prune(self) -> None:
        now = time.monotonic()
        for key in [k for k, p in self._ready.items() if now - p.created > PREPARED_TTL_SECONDS]:
            self._discard(self._ready.pop(key))
