"""Browser calls: raw PCM over a WebSocket (docs/web-calls.md) and the serializer to Pipecat frames.

Binary frames are PCM signed 16-bit little-endian, mono, 16 kHz, both ways (the format of Vapi's
WebSocket transport); text frames are JSON events. The call itself runs at the pipeline's 8 kHz like
a phone call: the caller's audio is downsampled with Pipecat's stream resampler (soxr, anti-aliased),
the agent's upsampled on the way out. A browser echoes no marks, so the call keeps the playout clock
itself (``media.call.playout``); barge-in sends ``{"type": "clear"}`` so the page flushes its buffer.
"""

from __future__ import annotations

import audioop  # stdlib up to 3.12, the audioop-lts backport after
import json
from typing import Any

from pipecat.audio.utils import create_stream_resampler  # pyright: ignore[reportUnknownVariableType] - **kwargs untyped
from pipecat.frames.frames import (
    AudioRawFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer

from media.transports.twilio import StreamHost

WEB_SAMPLE_RATE = 16000
CALL_SAMPLE_RATE = 8000  # media.providers.base.SAMPLE_RATE: the pipeline's rate
CLEAR_EVENT = json.dumps({"type": "clear"})


def event_message(event: dict[str, Any]) -> str:
    """A JSON event as the text frame the page receives."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


class Upsampler:
    """8 kHz linear16 -> 16 kHz, keeping the filter state across chunks of one stream."""

    def __init__(self) -> None:
        self._state: Any = None

    def __call__(self, pcm: bytes) -> bytes:
        out, self._state = audioop.ratecv(pcm, 2, 1, CALL_SAMPLE_RATE, WEB_SAMPLE_RATE, self._state)
        return out


class WebWire:
    """A browser call's messages (``StreamWire``): agent audio as 16 kHz PCM, no marks, JSON clear."""

    echoes_marks = False

    def __init__(self) -> None:
        self.upsample = Upsampler()  # one state for the greeting and the pipeline's audio (one stream)

    def media(self, ulaw: bytes) -> bytes:
        return self.upsample(audioop.ulaw2lin(ulaw, 2))

    def mark(self, name: str) -> None:
        return None

    def clear(self) -> str:
        return CLEAR_EVENT


class WebSerializer(FrameSerializer):
    """16 kHz PCM binary frames <-> the pipeline's 8 kHz frames, reporting to the call like Twilio's."""

    def __init__(self, host: StreamHost, wire: WebWire) -> None:
        super().__init__()  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self._host = host
        self._wire = wire
        self._downsampler = create_stream_resampler()
        self._odd = b""  # a frame with an odd byte count: its last byte waits for the next frame

    async def setup(self, setup: FrameProcessorSetup) -> None:
        return None

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, InterruptionFrame):
            if not self._host.maybe_playing():
                return None  # nothing queued at the page
            self._host.note_clear()
            return CLEAR_EVENT
        if isinstance(frame, AudioRawFrame):
            if not frame.audio:
                return None
            self._host.note_audio_out(audioop.lin2ulaw(frame.audio, 2))
            return self._wire.upsample(frame.audio)
        if isinstance(frame, (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame)):
            return event_message(frame.message)
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, str):
            return None  # the page sends no commands on this socket: closing it ends the call
        data = self._odd + data
        cut = len(data) - len(data) % 2
        data, self._odd = data[:cut], data[cut:]
        if not data:
            return None
        pcm = await self._downsampler.resample(data, WEB_SAMPLE_RATE, CALL_SAMPLE_RATE)
        if not pcm:
            return None  # the resampler is still filling its window
        self._host.note_audio_in(audioop.lin2ulaw(pcm, 2), pcm, None)
        return InputAudioRawFrame(audio=pcm, num_channels=1, sample_rate=CALL_SAMPLE_RATE)


class WebTransport:
    """A browser call's socket (``CallTransport``)."""

    events_to_peer = True

    def __init__(self) -> None:
        self.wire = WebWire()

    def serializer(self, host: StreamHost) -> WebSerializer:
        return WebSerializer(host, self.wire)
