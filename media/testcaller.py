"""A measuring Twilio Media Streams caller for the media service's tests and benchmark.

Speaks the Twilio protocol as the client (connected, start with parameters, 20 ms media frames of
real espeak-ng speech or mu-law silence, dtmf, stop), plays received audio through a FIFO at real
time and echoes marks when the audio before them has played (``clear`` drops the audio and echoes
every pending mark at once), and records timestamps so voice-to-voice can be measured on the wire.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

FRAME_BYTES = 160
SILENCE = b"\xff" * FRAME_BYTES


@dataclass
class Received:
    at: float
    nbytes: int


@dataclass
class CallerLog:
    media: list[Received] = field(default_factory=list)
    marks_sent: list[str] = field(default_factory=list)
    marks_echoed: list[tuple[float, str]] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    speech_ends: list[float] = field(default_factory=list)
    started_at: float = 0.0
    closed_at: float | None = None


class TestCaller:
    __test__ = False  # not a pytest class

    def __init__(self, url: str, *, call_id: str, org_id: str, token: str, registry: Any = None,
                 headers: dict[str, str] | None = None):
        self.url = url
        self.call_id = call_id
        self.org_id = org_id
        self.token = token
        self.registry = registry
        self.headers = headers or {}
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.call_sid = "CA" + uuid.uuid4().hex
        self.log = CallerLog()
        self._out: deque[bytes] = deque()
        self._play: deque[Any] = deque()  # bytes | ("mark", name)
        self._ws = None
        self._tasks: list[asyncio.Task] = []
        self._seq = 0
        self._chunk = 0
        self.closed = asyncio.Event()

    async def connect(self, call_sid: str | None = None) -> None:
        import websockets

        self.call_sid = call_sid or self.call_sid
        self._ws = await websockets.connect(self.url, additional_headers=self.headers, max_size=None)
        await self._ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        self._seq += 1
        await self._ws.send(json.dumps({
            "event": "start", "sequenceNumber": str(self._seq), "streamSid": self.stream_sid,
            "start": {"accountSid": "AC" + "0" * 32, "streamSid": self.stream_sid, "callSid": self.call_sid,
                      "tracks": ["inbound"],
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                      "customParameters": {"call_id": self.call_id, "org_id": self.org_id, "token": self.token}}}))
        self.log.started_at = time.monotonic()
        self._tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._recv_loop()),
                       asyncio.create_task(self._play_loop())]

    async def _send_json(self, msg: dict[str, Any]) -> None:
        if self._ws is None or self.closed.is_set():
            return
        self._seq += 1
        msg["sequenceNumber"] = str(self._seq)
        msg["streamSid"] = self.stream_sid
        try:
            await self._ws.send(json.dumps(msg))
        except Exception:
            self.closed.set()

    async def _send_loop(self) -> None:
        next_at = time.monotonic()
        while not self.closed.is_set():
            frame = self._out.popleft() if self._out else SILENCE
            if frame is None:  # speech end marker
                self.log.speech_ends.append(time.monotonic())
                continue
            self._chunk += 1
            await self._send_json({"event": "media", "media": {
                "track": "inbound", "chunk": str(self._chunk), "timestamp": str(self._chunk * 20),
                "payload": base64.b64encode(frame).decode()}})
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _recv_loop(self) -> None:
        try:
            async for raw in self._ws:
                msg = json.loads(raw)
                event = msg.get("event")
                now = time.monotonic()
                if event == "media":
                    data = base64.b64decode(msg["media"]["payload"])
                    self.log.media.append(Received(now, len(data)))
                    self._play.append(data)
                elif event == "mark":
                    name = msg["mark"]["name"]
                    self.log.marks_sent.append(name)
                    self._play.append(("mark", name))
                elif event == "clear":
                    self.log.clears.append(now)
                    pending = [item for item in self._play if isinstance(item, tuple)]
                    self._play.clear()
                    for _, name in pending:
                        await self._echo(name)
        except Exception:
            pass
        finally:
            self.log.closed_at = time.monotonic()
            self.closed.set()

    async def _echo(self, name: str) -> None:
        self.log.marks_echoed.append((time.monotonic(), name))
        await self._send_json({"event": "mark", "mark": {"name": name}})

    async def _play_loop(self) -> None:
        # Real-time playout: 8 bytes per ms; a mark is echoed when it reaches the head.
        while not self.closed.is_set():
            if not self._play:
                await asyncio.sleep(0.005)
                continue
            item = self._play.popleft()
            if isinstance(item, tuple):
                await self._echo(item[1])
                continue
            await asyncio.sleep(len(item) / 8000)

    # --- actions ---------------------------------------------------------------------------------
    def say(self, text: str, *, audio: bytes | None = None) -> float:
        """Queue an utterance (registers its text for the STT fake). Returns its audio duration (s)."""
        from sandbox import audio as sbaudio

        if self.registry is not None:
            self.registry.register(self.call_id, [text], append=True)
        data = audio if audio is not None else sbaudio.speak(text)
        frames = sbaudio.frames(data)
        last_voiced = max((i for i, f in enumerate(frames) if sbaudio.is_speech(f)), default=len(frames) - 1)
        for i, frame in enumerate(frames):
            self._out.append(frame)
            if i == last_voiced:
                self._out.append(None)  # speech end = right after the last voiced frame went out
        return len(data) / 8000

    async def speak(self, text: str) -> float:
        """Say a line and wait until its last frame has been sent; returns the speech-end time."""
        before = len(self.log.speech_ends)
        self.say(text)
        while len(self.log.speech_ends) <= before and not self.closed.is_set():
            await asyncio.sleep(0.01)
        return self.log.speech_ends[-1] if len(self.log.speech_ends) > before else time.monotonic()

    async def dtmf(self, digit: str) -> None:
        await self._send_json({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": digit}})

    def audio_after(self, t: float) -> list[Received]:
        return [r for r in self.log.media if r.at >= t]

    def first_audio_after(self, t: float) -> float | None:
        for r in self.log.media:
            if r.at >= t:
                return r.at
        return None

    async def wait_agent_turn(self, after: float, *, quiet: float = 0.7, timeout: float = 15.0) -> float | None:
        """Wait for agent audio after ``after`` and then ``quiet`` s without new audio (or playout end)."""
        deadline = time.monotonic() + timeout
        first = None
        while time.monotonic() < deadline and not self.closed.is_set():
            first = first or self.first_audio_after(after)
            if first is not None:
                last = self.log.media[-1].at
                if time.monotonic() - last >= quiet and not self._play_pending_audio():
                    return first
            await asyncio.sleep(0.02)
        return first

    def _play_pending_audio(self) -> bool:
        return any(not isinstance(i, tuple) for i in self._play)

    async def wait_closed(self, timeout: float = 15.0) -> bool:
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def hang_up(self) -> None:
        await self._send_json({"event": "stop", "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid}})
        await asyncio.sleep(0.05)
        await self.close()

    async def close(self) -> None:
        self.closed.set()
        for task in self._tasks:
            task.cancel()
        if self._ws is not None:
            try:
                await self._ws.close()
            except Exception:
                pass
