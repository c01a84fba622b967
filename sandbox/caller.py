"""A simulated phone caller speaking Twilio Media Streams to the media service (protocols.md 1.2-1.6, 1.12).

``SimulatedCaller`` is the WebSocket *client* Twilio would be: ``connected`` (no sequence number),
``start`` (``sequenceNumber`` "1", ``customParameters``, stream/call/account sids), then a ``media``
message every 20 ms paced in real time (``sequenceNumber``/``chunk``/``timestamp`` as strings, real
espeak-ng speech or mu-law silence), ``dtmf`` on demand, ``stop`` at hang-up. With an auth token it
sends ``X-Twilio-Signature`` on the upgrade (the ``wss://`` URL, no params, HMAC-SHA1).

Playback reproduces Twilio's FIFO (1.5): received audio plays out in real time; a ``mark`` is echoed
when the audio queued before it has played (at once if nothing is queued); ``clear`` drops queued
audio and echoes every pending mark.

A script is a list of lines (``str`` or ``Line``). By default the agent speaks first; each line is
spoken once the agent's turn has ended (agent audio stopped for ``agent_quiet_ms`` and every mark
echoed); a line with ``barge_in_after_ms`` is spoken that long after the agent starts talking,
over it (a backchannel such as "mhm", or a real interruption). A line's text may pause inside it like
people do (``"zero six, one two <pause 800ms> three four"``); ``Line.parse`` also reads a leading
``<after 1000ms>`` (speak that long into the agent's audio) and a line that is only ``<silence 5s>``
(stay silent that long after the agent's turn). Before speaking, the line's text is registered for
the STT fakes under the call id from ``customParameters`` (``call_id``/``callId``), one registration
per stretch of speech between pauses. Per turn it records the caller text, agent audio (bytes,
first/last frame times), ``voice_to_voice_ms`` (end of caller speech -> first agent media frame),
clears and marks.

``answer_call(stream_url, parameters, script)`` runs a caller on a background thread (for the fake
Twilio's ``on_answer`` hook: ``FakeTwilio.on_answer = twiml_answerer(script)``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sandbox import audio, ids
from sandbox.registry import REGISTRY, UtteranceSink

DEFAULT_SCRIPT = ["Hi, I am calling to ask about your opening hours.", "Great, thank you. Goodbye!"]
_DURATION = r"(\d+(?:\.\d+)?)\s*(ms|s)"
_MARK = re.compile(r"<\s*(pause|noise)\s+" + _DURATION + r"\s*>", re.IGNORECASE)
_NOISE = re.compile(r"^<noise (\d+(?:\.\d+)?)ms>$")
_AFTER = re.compile(r"^\s*<\s*after\s+" + _DURATION + r"\s*>", re.IGNORECASE)
_SILENCE = re.compile(r"^\s*<\s*silence\s+" + _DURATION + r"\s*>\s*$", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def _ms(number: str, unit: str) -> float:
    return float(number) * (1000 if unit.lower() == "s" else 1)


def speech_parts(text: str) -> list[tuple[str, float]]:
    """``text`` split at its ``<pause N ms|s>`` marks: (words, silence after them in ms) per stretch.

    A ``<noise N ms|s>`` mark is a stretch of its own, ``("<noise Nms>", 0.0)``: a wordless voiced sound
    (``sandbox.audio.noise``). ValueError for any other ``<...>`` mark, so a typo is not spoken aloud."""
    parts: list[tuple[str, float]] = []
    pos = 0
    for m in _MARK.finditer(text):
        ms = _ms(m.group(2), m.group(3))
        if m.group(1).lower() == "pause":
            parts.append((text[pos:m.start()].strip(), ms))
        else:
            parts += [(text[pos:m.start()].strip(), 0.0), (f"<noise {ms:g}ms>", 0.0)]
        pos = m.end()
    parts.append((text[pos:].strip(), 0.0))
    for words, _ in parts:
        if noise_ms(words) is None and (bad := _TAG.search(words)):
            raise ValueError(f"unknown mark {bad.group(0)!r} in a caller line (known: <pause 800ms>, <noise 300ms>)")
    # Pauses around an empty stretch add up; an empty first stretch is leading silence.
    merged: list[tuple[str, float]] = []
    lead = 0.0
    for words, pause in parts:
        if words:
            merged.append((words, pause))
        elif merged:
            merged[-1] = (merged[-1][0], merged[-1][1] + pause)
        else:
            lead += pause
    if lead:
        merged.insert(0, ("", lead))
    return merged


def noise_ms(words: str) -> float | None:
    """The length of a ``<noise …>`` stretch from ``speech_parts``; None for words."""
    m = _NOISE.match(words)
    return float(m.group(1)) if m else None


def utterances(text: str) -> list[str]:
    """What the STT fakes should hear, one text per stretch of sound: the words, or "" for a noise."""
    return ["" if noise_ms(words) is not None else words for words, _ in speech_parts(text) if words]


def stretch_audio(words: str, voice: str = audio.DEFAULT_VOICE, speed: float = 1.0) -> bytes:
    """The mu-law audio of one stretch from ``speech_parts``."""
    ms = noise_ms(words)
    if ms is not None:
        return audio.noise(int(ms), voice)
    return audio.speak(words, voice, speed=speed) if words else b""


@dataclass
class Line:
    text: str = ""
    barge_in_after_ms: float | None = None  # speak over the agent, this long after its audio starts
    pause_ms: float = 200  # silence after the agent's turn ends, before speaking
    dtmf: str | None = None  # digits to press (instead of, or before, the text)
    wait_for_agent: bool = True  # False: speak right after the previous line

    @classmethod
    def parse(cls, raw: str) -> Line:
        """A line from the script markup: ``<after 1s> mhm`` speaks 1 s into the agent's audio,
        ``<silence 5s>`` stays silent 5 s after the agent's turn; ``<pause …>`` stays in the text."""
        if m := _SILENCE.match(raw):
            return cls(text="", pause_ms=_ms(m.group(1), m.group(2)))
        if m := _AFTER.match(raw):
            line = cls(text=raw[m.end():].strip(), barge_in_after_ms=_ms(m.group(1), m.group(2)))
        else:
            line = cls(text=raw.strip())
        speech_parts(line.text)  # reject unknown marks now, not mid-call
        return line

    @property
    def spoken(self) -> str:
        """The words, without marks."""
        return " ".join(words for words in utterances(self.text) if words)


