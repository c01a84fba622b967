"""A measuring Twilio Media Streams caller for the media service's tests and benchmark.

Speaks the Twilio protocol as the client (connected, start with parameters, 20 ms media frames of
real espeak-ng speech or mu-law silence, dtmf, stop), plays received audio against a real-time
playout clock and echoes marks when the audio before them has played (``clear`` drops the audio and
echoes every pending mark at once), and records timestamps so voice-to-voice can be measured on the
wire.

Cheap enough for hundreds of callers in one process (the benchmark): a line's frames are cut, voice
detected and base64-encoded once per text (not per call), media messages are formatted without
``json.dumps``, playout is a clock (no per-chunk sleeps) and waits are event-driven (no polling).
Each caller records how late each outbound frame left against its 20 ms schedule
(``log.send_late_ms``), so a saturated load generator can be told apart from a slow bot.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

FRAME_BYTES = 160
SILENCE = b"\xff" * FRAME_BYTES
_SILENCE_B64 = base64.b64encode(SILENCE).decode()
GAP_SECONDS = 0.1  # agent audio arriving this long after the last played out is heard as a gap
_MEDIA = ('{"event":"media","sequenceNumber":"%d","streamSid":"%s","media":{"track":"inbound",'
          '"chunk":"%d","timestamp":"%d","payload":"%s"}}')


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
    # per clear: when the agent audio the caller heard stopped (the clear itself, or earlier when nothing
    # was left to play because the agent had stopped sending)
    heard_until: list[float] = field(default_factory=list)
    # silences inside the agent's audio: (its playback ran out, the next agent audio arrived)
    gaps: list[tuple[float, float]] = field(default_factory=list)
    speech_ends: list[float] = field(default_factory=list)
    send_late_ms: list[float] = field(default_factory=list)  # per outbound frame: lateness vs its 20 ms slot
    started_at: float = 0.0
    closed_at: float | None = None


@dataclass(frozen=True)
class Line:
    """A caller line ready to send: base64 payload per 20 ms frame, index of the last voiced frame."""

    payloads: tuple[str, ...]
    last_voiced: int
    seconds: float


def prepare_line(audio: bytes) -> Line:
    from sandbox import audio as sbaudio

    frames = sbaudio.frames(audio)
    last_voiced = max((i for i, f in enumerate(frames) if sbaudio.is_speech(f)), default=len(frames) - 1)
    return Line(tuple(base64.b64encode(f).decode() for f in frames), last_voiced, len(audio) / 8000)


@lru_cache(maxsize=256)
def line_for(text: str) -> Line:
    """Synthesized (espeak-ng, disk-cached) and framed once per distinct text, shared by every caller.
    ``<pause 800ms>`` marks in ``text`` are silences, ``<noise 300ms>`` a wordless sound
    (``sandbox.caller.speech_parts``)."""
    from sandbox import audio as sbaudio
    from sandbox.caller import speech_parts, stretch_audio

    return prepare_line(b"".join(stretch_audio(words) + sbaudio.silence(int(pause))
                                 for words, pause in speech_parts(text)))


def _b64_len(payload: str) -> int:
    return len(payload) * 3 // 4 - (2 if payload.endswith("==") else 1 if payload.endswith("=") else 0)


class Pacer:
    """One 20 ms clock for many callers in a process (the benchmark): one timer and one task per tick
    instead of one per caller and frame. A late tick is caught up (frames back to back), like a caller's
    own loop; each frame's lateness is still recorded per caller."""

    def __init__(self) -> None:
        self.callers: list[TestCaller] = []
        self._task: asyncio.Task | None = None

    def add(self, caller: TestCaller) -> None:
        caller._pace_next = time.monotonic()
        self.callers.append(caller)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self.callers:
            now = time.monotonic()
            live = []
            for c in self.callers:
                if c.closed.is_set():
                    continue
                live.append(c)
                while c._pace_next <= now and not c.closed.is_set():
                    frame = c._next_frame(c._pace_next, time.monotonic())
                    c._pace_next += 0.02
                    await c._send_raw(frame)
            self.callers = live
            soonest = min((c._pace_next for c in live), default=now + 0.02)
            await asyncio.sleep(max(0.0, soonest - time.monotonic()))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class TestCaller:
    __test__ = False  # not a pytest class

    def __init__(self, url: str, *, call_id: str, org_id: str, token: str, registry: Any = None,
                 headers: dict[str, str] | None = None, pacer: Pacer | None = None,
                 compression: str | None = None):
        self.url = url
        # No permessage-deflate unless asked: the websockets library offers it by default, and a server that
        # accepts it deflates every 20 ms frame (Twilio's stream docs mention no compression).
        self.compression = compression
        self.pacer = pacer
        self.call_id = call_id
        self.org_id = org_id
        self.token = token
        self.registry = registry
        self.headers = headers or {}
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.call_sid = "CA" + uuid.uuid4().hex
        self.log = CallerLog()
        self._out: deque[str | None] = deque()  # base64 payloads; None = speech end marker
        self._play_until = 0.0  # when the audio received so far has finished playing (monotonic)
        self._marks: deque[tuple[float, str]] = deque()  # (due, name): echoed when played
        self._marks_changed = asyncio.Event()
        # Optional sink (a deque-like ``append``/``clear``) for every received audio chunk, decoded, in
        # arrival order: tests that check the bytes the caller heard set it before ``connect``.
        self._play: Any = None
        self._audio_event = asyncio.Event()  # set on every received media message and on close
        self._spoken = asyncio.Event()  # set at each speech end marker
        self._ws = None
        self._tasks: list[asyncio.Task] = []
        self._seq = 0
        self._chunk = 0
        self._pace_next = 0.0  # with a pacer: when this caller's next frame is due
        self.closed = asyncio.Event()

    async def connect(self, call_sid: str | None = None, open_timeout: float = 10.0) -> None:
        import websockets

        self.call_sid = call_sid or self.call_sid
        self._ws = await websockets.connect(self.url, additional_headers=self.headers, max_size=None,
                                            open_timeout=open_timeout, compression=self.compression)
        await self._ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        self._seq += 1
        await self._ws.send(json.dumps({
            "event": "start", "sequenceNumber": str(self._seq), "streamSid": self.stream_sid,
            "start": {"accountSid": "AC" + "0" * 32, "streamSid": self.stream_sid, "callSid": self.call_sid,
                      "tracks": ["inbound"],
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                      "customParameters": {"call_id": self.call_id, "org_id": self.org_id, "token": self.token}}}))
        self.log.started_at = time.monotonic()
        self._tasks = [asyncio.create_task(self._recv_loop()), asyncio.create_task(self._mark_loop())]
        if self.pacer is not None:
            self.pacer.add(self)
        else:
            self._tasks.append(asyncio.create_task(self._send_loop()))

    def _set_closed(self) -> None:
        self.closed.set()
        self._audio_event.set()
        self._spoken.set()
        self._marks_changed.set()

    async def _send_raw(self, text: str) -> None:
        if self._ws is None:
            raise RuntimeError("send before connect()")
        try:
            await self._ws.send(text)
        except Exception:  # noqa: BLE001 - any send failure means the media server closed the socket
            self._set_closed()

    async def _send_json(self, msg: dict[str, Any]) -> None:
        if self._ws is None or self.closed.is_set():
            return
        self._seq += 1
        msg["sequenceNumber"] = str(self._seq)
        msg["streamSid"] = self.stream_sid
        await self._send_raw(json.dumps(msg))

    def _next_frame(self, due: float, now: float) -> str:
        """The next media message (speech or silence) for the 20 ms slot that was due at ``due``."""
        payload = self._out.popleft() if self._out else _SILENCE_B64
        if payload is None:  # speech end marker: right after the last voiced frame went out
            self.log.speech_ends.append(now)
            self._spoken.set()
            payload = self._out.popleft() if self._out else _SILENCE_B64
        self.log.send_late_ms.append(max(0.0, (now - due) * 1000))
        self._chunk += 1
        self._seq += 1
        return _MEDIA % (self._seq, self.stream_sid, self._chunk, self._chunk * 20, payload)

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self.closed.is_set():
            await self._send_raw(self._next_frame(next_at, loop.time()))
            next_at += 0.02
            # A late loop catches up (sends back to back) so the average rate stays real time.
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def _recv_loop(self) -> None:
        if self._ws is None:
            raise RuntimeError("receive before connect()")
        try:
            async for raw in self._ws:
                msg = json.loads(raw)
                event = msg.get("event")
                now = time.monotonic()
                if event == "media":
                    payload = msg["media"]["payload"]
                    nbytes = _b64_len(payload)
                    if self.log.media and now - self._play_until >= GAP_SECONDS:
                        self.log.gaps.append((self._play_until, now))
                    self.log.media.append(Received(now, nbytes))
                    if self._play is not None:
                        self._play.append(base64.b64decode(payload))
                    self._play_until = max(self._play_until, now) + nbytes / 8000
                    self._audio_event.set()
                elif event == "mark":
                    name = msg["mark"]["name"]
                    self.log.marks_sent.append(name)
                    self._marks.append((self._play_until, name))
                    self._marks_changed.set()
                elif event == "clear":
                    self.log.clears.append(now)
                    self.log.heard_until.append(min(now, self._play_until))
                    self._play_until = now
                    if self._play is not None:
                        self._play.clear()
                    pending = [name for _, name in self._marks]
                    self._marks.clear()
                    self._marks_changed.set()
                    for name in pending:
                        await self._echo(name)
        except Exception:  # noqa: BLE001, S110 - the reader ends with the socket, however it closed
            pass
        finally:
            self.log.closed_at = time.monotonic()
            self._set_closed()

    async def _echo(self, name: str) -> None:
        self.log.marks_echoed.append((time.monotonic(), name))
        await self._send_json({"event": "mark", "mark": {"name": name}})

    async def _mark_loop(self) -> None:
        # Real-time playout: a mark is echoed when the audio queued before it has played.
        while not self.closed.is_set():
            self._marks_changed.clear()
            if not self._marks:
                await self._marks_changed.wait()
                continue
            due, name = self._marks[0]
            delay = due - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._marks_changed.wait(), delay)
                except TimeoutError:
                    pass
                continue
            self._marks.popleft()
            await self._echo(name)

    # --- actions ---------------------------------------------------------------------------------
    def say(self, text: str, *, audio: bytes | None = None) -> float:
        """Queue an utterance (registers its text for the STT fake, one text per stretch of speech
        between ``<pause …>`` marks). Returns its audio duration (s)."""
        if self.registry is not None:
            from sandbox.caller import utterances

            spoken = utterances(text) if audio is None else [text]
            self.registry.register(self.call_id, spoken, append=True)
        line = prepare_line(audio) if audio is not None else line_for(text)
        self._out.extend(line.payloads[: line.last_voiced + 1])
        self._out.append(None)  # speech end = right after the last voiced frame went out
        self._out.extend(line.payloads[line.last_voiced + 1:])
        return line.seconds

    async def speak(self, text: str, timeout: float | None = None) -> float:
        """Say a line and wait until its last voiced frame has been sent; returns the speech-end time."""
        before = len(self.log.speech_ends)
        seconds = self.say(text)
        deadline = time.monotonic() + (timeout if timeout is not None else seconds + 10.0)
        while len(self.log.speech_ends) <= before and not self.closed.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._spoken.clear()
            try:
                await asyncio.wait_for(self._spoken.wait(), left)
            except TimeoutError:
                break
        return self.log.speech_ends[-1] if len(self.log.speech_ends) > before else time.monotonic()

    async def dtmf(self, digit: str) -> None:
        await self._send_json({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": digit}})

    def audio_after(self, t: float) -> list[Received]:
        return self.log.media[bisect.bisect_left(self.log.media, t, key=lambda r: r.at):]

    def first_audio_after(self, t: float) -> float | None:
        i = bisect.bisect_left(self.log.media, t, key=lambda r: r.at)
        return self.log.media[i].at if i < len(self.log.media) else None

    async def wait_agent_turn(self, after: float, *, quiet: float = 0.7, timeout: float = 15.0) -> float | None:
        """Wait for agent audio after ``after`` and then ``quiet`` s without new audio (and playout end)."""
        deadline = time.monotonic() + timeout
        first = None
        while not self.closed.is_set():
            now = time.monotonic()
            first = first or self.first_audio_after(after)
            if first is not None:
                ready_at = max(self.log.media[-1].at + quiet, self._play_until)
                if now >= ready_at:
                    return first
                if now >= deadline:
                    break
                await asyncio.sleep(min(ready_at, deadline) - now)
                continue
            if now >= deadline:
                break
            self._audio_event.clear()
            try:
                await asyncio.wait_for(self._audio_event.wait(), deadline - now)
            except TimeoutError:
                break
        return first

    def _play_pending_audio(self) -> bool:
        return time.monotonic() < self._play_until

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

    async def close(self, timeout: float = 5.0) -> None:
        self._set_closed()
        for task in self._tasks:
            task.cancel()
        if self._ws is not None:
            try:
                await asyncio.wait_for(self._ws.close(), timeout)
            except Exception:  # noqa: BLE001, S110 - closing a socket that is already gone
                pass
