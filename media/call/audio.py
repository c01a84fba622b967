"""The call's audio on the stream: playout, the greeting, the recording and latency marks.

``CallAudio`` is the stream host the Twilio serializer reports to; it also plays the greeting's audio
straight onto the stream as it arrives and cuts it when the caller barges in.
"""

from __future__ import annotations

import audioop  # stdlib up to 3.12, the audioop-lts backport after
import time
from collections.abc import Callable

from pipecat.processors.aggregators.llm_context import LLMContext
from starlette.websockets import WebSocket

from media.call.events import CallEvents
from media.call.greeting import Greeting, GreetingAudio
from media.call.playout import Playout
from media.call.recording import Recorder
from media.call.turns import TurnLog
from media.stats import Stats
from media.transports.wire import StreamWire


class CallAudio:
    """Everything that happens to the call's audio bytes (implements the serializer's ``StreamHost``)."""

    def __init__(self, ws: WebSocket, wire: StreamWire, turns: TurnLog, stats: Stats,
                 on_stop: Callable[[], None], events: CallEvents) -> None:
        self.wire = wire
        self.events = events
        self.playout = Playout(ws, wire, on_echo=self.on_mark)
        self.turns = turns
        self.stats = stats
        self.recorder: Recorder | None = None
        self.greeting: Greeting | None = None
        self._on_stop = on_stop

    # --- StreamHost ------------------------------------------------------------------------
    def maybe_playing(self) -> bool:
        return self.playout.maybe_playing()

    def note_clear(self) -> None:
        if self.greeting is not None:
            self.greeting.note_clear(time.monotonic())
        if self.recorder is not None:
            self.recorder.clear()
        self.playout.on_clear()
        self.events.emit({"type": "clear"}, to_peer=False)  # the serializer sends the peer its own

    def note_audio_out(self, ulaw: bytes) -> None:
        now = self.playout.note_audio_out(len(ulaw))
        self.turns.note_audio_out(now)
        self.stats.note_frame()
        if self.recorder is not None:
            self.recorder.agent(ulaw)
        self.events.agent_audio(ulaw)

    def note_audio_in(self, ulaw: bytes, pcm: bytes, timestamp_ms: int | None) -> None:
        self.turns.note_audio_in(audioop.rms(pcm, 2))
        if self.recorder is not None:
            self.recorder.caller(ulaw, timestamp_ms)
        self.events.caller_audio(pcm)

    def on_mark(self, name: str) -> None:
        if self.greeting is not None:
            self.greeting.on_mark(name)
        self.playout.on_mark(name)

    def on_twilio_stop(self) -> None:
        self._on_stop()

    # --- the greeting from ring-time audio ---------------------------------------------------
    def greeting_playing(self) -> bool:
        """Is the greeting still queued at Twilio?"""
        return self.greeting is not None and self.greeting.playing()

    def begin_greeting(self, text: str) -> Greeting:
        """The greeting about to be played (what barge-in and the transcript track)."""
        self.greeting = Greeting(text=text)
        return self.greeting

    async def play_greeting(self, greeting: Greeting, audio: GreetingAudio) -> None:
        """Straight onto the socket as the audio arrives, 100 ms per media message, each followed by a
        mark; a barge-in stops it (the rest still arrives, to learn the clip's length)."""
        try:
            async for chunk in audio.chunks():
                if greeting.truncated:
                    continue
                index = greeting.chunks
                greeting.chunks += 1
                self.note_audio_out(chunk)
                await self.playout.send(self.wire.media(chunk))
                await self.playout.post_mark(Greeting.mark_name(index))
        finally:
            greeting.sent_all(audio.total_chunks())

    def cut_greeting(self, context: LLMContext | None) -> bool:
        """The caller barged in over the greeting: keep what was heard. True when Twilio must clear
        (the greeting went out on the socket directly, not through the pipeline's transport)."""
        if self.greeting is None or not self.greeting.truncate(context, time.monotonic()):
            return False
        if self.recorder is not None:
            self.recorder.clear()
        return True

    async def send_clear(self) -> None:
        """Tell Twilio to drop the audio it has queued."""
        await self.playout.send(self.wire.clear())
        self.playout.on_clear()
        self.events.emit({"type": "clear"}, to_peer=False)
