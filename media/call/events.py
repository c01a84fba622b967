"""A call's live events and audio for whoever follows it: the browser of a web call and listeners.

``CallEvents`` fans JSON events (transcript, speech-update, clear, call-ended) out to sinks, and both
sides' audio to listeners only, as tagged 16 kHz PCM frames (docs/web-calls.md): one tag byte
(``1`` caller, ``2`` agent) and PCM s16le mono. Each sink has a bounded queue drained by its own
pump, so a slow listener loses frames instead of slowing the call; nothing is converted while no one
listens.
"""

from __future__ import annotations

import asyncio
import audioop  # stdlib up to 3.12, the audioop-lts backport after
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from media.transports.web import Upsampler, event_message

log = logging.getLogger("voice.media.events")

CALLER_TAG, AGENT_TAG = 1, 2
SINK_QUEUE = 500  # ~5 s of both sides' 20 ms frames
CLOSE_FLUSH_SECONDS = 2.0

Message = str | bytes


class Sink:
    """One follower's ordered outbox (a browser or a listener)."""

    def __init__(self, maxsize: int = SINK_QUEUE) -> None:
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue(maxsize)
        self.dropped = 0
        self.closed = False

    def offer(self, message: Message) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1

    def close(self) -> None:
        """No more messages: the pump stops after what is queued."""
        if self.closed:
            return
        self.closed = True
        while True:
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()  # make room for the end marker: the oldest frame goes

    async def pump(self, send: Callable[[Message], Awaitable[None]]) -> None:
        """Send queued messages in order until closed (or the socket fails)."""
        while (message := await self.queue.get()) is not None:
            try:
                await send(message)
            except Exception:  # noqa: BLE001 - the follower left; its socket handler cleans up
                self.closed = True
                return


class CallEvents:
    """Fan-out of one call's events and audio (see module docstring)."""

    def __init__(self, peer: Sink | None = None,
                 relay: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.peer = peer
        self.listeners: list[Sink] = []
        self.relay = relay
        self._caller_up = Upsampler()
        self._agent_up = Upsampler()
        self._ended = False

    def emit(self, event: dict[str, Any], *, to_peer: bool = True, relay: bool = True) -> None:
        """Send an event to the browser (unless its transport sent it already) and the listeners,
        and (unless ``relay`` is off) to the webhook relay."""
        if self._ended:
            return
        text = event_message(event)
        if self.peer is not None and to_peer:
            self.peer.offer(text)
        for sink in self.listeners:
            sink.offer(text)
        if self.relay is not None and relay:
            self.relay(event)

    def listen(self) -> Sink:
        """A new listener (read-only): gets events and tagged audio from now on."""
        sink = Sink()
        if self._ended:
            sink.close()
        else:
            self.listeners.append(sink)
        return sink

    def leave(self, sink: Sink) -> None:
        with contextlib.suppress(ValueError):
            self.listeners.remove(sink)

    def caller_audio(self, pcm: bytes) -> None:
        """The caller's 8 kHz linear16 audio, as heard by the call."""
        if self.listeners:
            self._audio(CALLER_TAG, self._caller_up(pcm))

    def agent_audio(self, ulaw: bytes) -> None:
        """The agent's 8 kHz mu-law audio, as sent to the caller."""
        if self.listeners:
            self._audio(AGENT_TAG, self._agent_up(audioop.ulaw2lin(ulaw, 2)))

    def _audio(self, tag: int, pcm: bytes) -> None:
        frame = bytes((tag,)) + pcm
        for sink in self.listeners:
            sink.offer(frame)

    async def end(self, reason: str) -> None:
        """``call-ended`` to everyone, then close every sink (the browser's gets a moment to flush)."""
        if self._ended:
            return
        self.emit({"type": "call-ended", "reason": reason})
        self._ended = True
        for sink in self.listeners:
            sink.close()
        self.listeners = []
        if self.peer is not None:
            self.peer.close()
            deadline = asyncio.get_running_loop().time() + CLOSE_FLUSH_SECONDS
            while not self.peer.queue.empty() and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110 - waits for the pump to drain a queue it owns
                await asyncio.sleep(0.02)
