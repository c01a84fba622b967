"""What the caller hears: messages on the stream, the playout clock and marks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.websockets import WebSocket

from media.transports.wire import StreamWire

ULAW_BYTES_PER_SECOND = 8000
PLAYOUT_SLACK_SECONDS = 0.3  # network and jitter-buffer delay before Twilio has played what we sent


class Playout:
    """Sends on the call's stream and tracks how far the peer's playback has got.

    A peer that echoes no marks (a browser) gets none: the mark is echoed here when the playout clock
    says the audio before it has played, or at once when the audio is cleared (as Twilio does).
    """

    def __init__(self, ws: WebSocket, wire: StreamWire, on_echo: Callable[[str], None] | None = None) -> None:
        self.ws = ws
        self.wire = wire
        self.playout_until = 0.0
        self._marks: dict[str, asyncio.Future[bool]] = {}
        self._local: dict[str, asyncio.TimerHandle] = {}
        self._on_echo = on_echo or self.on_mark
        self._mark_seq = 0
        self._cut_pending = False  # a reply is being cut: its clear goes out even if its audio was held

    async def send(self, message: str | bytes) -> None:
        """Send one message; a lost send is harmless (the caller hung up: the stop/close path ends the call)."""
        try:
            if isinstance(message, bytes):
                await self.ws.send_bytes(message)
            else:
                await self.ws.send_text(message)
        except Exception:  # noqa: BLE001, S110 - any send failure means the socket is gone
            pass

    async def post_mark(self, name: str) -> None:
        """A mark after the audio sent so far (echoed by the peer, or by the playout clock)."""
        message = self.wire.mark(name)
        if message is not None:
            await self.send(message)
            return
        delay = max(0.0, self.playout_until - time.monotonic())
        self._local[name] = asyncio.get_running_loop().call_later(delay, self._echo_local, name)

    def _echo_local(self, name: str) -> None:
        self._local.pop(name, None)
        self._on_echo(name)

    async def send_mark(self, name: str | None = None) -> asyncio.Future[bool]:
        """Send a mark; the future resolves when it is echoed (the audio before it has played)."""
        self._mark_seq += 1
        name = name or f"m{self._mark_seq}"
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._marks[name] = fut
        await self.post_mark(name)
        return fut

    def on_mark(self, name: str) -> None:
        """A mark was echoed."""
        fut = self._marks.pop(name, None)
        if fut and not fut.done():
            fut.set_result(True)

    def cut_reply(self) -> None:
        """The caller interrupted the reply: the clear that follows is sent even when the reply's audio
        was held (not sent) long enough for the peer's queue to run dry, so the peer surely drops it."""
        self._cut_pending = True

    def on_clear(self) -> None:
        """The peer drops its queued audio: local marks echo now, and nothing is playing any more."""
        self._cut_pending = False
        if self.wire.echoes_marks:
            return  # Twilio echoes the pending marks itself
        self.playout_until = time.monotonic()
        pending, self._local = self._local, {}
        for name, handle in pending.items():
            handle.cancel()
            self._on_echo(name)

    def note_audio_out(self, nbytes: int) -> float:
        """Audio of ``nbytes`` mu-law bytes went out; returns now (monotonic)."""
        now = time.monotonic()
        self.playout_until = max(self.playout_until, now) + nbytes / ULAW_BYTES_PER_SECOND
        self._cut_pending = False
        return now

    def maybe_playing(self) -> bool:
        """Could the peer still be playing something we sent? (Its buffer drains in real time.)"""
        return self._cut_pending or time.monotonic() < self.playout_until + PLAYOUT_SLACK_SECONDS

    async def drained(self, timeout: float) -> None:  # noqa: ASYNC109 - the remaining part of the caller's deadline
        """Wait (bounded) until the peer has played everything sent so far."""
        fut = await self.send_mark("drain")
        try:
            await asyncio.wait_for(fut, max(0.1, timeout))
        except TimeoutError:
            pass
