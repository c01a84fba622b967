"""The call's output transport: agent audio paced in real time, which can be held and resumed.

Twilio has no "pause": holding means we stop sending media messages, so what the caller still hears
is what Twilio has queued. Pipecat's WebSocket output already paces audio in real time; here it runs
``LEAD_SECONDS`` ahead at most, so a hold is heard within that lead. While held, the frames Pipecat's
playback clock releases (the words of the reply, as they would have been heard) are parked: a resume
passes them on, an interruption drops them, so the stored reply keeps only what was heard.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputAudioRawFrame,
    SystemFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from starlette.websockets import WebSocket

LEAD_SECONDS = 0.06  # how far ahead of playback we send: a little slack for the event loop, heard on a hold


class HoldableOutput(FastAPIWebsocketOutputTransport):
    """Pipecat's WebSocket output with ``hold()`` / ``resume()`` of interruptible agent audio."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._generation = 0  # bumped by each interruption: a write waiting in a hold is then dropped
        self._parked: list[Frame] = []
        self._sent_until = 0.0  # when the audio sent so far ends playing (monotonic)
        self.held_at: float | None = None

    @property
    def held(self) -> bool:
        return not self._resumed.is_set()

    def hold(self) -> None:
        """Stop sending agent audio (what the peer has queued still plays)."""
        if not self.held:
            self.held_at = time.monotonic()
            self._resumed.clear()

    async def resume(self) -> None:
        """Go on sending where the audio stopped, and pass on what the playback clock released meanwhile."""
        if not self.held:
            return
        self.held_at = None
        self._resumed.set()
        parked, self._parked = self._parked, []
        for frame in parked:
            await super().push_frame(frame)

    def _release(self, *, drop: bool) -> None:
        if drop:
            self._generation += 1
            self._parked = [f for f in self._parked if not f.interruptible]
        self.held_at = None
        self._resumed.set()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InterruptionFrame):
            self._release(drop=True)  # the held audio will not be heard: the interruption drops it
            self._sent_until = 0.0
        elif isinstance(frame, (EndFrame, CancelFrame)):
            await self.resume()  # the call's end must not wait on a hold
        await super().process_frame(frame, direction)

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM) -> None:
        if self.held and direction == FrameDirection.DOWNSTREAM and not isinstance(frame, SystemFrame):
            self._parked.append(frame)
            return
        await super().push_frame(frame, direction)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        if frame.interruptible and self.held:
            generation = self._generation
            await self._resumed.wait()
            if generation != self._generation:
                return False  # interrupted while held: this chunk is never sent
        return await super().write_audio_frame(frame)

    async def _write_audio_sleep(self) -> None:
        # Real time with a small lead (Pipecat's own sleep keeps no lead at all: any late wake-up is a gap).
        chunk = self._send_interval
        now = time.monotonic()
        self._sent_until = max(self._sent_until, now) + chunk
        await asyncio.sleep(max(0.0, self._sent_until - LEAD_SECONDS - now))


class CallWebsocketTransport(FastAPIWebsocketTransport):
    """Pipecat's FastAPI WebSocket transport whose output is a ``HoldableOutput``."""

    def __init__(self, websocket: WebSocket, params: FastAPIWebsocketParams) -> None:
        super().__init__(websocket, params)
        self._output = HoldableOutput(self, self._client, self._params, name=self._output_name)

    def output(self) -> HoldableOutput:
        return self._output
