"""Call recording: the caller and the agent as a stereo track, stored at call end.

Hook points (wired in ``media/session.py`` and ``media/processors.py``):
- ``start(plan)`` returns a ``Recorder`` when this call is recorded, else None;
- ``Recorder.caller(ulaw, timestamp_ms)`` for every inbound Twilio media frame;
- ``Recorder.agent(ulaw)`` for every outbound media payload (pipeline speech and the greeting);
- ``Recorder.clear()`` when Twilio is told to drop queued agent audio;
- ``await store(session)`` at the end returns the fields to put on the call row (or {}).

Time alignment. Both tracks are 8 kHz mu-law bytearrays on the stream's own clock (0 = Twilio's
stream start, 8 bytes per ms):
- caller frames go where Twilio's ``media.timestamp`` says (arrival order when it is missing), so
  a burst of frames read late by the pipeline still lands where it was spoken;
- agent audio is sent faster than real time and Twilio plays it after what it has queued, so each
  payload is placed at ``max(end of queued agent audio, now)`` (the playout clock); ``clear()``
  cuts the agent track at "now": what had not been played yet was never heard;
- the two clocks are joined by the stream's start on our monotonic clock, estimated as the
  earliest ``arrival - timestamp`` of any caller frame (network and loop delays only add to it).
Memory is bounded: each track holds at most the call's max duration (+ a short goodbye margin),
8 KB per second, so about 9.6 MB for the default 10 minutes; audio beyond that is dropped.
"""

from __future__ import annotations

import asyncio
import audioop  # stdlib up to 3.12, the audioop-lts backport after (as in media/processors.py)
import io
import logging
import time
import wave
from typing import Any

from media.controlplane import control_plane
from media.plan import CallPlan

log = logging.getLogger("voice.media.recording")

RATE = 8000  # mu-law bytes per second (one byte per sample)
ULAW_SILENCE = 0xFF
MARGIN_SECONDS = 30  # goodbye lines after the max-duration limit, ring-to-answer slack


class Recorder:
    def __init__(self, max_seconds: float, *, clock: Any = time.monotonic):
        self._clock = clock
        self._created = clock()
        self.cap = int((max_seconds + MARGIN_SECONDS) * RATE)  # bytes per track
        self._caller = bytearray()
        self._caller_next = 0  # where a frame without timestamp goes
        self._start: float | None = None  # the stream's t=0 on our clock (see module docstring)
        self._agent = bytearray()  # positioned relative to self._created
        self.dropped_bytes = 0
        self.cleared_bytes = 0

    # --- hooks ------------------------------------------------------------------------------
    def caller(self, ulaw: bytes, timestamp_ms: int | None) -> None:
        now = self._clock()
        pos = timestamp_ms * 8 if timestamp_ms is not None and timestamp_ms >= 0 else self._caller_next
        if pos >= self.cap:  # past the limit (or a bogus timestamp): must not move the stream's start
            self.dropped_bytes += len(ulaw)
            return
        est = now - pos / RATE
        if self._start is None or est < self._start:
            self._start = est
        self._caller_next = pos + len(ulaw)
        self._write(self._caller, pos, ulaw)

    def agent(self, ulaw: bytes) -> None:
        now_pos = self._pos_now()
        pos = max(len(self._agent), now_pos)  # after what Twilio still has queued, or now
        self._write(self._agent, pos, ulaw)

    def clear(self) -> None:
        now_pos = max(0, self._pos_now())
        if len(self._agent) > now_pos:
            self.cleared_bytes += len(self._agent) - now_pos
            del self._agent[now_pos:]

    # --- internals --------------------------------------------------------------------------
    def _pos_now(self) -> int:
        return int(round((self._clock() - self._created) * RATE))

    def _write(self, track: bytearray, pos: int, data: bytes) -> None:
        if pos < 0:
            data, pos = data[-pos:], 0
        room = self.cap - pos
        if room < len(data):
            self.dropped_bytes += len(data) - max(0, room)
            data = data[:max(0, room)]
        if not data:
            return
        if pos > len(track):
            track.extend(bytes([ULAW_SILENCE]) * (pos - len(track)))
        track[pos:pos + len(data)] = data

    def _agent_shift(self) -> int:
        """Bytes from the stream's start to this recorder's creation (agent track offset)."""
        start = self._start if self._start is not None else self._created
        return int(round((self._created - start) * RATE))

    def caller_bytes(self) -> int:
        return len(self._caller)

    def duration_bytes(self) -> int:
        start = self._start if self._start is not None else self._created
        return int(round((self._clock() - start) * RATE))

    def tracks(self, length: int | None = None) -> tuple[bytes, bytes]:
        """(caller, agent) mu-law tracks of equal length on the stream clock."""
        shift = min(self._agent_shift(), self.cap)
        if shift >= 0:
            agent = bytes([ULAW_SILENCE]) * shift + bytes(self._agent)
        else:
            agent = bytes(self._agent[-shift:])
        caller = bytes(self._caller)
        n = max(len(caller), len(agent)) if length is None else length
        n = min(n, self.cap)

        def fit(track: bytes) -> bytes:
            return track[:n] + bytes([ULAW_SILENCE]) * max(0, n - len(track))

        return fit(caller), fit(agent)

    def wav(self, length: int | None = None) -> bytes:
        """Stereo 16-bit PCM WAV, 8 kHz: caller left, agent right (``length`` bytes per track)."""
        return to_wav(*self.tracks(length))


def to_wav(caller_ulaw: bytes, agent_ulaw: bytes) -> bytes:
    """Interleave the two mu-law tracks as 16-bit stereo, a second at a time (peak memory ~ the WAV)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        for i in range(0, max(len(caller_ulaw), len(agent_ulaw)), RATE):
            left = audioop.ulaw2lin(caller_ulaw[i:i + RATE], 2)
            right = audioop.ulaw2lin(agent_ulaw[i:i + RATE], 2)
            w.writeframes(audioop.add(audioop.tostereo(left, 2, 1, 0), audioop.tostereo(right, 2, 0, 1), 2))
    return buf.getvalue()


def start(plan: CallPlan) -> Recorder | None:
    """A recorder unless gdpr_mode, the assistant's ``recording_enabled: false`` or no bucket."""
    if plan.gdpr_mode or not plan.recording_enabled or not control_plane().recording_enabled():
        return None
    return Recorder(plan.max_duration_seconds)


async def store(recorder: Recorder, org_id: str, call_id: str, *, twilio_stopped: bool) -> dict[str, Any]:
    """Encode and upload the recording off the event loop; the call row gets ``recording_key``."""
    # Twilio's stop ends the call where the caller's audio ends (agent audio still queued was never
    # played); otherwise up to now (the goodbye has played out before we hung up).
    length = recorder.caller_bytes() if twilio_stopped and recorder.caller_bytes() else \
        max(recorder.duration_bytes(), 0)
    caller, agent = recorder.tracks(length)  # snapshot on the loop: cheap copies, no hook races
    if not caller:
        return {}
    data = await asyncio.to_thread(to_wav, caller, agent)
    key = await asyncio.to_thread(control_plane().store_recording, org_id, call_id, data)
    if recorder.dropped_bytes:
        log.warning("recording of %s capped: %d bytes dropped", call_id, recorder.dropped_bytes)
    return {"recording_key": key}
