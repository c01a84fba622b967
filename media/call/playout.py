"""What the caller hears: messages on the stream, the playout clock and marks."""

from __future__ import annotations

import asyncio
import time

from starlette.websockets import WebSocket

from media.transports.twilio import mark_message

ULAW_BYTES_PER_SECOND = 8000
PLAYOUT_SLACK_SECONDS = 0.3  # network and jitter-buffer delay before Twilio has played what we sent


class Playout:
    """Sends on the call's stream and tracks how far Twilio's playback has got."""

    def __init__(self, ws: WebSocket, stream_sid: str) -> None:
        self.ws = ws
        self.stream_sid = stream_sid
        self.playout_until = 0.0
        self._marks: dict[str, asyncio.Future[bool]] = {}
        self._mark_seq = 0

    async def send_text(self, text: str) -> None:
        """Send one message; a lost send is harmless (the caller hung up: the stop/close path ends the call)."""
        try:
            await self.ws.send_text(text)
        except Exception:  # noqa: BLE001, S110 - any send failure means the socket is gone
            pass

    async def send_mark(self, name: str | None = None) -> asyncio.Future[bool]:
        """Send a mark; the future resolves when Twilio echoes it (the audio before it has played)."""
        self._mark_seq += 1
        name = name or f"m{self._mark_seq}"
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._marks[name] = fut
        await self.send_text(mark_message(self.stream_sid, name))
        return fut

    def on_mark(self, name: str) -> None:
        """Twilio echoed a mark."""
        fut = self._marks.pop(name, None)
        if fut and not fut.done():
            fut.set_result(True)

    def note_audio_out(self, nbytes: int) -> float:
        """Audio of ``nbytes`` mu-law bytes went out; returns now (monotonic)."""
        now = time.monotonic()
        self.playout_until = max(self.playout_until, now) + nbytes / ULAW_BYTES_PER_SECOND
        return now

    def maybe_playing(self) -> bool:
        """Could Twilio still be playing something we sent? (Its buffer drains in real time.)"""
        return time.monotonic() < self.playout_until + PLAYOUT_SLACK_SECONDS

    async def drained(self, timeout: float) -> None:  # noqa: ASYNC109 - the remaining part of the caller's deadline
        """Wait (bounded) until Twilio has played everything sent so far."""
        fut = await self.send_mark("drain")
        try:
            await asyncio.wait_for(fut, max(0.1, timeout))
        except TimeoutError:
            pass
