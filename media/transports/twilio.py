"""Twilio Media Streams: the stream's handshake and the serializer between its JSON and Pipecat frames.

mu-law <-> linear16 at one rate is a lookup (no resampler); the TTS asks for ``ulaw_8000`` so the
bytes we send are the provider's bytes. Marks and ``stop`` are reported to the stream's host (the
call), which owns playback accounting and the end of the call.
"""

from __future__ import annotations

import asyncio
import audioop  # stdlib up to 3.12, the audioop-lts backport after
import base64
import json
import logging
from dataclasses import dataclass
from typing import Protocol, TypedDict, cast

from pipecat.frames.frames import (
    AudioRawFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer
from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger("voice.media.twilio")

HANDSHAKE_MESSAGES = 5  # "connected", then "start" (a few spare for robustness)
HANDSHAKE_TIMEOUT_SECONDS = 10.0


class StreamHost(Protocol):
    """What the serializer reports to (the call owning the stream)."""

    def maybe_playing(self) -> bool:
        """Could Twilio still be playing audio we sent?"""
        ...

    def note_clear(self) -> None:
        """A ``clear`` goes out: queued audio at Twilio is discarded."""
        ...

    def note_audio_out(self, ulaw: bytes) -> None:
        """Agent audio goes out."""
        ...

    def note_audio_in(self, ulaw: bytes, pcm: bytes, timestamp_ms: int | None) -> None:
        """Caller audio came in."""
        ...

    def on_mark(self, name: str) -> None:
        """Twilio echoed a mark: the audio before it has played (or was cleared)."""
        ...

    def on_twilio_stop(self) -> None:
        """The caller hung up."""
        ...


class _Media(TypedDict, total=False):
    payload: str
    timestamp: str


class _StartBody(TypedDict, total=False):
    streamSid: str
    callSid: str
    accountSid: str
    customParameters: dict[str, str]


class _Named(TypedDict, total=False):
    name: str
    digit: str


class TwilioMessage(TypedDict, total=False):
    """An inbound Media Streams message (protocols.md section 1): the fields we read."""

    event: str
    streamSid: str
    start: _StartBody
    media: _Media
    mark: _Named
    dtmf: _Named


def _parse(data: str | bytes) -> TwilioMessage | None:
    try:
        message = json.loads(data)
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError):
        return None
    return cast(TwilioMessage, message) if isinstance(message, dict) else None


@dataclass(frozen=True)
class StreamStart:
    """The parameters of Twilio's ``start`` message that identify the call."""

    call_id: str
    org_id: str
    token: str
    stream_sid: str
    call_sid: str | None
    account_sid: str | None


async def read_start(ws: WebSocket) -> StreamStart | None:
    """Read ``connected`` and ``start``; None when the stream never starts or lacks our parameters."""
    start: TwilioMessage | None = None
    try:
        for _ in range(HANDSHAKE_MESSAGES):
            message = _parse(await asyncio.wait_for(ws.receive_text(), HANDSHAKE_TIMEOUT_SECONDS))
            if message is not None and message.get("event") == "start":
                start = message
                break
    except (TimeoutError, WebSocketDisconnect, KeyError, RuntimeError):
        return None
    if start is None:
        return None
    body: _StartBody = start.get("start") or {}
    params = body.get("customParameters") or {}
    call_id, org_id, token = params.get("call_id"), params.get("org_id"), params.get("token")
    if not (call_id and org_id and token):
        return None
    return StreamStart(call_id=str(call_id), org_id=str(org_id), token=str(token),
                       stream_sid=str(body.get("streamSid") or start.get("streamSid") or ""),
                       call_sid=body.get("callSid"), account_sid=body.get("accountSid"))


def media_message(stream_sid: str, ulaw: bytes) -> str:
    """One outbound ``media`` message."""
    return json.dumps({"event": "media", "streamSid": stream_sid,
                       "media": {"payload": base64.b64encode(ulaw).decode()}})


def mark_message(stream_sid: str, name: str) -> str:
    """One outbound ``mark`` message."""
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """The outbound ``clear`` message (Twilio drops the audio it has queued)."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})


class TwilioSerializer(FrameSerializer):
    """Twilio Media Streams <-> 8 kHz linear16 frames, with marks and host callbacks."""

    def __init__(self, host: StreamHost, stream_sid: str) -> None:
        super().__init__()  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self._host = host
        self.stream_sid = stream_sid

    async def setup(self, setup: FrameProcessorSetup) -> None:
        return None

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, InterruptionFrame):
            if not self._host.maybe_playing():
                return None  # nothing queued at Twilio (e.g. a withdrawn speculative reply)
            self._host.note_clear()
            return clear_message(self.stream_sid)
        if isinstance(frame, AudioRawFrame):
            if not frame.audio:
                return None
            ulaw = audioop.lin2ulaw(frame.audio, 2)
            self._host.note_audio_out(ulaw)
            return media_message(self.stream_sid, ulaw)
        if isinstance(frame, (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame)):
            return json.dumps(frame.message)
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        message = _parse(data)
        if message is None:
            return None
        event = message.get("event")
        if event == "media":
            media: _Media = message.get("media") or {}
            payload = media.get("payload")
            if not payload:
                return None
            ulaw = base64.b64decode(payload)
            pcm = audioop.ulaw2lin(ulaw, 2)
            ts = str(media.get("timestamp") or "")
            self._host.note_audio_in(ulaw, pcm, int(ts) if ts.isdigit() else None)
            return InputAudioRawFrame(audio=pcm, num_channels=1, sample_rate=8000)
        if event == "dtmf":
            from pipecat.audio.dtmf.types import KeypadEntry

            try:
                return InputDTMFFrame(KeypadEntry((message.get("dtmf") or {}).get("digit", "")))
            except ValueError:
                return None
        if event == "mark":
            self._host.on_mark((message.get("mark") or {}).get("name", ""))
        elif event == "stop":
            self._host.on_twilio_stop()
        return None


class TwilioWire:
    """Twilio Media Streams messages for a stream (``StreamWire``)."""

    echoes_marks = True

    def __init__(self, stream_sid: str) -> None:
        self.stream_sid = stream_sid

    def media(self, ulaw: bytes) -> str:
        return media_message(self.stream_sid, ulaw)

    def mark(self, name: str) -> str:
        return mark_message(self.stream_sid, name)

    def clear(self) -> str:
        return clear_message(self.stream_sid)


class TwilioTransport:
    """A phone call's Media Stream (``CallTransport``)."""

    events_to_peer = False  # Twilio has no use for them (listeners and webhooks still get them)

    def __init__(self, stream_sid: str) -> None:
        self.wire = TwilioWire(stream_sid)

    def serializer(self, host: StreamHost) -> TwilioSerializer:
        return TwilioSerializer(host, self.wire.stream_sid)
