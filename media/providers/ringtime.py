"""Connections held while the phone rings (``HeldSocket``) and what prepare built for one call (``Warm``).

Vendor modules build a ``HeldSocket`` in their service's ``hold_ring_connection`` (see
``media.providers.base``); ``media.providers.warm`` fills a ``Warm`` and the call takes from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from media.providers.base import HeldConnection, Slot

if TYPE_CHECKING:
    from pipecat.services.ai_service import AIService

log = logging.getLogger("voice.media.warm")

KEEPALIVE_SECONDS = 5.0  # Deepgram's own advice is 3-5 s (it closes after 10 s idle); ElevenLabs idles out at 20 s
CONNECT_TIMEOUT_SECONDS = 3.0  # the stream waits at most 2 s for a prepare in flight


class _Closable(Protocol):
    """The WebSocket under a held connection (websockets' ``ClientConnection`` or alike)."""

    @property
    def state(self) -> object: ...

    async def wait_closed(self) -> None: ...


ConnT = TypeVar("ConnT")


def _is_open(ws: _Closable) -> bool:
    return getattr(ws.state, "name", "") == "OPEN"


class HeldSocket(Generic[ConnT]):
    """One provider WebSocket opened at ring time, kept alive until a call's service adopts it.

    A task holds the connection's context open (entered and exited in one task), sends KeepAlive while
    ringing, and after adoption waits until the service lets go (or the socket closes). ``ConnT`` is
    what the opener yields: the socket itself or the SDK's wrapper around it (``ws_of`` finds the socket).
    """

    def __init__(self, name: str, opener: Callable[[], contextlib.AbstractAsyncContextManager[ConnT]],
                 ws_of: Callable[[ConnT], _Closable], keepalive: Callable[[ConnT], Awaitable[object]],
                 goodbye: Callable[[ConnT], Awaitable[object]]) -> None:
        self.name = name
        self._opener, self._ws_of, self._keepalive, self._goodbye = opener, ws_of, keepalive, goodbye
        self.conn: ConnT | None = None
        self.adopted = False
        self.keepalives = 0
        self._closing = False
        self._opened = asyncio.Event()  # open, or failed
        self._wake = asyncio.Event()
        self._released = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._hold(), name=f"warm-{name}")

    async def wait_open(self, timeout: float = CONNECT_TIMEOUT_SECONDS) -> bool:  # noqa: ASYNC109 - part of the RingTimeWarmable protocol
        """Wait until the socket is open (True) or failed (False); a timeout closes it."""
        try:
            await asyncio.wait_for(self._opened.wait(), timeout)
        except TimeoutError:
            await self.aclose()
        return self.conn is not None

    async def _hold(self) -> None:
        try:
            async with self._opener() as conn:
                self.conn = conn
                self._opened.set()
                while not (self._closing or self.adopted):
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        await self._keepalive(conn)
                        self.keepalives += 1
                if self.adopted:
                    closed = asyncio.ensure_future(self._ws_of(conn).wait_closed())
                    released = asyncio.ensure_future(self._released.wait())
                    try:
                        await asyncio.wait({closed, released}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        closed.cancel()
                        released.cancel()
                else:
                    await self._goodbye(conn)
        except Exception as exc:  # noqa: BLE001 - refused, rejected or dropped: the call connects by itself
            log.info("ring-time %s socket: %s", self.name, type(exc).__name__)
        finally:
            self.conn = None
            self._opened.set()

    def adopt(self) -> ConnT | None:
        """The open connection, handed over once; None if it is gone (the service connects itself)."""
        conn = self.conn
        if conn is None or self.adopted or self._closing or not _is_open(self._ws_of(conn)):
            return None
        self.adopted = True
        self._wake.set()
        return conn

    async def release(self) -> None:
        """The adopting service is done with the connection: close it."""
        self._released.set()
        await asyncio.wait({self.task}, timeout=10.0)  # the close handshake (never raises)

    def close_soon(self) -> None:
        """Close the socket in the background unless a service adopted it."""
        if not self.adopted:
            self._closing = True
            self._wake.set()

    async def aclose(self) -> None:
        """Close the socket unless a service adopted it (the service closes what it adopted)."""
        if self.adopted:
            return
        self.close_soon()
        if not self._opened.is_set():
            self.task.cancel()  # still connecting
        await asyncio.wait({self.task}, timeout=3.0)


@dataclass
class Warm:
    """What prepare built and opened for one call: services by pipeline slot, with the key each used."""

    services: dict[Slot, AIService] = field(default_factory=dict)
    keys: dict[Slot, str] = field(default_factory=dict)
    held: dict[Slot, HeldConnection] = field(default_factory=dict)
    llm_warm: bool = False
    taken: set[Slot] = field(default_factory=set)

    def take(self, kind: Slot, key: str) -> AIService | None:
        """The prepared service for a slot if it was built with this key (else the call builds its own)."""
        service = self.services.pop(kind, None)
        if service is None or self.keys.get(kind) != key:
            return None
        self.taken.add(kind)
        return service

    def discard_rest(self) -> None:
        """The call has its services: close sockets held for services it did not take."""
        self.services.clear()
        for kind, held in self.held.items():
            if kind not in self.taken:
                held.close_soon()

    async def aclose(self) -> None:
        """Close every held socket no service adopted."""
        self.services.clear()
        await asyncio.gather(*(h.aclose() for h in self.held.values()))