@dataclass
class Turn:
    caller: str
    barge_in: bool = False
    speech_start: float | None = None  # monotonic: first voiced frame sent
    speech_end: float | None = None  # monotonic: last voiced frame sent
    audio_ms: float | None = None  # length of the audio this turn sends (speech and its pauses)
    agent_first_media_at: float | None = None
    agent_last_media_at: float | None = None
    agent_audio_bytes: int = 0
    voice_to_voice_ms: float | None = None
    clears: int = 0
    marks: list[str] = field(default_factory=list)  # echoed during this turn
    agent: str | None = None  # filled by whoever knows (e.g. the call row's transcript)

    @property
    def agent_audio_ms(self) -> float:
        return audio.duration_ms(self.agent_audio_bytes)


@dataclass
class CallResult:
    call_id: str | None
    call_sid: str
    stream_sid: str
    greeting: Turn  # agent audio before the caller's first line
    turns: list[Turn]
    end_reason: str  # "caller_hangup" | "remote_closed" | "error: ..."
    duration_s: float
    clears: int
    marks_echoed: list[str]
    close_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def twilio_signature(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    """``X-Twilio-Signature``: base64(HMAC-SHA1(token, url + sorted name+value pairs))."""
    payload = url + "".join(k + v for k, v in sorted((params or {}).items()))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def _strip_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class SimulatedCaller:
    def __init__(self, stream_url: str, parameters: dict[str, str] | None = None,
                 script: list[str | Line] | None = None, *, auth_token: str | None = None,
                 signature_url: str | None = None, registry: UtteranceSink | None = REGISTRY,
                 account_sid: str | None = None, call_sid: str | None = None, stream_sid: str | None = None,
                 agent_speaks_first: bool = True, agent_quiet_ms: float = 700, turn_timeout_s: float = 20,
                 hangup_after_last: bool = True, final_wait_s: float = 0.0, voice: str = audio.DEFAULT_VOICE,
                 speed: float = 1.0):
        self.stream_url = stream_url
        self.parameters = dict(parameters or {})
        self.script = [Line.parse(s) if isinstance(s, str) else s for s in (script if script is not None
                                                                      else DEFAULT_SCRIPT)]
        self.auth_token = auth_token
        self.signature_url = signature_url
        self.registry = registry
        self.account_sid = account_sid or "AC" + "0" * 32
        self.call_sid = call_sid or "CA" + ids.token_hex(16)
        self.stream_sid = stream_sid or "MZ" + ids.token_hex(16)
        self.call_id = self.parameters.get("call_id") or self.parameters.get("callId") or self.call_sid
        self.agent_speaks_first = agent_speaks_first
        self.agent_quiet_ms = agent_quiet_ms
        self.turn_timeout_s = turn_timeout_s
        self.hangup_after_last = hangup_after_last
        self.final_wait_s = final_wait_s
        self.voice = voice  # espeak-ng voice
        self.speed = speed  # speaking pace: espeak-ng's rate times this
        # state
        self.ws: Any = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.greeting = Turn(caller="")
        self.turns: list[Turn] = []
        self._turn = self.greeting  # the turn agent audio is attributed to
        self._seq = 0
        self._chunk = 0
        self._started_at = 0.0
        self._out: deque[bytes | tuple[str, Any]] = deque()  # frames to send, or ("event", ...) markers
        self._play: deque[bytes | str] = deque()  # audio bytes or mark names (Twilio's buffer)
        self._play_wakeup = asyncio.Event()
        self._cleared = asyncio.Event()
        self.marks_echoed: list[str] = []
        self.clears: list[float] = []
        self.media_log: list[tuple[float, int]] = []  # (monotonic, bytes) of every agent media message
        self.sent_media = 0
        self._tasks: list[asyncio.Task] = []
        self._error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- wire -----------------------------------------------------------------------------------------
    def upgrade_headers(self) -> dict[str, str]:
        if not self.auth_token:
            return {}
        url = self.signature_url or _strip_query(self.stream_url).replace("http://", "ws://").replace(
            "https://", "wss://")
        return {"X-Twilio-Signature": twilio_signature(self.auth_token, url)}

    async def _send(self, msg: dict[str, Any], numbered: bool = True) -> None:
        if self.ws is None or self.closed.is_set():
            return
        if numbered:
            self._seq += 1
            msg = {"event": msg["event"], "sequenceNumber": str(self._seq),
                   **{k: v for k, v in msg.items() if k != "event"}, "streamSid": self.stream_sid}
        await self._send_raw(json.dumps(msg))

    async def _send_raw(self, text: str) -> None:
        if self.ws is None or self.closed.is_set():
            return
        try:
            await self.ws.send(text)
        except Exception:  # noqa: BLE001 - the media service went away
            self.closed.set()

    async def connect(self) -> None:
        import websockets

        self._loop = asyncio.get_running_loop()
        self.ws = await websockets.connect(self.stream_url, additional_headers=self.upgrade_headers(),
                                           max_size=None, open_timeout=10)
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"}, numbered=False)
        await self._send({"event": "start", "start": {
            "accountSid": self.account_sid, "streamSid": self.stream_sid, "callSid": self.call_sid,
            "tracks": ["inbound"], "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": self.parameters}})
        self._started_at = time.monotonic()
        self._tasks = [asyncio.ensure_future(self._media_loop()), asyncio.ensure_future(self._recv_loop()),
                       asyncio.ensure_future(self._play_loop())]

    async def _media_loop(self) -> None:
        """One 20 ms media message per tick, forever (silence when there is nothing to say)."""
        silence_b64 = base64.b64encode(audio.silence(audio.FRAME_MS)).decode()
        # Built by hand: this runs 50 times a second per call, and benches run hundreds of calls.
        template = ('{"event": "media", "sequenceNumber": "%d", "media": {"track": "inbound", "chunk": "%d", '
                    '"timestamp": "%d", "payload": "%s"}, "streamSid": "' + self.stream_sid + '"}')
        next_at = time.monotonic()
        while not self.closed.is_set():
            while self._out and isinstance(head := self._out[0], tuple):
                self._out.popleft()
                kind, value = head
                if kind == "mark":
                    value(time.monotonic())
                elif kind == "dtmf":
                    await self._send({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": value}})
            frame = self._out.popleft() if self._out else None
            payload = silence_b64 if frame is None else base64.b64encode(frame).decode()  # type: ignore[arg-type]
            self._chunk += 1
            self._seq += 1
            await self._send_raw(template % (self._seq, self._chunk, (self._chunk - 1) * audio.FRAME_MS, payload))
            self.sent_media += 1
            next_at += audio.FRAME_MS / 1000
            delay = next_at - time.monotonic()
            if delay < -0.2:  # fell far behind (loaded machine): resync instead of bursting
                next_at = time.monotonic()
            await asyncio.sleep(max(0.0, delay))

    async def _recv_loop(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    continue  # Twilio rejects binary frames (31950); ignore them here
                msg = json.loads(raw)
                event = msg.get("event")
                now = time.monotonic()
                if event == "media":
                    data = base64.b64decode(msg["media"]["payload"])
                    self.media_log.append((now, len(data)))
                    turn = self._agent_turn()
                    if turn.agent_first_media_at is None:
                        turn.agent_first_media_at = now
                        if turn.speech_end is not None:
                            turn.voice_to_voice_ms = (now - turn.speech_end) * 1000
                    turn.agent_last_media_at = now
                    turn.agent_audio_bytes += len(data)
                    self._play.append(data)
                    self._play_wakeup.set()
                elif event == "mark":
                    self._play.append(str(msg["mark"]["name"]))
                    self._play_wakeup.set()
                elif event == "clear":
                    self.clears.append(now)
                    self._turn.clears += 1
                    pending = [item for item in self._play if isinstance(item, str)]
                    self._play.clear()
                    self._cleared.set()
                    for name in pending:
                        await self._echo(name)
        except Exception as exc:  # noqa: BLE001 - recorded as the end reason
            self._error = f"error: {exc!r}"
        finally:
            self.close_code = getattr(self.ws, "close_code", None)
            self.closed.set()
            self._play_wakeup.set()

    def _agent_turn(self) -> Turn:
        """Agent audio answers the caller's latest finished line (while the caller is still speaking,
        it is the tail of the previous answer)."""
        finished = [t for t in self.turns if t.speech_end is not None]
        return finished[-1] if finished else self.greeting

    async def _echo(self, name: str) -> None:
        self.marks_echoed.append(name)
        self._turn.marks.append(name)
        await self._send({"event": "mark", "mark": {"name": name}})

    async def _play_loop(self) -> None:
        """Twilio's playback buffer: 8 bytes per ms in real time; marks echo when they reach the head."""
        while not self.closed.is_set():
            if not self._play:
                self._play_wakeup.clear()
                await self._play_wakeup.wait()
                continue
            item = self._play[0]
            if isinstance(item, str):
                self._play.popleft()
                await self._echo(item)
                continue
            self._cleared.clear()
            try:
                await asyncio.wait_for(self._cleared.wait(), audio.duration_ms(item) / 1000)
                continue  # cleared mid-chunk: the buffer is already empty
            except TimeoutError:
                pass
            if self._play and self._play[0] is item:
                self._play.popleft()

    # -- state queries --------------------------------------------------------------------------------
    def playback_pending(self) -> bool:
        """Audio still queued or marks not yet echoed."""
        return bool(self._play)

    def last_agent_media_at(self) -> float | None:
        return self.media_log[-1][0] if self.media_log else None

    async def wait_agent_turn_end(self, since: float, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - a deadline for a polling wait, part of the caller's public API
        """Agent audio arrived after ``since``, then stopped for ``agent_quiet_ms`` with playback drained."""
        deadline = time.monotonic() + (timeout or self.turn_timeout_s)
        while time.monotonic() < deadline and not self.closed.is_set():
            last = self.last_agent_media_at()
            if last is not None and last >= since and not self.playback_pending() \
                    and (time.monotonic() - last) * 1000 >= self.agent_quiet_ms:
                return True
            await asyncio.sleep(0.02)
        return False

    async def wait_agent_audio(self, since: float, timeout: float | None = None) -> float | None:  # noqa: ASYNC109 - a deadline for a polling wait, part of the caller's public API
        deadline = time.monotonic() + (timeout or self.turn_timeout_s)
        while time.monotonic() < deadline and not self.closed.is_set():
            first = next((at for at, _ in self.media_log if at >= since), None)
            if first is not None:
                return first
            await asyncio.sleep(0.01)
        return None

    # -- actions --------------------------------------------------------------------------------------
    async def say(self, text: str, barge_in: bool = False) -> Turn:
        """Register ``text`` for the STT fakes, speak it (real time, with its ``<pause …>`` silences),
        return the new turn once spoken."""
        spoken = utterances(text)
        turn = Turn(caller=" ".join(w for w in spoken if w), barge_in=barge_in)
        if self.registry is not None and spoken:
            # One registration per stretch of speech: the STT fakes take one per speech onset.
            await asyncio.to_thread(self.registry.register, self.call_id, spoken, True)
        speech = await asyncio.to_thread(self._synthesize, text)
        turn.audio_ms = audio.duration_ms(speech)
        done = asyncio.get_running_loop().create_future()

        def started(at: float) -> None:
            turn.speech_start = at
            self.turns.append(turn)
            self._turn = turn

        def ended(at: float) -> None:
            turn.speech_end = at
            if not done.done():
                done.set_result(at)

        self._out.append(("mark", started))
        self._out.extend(audio.frames(speech))
        self._out.append(("mark", ended))
        await done
        return turn

    def _synthesize(self, text: str) -> bytes:
        return b"".join(stretch_audio(words, self.voice, self.speed) + audio.silence(int(pause))
                        for words, pause in speech_parts(text))

    async def press(self, digits: str) -> None:
        for digit in digits:
            self._out.append(("dtmf", digit))
            self._out.extend([audio.silence(audio.FRAME_MS)] * 5)
        while any(isinstance(i, tuple) for i in self._out) and not self.closed.is_set():  # noqa: ASYNC110 - the send loop drains _out on its own schedule; polling it is the simple, bounded wait
            await asyncio.sleep(0.02)

    async def end_by_twilio(self, reason: str = "call_updated") -> None:
        """What Twilio does to the stream when the call is completed or redirected over REST: ``stop``,
        then close the socket."""
        if self.closed.is_set():
            return
        self._error = reason
        await self._send({"event": "stop", "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}})
        await self.close()

    def end_by_twilio_threadsafe(self, reason: str = "call_updated") -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(self.end_by_twilio(reason), loop)

    async def hang_up(self) -> None:
        await self._send({"event": "stop", "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}})
        await self.close()

    async def close(self) -> None:
        self.closed.set()
        self._play_wakeup.set()
        for task in self._tasks:
            task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
            self.close_code = self.close_code or getattr(self.ws, "close_code", None)

    async def run(self) -> CallResult:
        """Connect, play the script, hang up (unless the agent hung up first); the call's record."""
        started = time.monotonic()
        end_reason = "caller_hangup"
        try:
            await self.connect()
            since = self._started_at
            for line in self.script:
                if self.closed.is_set():
                    break
                if line.barge_in_after_ms is not None:
                    # Synthesize now (espeak is cached per text) so the offset into the agent's audio holds.
                    await asyncio.to_thread(self._synthesize, line.text)
                    first = await self.wait_agent_audio(since)
                    if first is not None:
                        await asyncio.sleep(max(0.0, first + line.barge_in_after_ms / 1000 - time.monotonic()))
                elif line.wait_for_agent and (self.turns or self.agent_speaks_first):
                    await self.wait_agent_turn_end(since)
                if self.closed.is_set():
                    break
                await asyncio.sleep(line.pause_ms / 1000)
                if line.dtmf:
                    await self.press(line.dtmf)
                if line.text:
                    turn = await self.say(line.text, barge_in=line.barge_in_after_ms is not None)
                    since = turn.speech_end or time.monotonic()
            if not self.closed.is_set() and self.turns:
                await self.wait_agent_turn_end(since)
            if self.final_wait_s:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.closed.wait(), self.final_wait_s)
            if self.closed.is_set():
                end_reason = self._error or "remote_closed"
            elif self.hangup_after_last:
                await self.hang_up()
        except Exception as exc:  # noqa: BLE001 - a failed call is a result, not a crash
            end_reason = f"error: {exc!r}"
        finally:
            await self.close()
        return CallResult(self.call_id, self.call_sid, self.stream_sid, self.greeting, self.turns, end_reason,
                          time.monotonic() - started, len(self.clears), list(self.marks_echoed), self.close_code)


# ---------------------------------------------------------------------------------------------------
# Background runner and the fake Twilio hook
# ---------------------------------------------------------------------------------------------------


def answer_call(stream_url: str, parameters: dict[str, str], script: list[str | Line] | None = None,
                **kw: Any) -> Future[CallResult]:
    """Run a ``SimulatedCaller`` on its own thread and event loop; the future holds its ``CallResult``
    and ``future.caller`` is the caller (e.g. ``future.caller.end_by_twilio_threadsafe()``)."""
    result: Future[CallResult] = Future()
    caller = SimulatedCaller(stream_url, parameters, script, **kw)
    result.caller = caller  # type: ignore[attr-defined]

    def run() -> None:
        try:
            result.set_result(asyncio.run(caller.run()))
        except BaseException as exc:  # noqa: BLE001 - handed to the future
            result.set_exception(exc)

    threading.Thread(target=run, name="simulated-caller", daemon=True).start()
    return result


def parse_stream_twiml(twiml: str) -> tuple[str, dict[str, str]]:
    """``<Connect><Stream url=...><Parameter name value/>`` -> (url, parameters)."""
    root = ET.fromstring(re.sub(r"^<\?xml[^>]*\?>", "", twiml.strip()))  # noqa: S314 - TwiML from the app under test, parsed by a test fake
    stream = root.find(".//Stream")
    if stream is None or not stream.get("url"):
        raise ValueError("TwiML has no <Stream url=...>")
    params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return stream.get("url", ""), params


def twiml_answerer(script: list[str | Line] | None = None,
                   script_for: Callable[[dict[str, Any]], list[str | Line] | None] | None = None,
                   results: dict[str, Future[CallResult]] | None = None,
                   **kw: Any) -> Callable[[dict[str, Any], str], None]:
    """A ``FakeTwilio.on_answer`` hook: read the call's TwiML, launch a caller on the stream.

    ``script_for(call_resource)`` may pick a script per call (e.g. from a registry keyed by the ``To``
    number); ``results`` (call sid -> future) collects each call's outcome.
    """

    def on_answer(resource: dict[str, Any], twiml: str) -> None:
        if not twiml:
            return
        url, params = parse_stream_twiml(twiml)
        chosen = script_for(resource) if script_for else None
        future = answer_call(url, params, chosen if chosen is not None else script, call_sid=resource.get("sid"),
                             account_sid=resource.get("account_sid"), **kw)
        if results is not None:
            results[resource.get("sid", "")] = future

    return on_answer
