"""Fake Deepgram live transcription (``wss://api.deepgram.com/v1/listen``), protocols.md section 2.

Speech is detected by energy on the real audio (mu-law 8 kHz, or linear16); the words come from
the registry (what the simulated caller said it would say on this call, found via ``tag``; one
registered text per stretch of speech). Timing follows the parameters the client sends, as the real
service does:

- interim ``Results`` (with ``interim_results``) every ``interim_interval_ms`` while voiced, carrying the
  words heard so far: audio is recognised ``recognition_lag_ms`` late (real services lag a few hundred
  ms; 0 flatters a client that speculates on interims), and the whole stretch shows once its last word
  is that old;
- ``is_final`` + ``speech_final`` only after ``endpointing`` ms of silence (10 ms when the client sends
  none), plus ``final_delay_ms`` of processing. Speech that resumes within ``endpointing`` continues the
  same utterance (no final in between). ``endpointing=false``: finals carry ``speech_final: false``;
- ``Finalize`` -> the buffered words with ``from_finalize: true`` ``final_delay_ms`` later;
- ``UtteranceEnd`` ``utterance_end_ms`` after the last finalized word (needs ``interim_results``);
- ``SpeechStarted`` with ``vad_events``;
- interims that show a different wording than the final for utterances listed in ``revisions`` (as
  real Deepgram revises words).

Control: ``KeepAlive``, ``Finalize``, ``CloseStream`` (-> ``Metadata``, close). No audio and no
KeepAlive for ``idle_timeout_s`` (10 s) -> close 1011 ``NET-0001``.

Point Pipecat's ``DeepgramSTTService(base_url=fake.ws_url, ...)`` or the SDK's
``DeepgramClientEnvironment(production=fake.ws_url, ...)`` at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from sandbox import audio, ids
from sandbox.aioserver import AsyncFakeServer

MS_PER_WORD = 330  # espeak-ng's default rate is ~175 words per minute
# Close reasons are capped at 123 bytes.
NET_0001 = "NET-0001: Deepgram did not receive audio data or a text message within the timeout window"


DEFAULT_ENDPOINTING_MS = 10.0  # Deepgram's default when the client sends no ``endpointing``


@dataclass
class _Segment:
    """One stretch of speech (start to last voiced frame, audio ms) and the words registered for it."""

    text: str
    interim_text: str | None  # what interims show before the final revises it (None: the text)
    start_ms: float
    end_ms: float | None = None  # None while voiced


@dataclass
class _Utterance:
    """Segments separated by pauses shorter than ``endpointing``: one final covers them all."""

    segments: list[_Segment]
    finalized: bool = False
    flushed: bool = False  # a Finalize closed it: later speech is a new utterance
    interim_sent_at_ms: float = 0.0
    interim_words: int = 0  # words in the last interim sent

    @property
    def text(self) -> str:
        return " ".join(seg.text for seg in self.segments if seg.text)

    @property
    def words(self) -> list[str]:
        return self.text.split()

    @property
    def start_ms(self) -> float:
        return self.segments[0].start_ms

    @property
    def end_ms(self) -> float:
        return self.segments[-1].end_ms or 0.0

    def heard_words(self, recognised_until_ms: float) -> list[str]:
        """Interim words for audio recognised up to ``recognised_until_ms``: whole segments once their
        last voiced frame is recognised, else about one word per ``MS_PER_WORD`` of the segment heard
        (never its last word: that needs the silence after it)."""
        out: list[str] = []
        for seg in self.segments:
            words = (seg.interim_text or seg.text).split()
            if seg.end_ms is not None and recognised_until_ms >= seg.end_ms:
                out += words
                continue
            heard_ms = max(0.0, recognised_until_ms - seg.start_ms)
            out += words[:min(int(heard_ms // MS_PER_WORD), max(0, len(words) - 1))]
            break
        return out


@dataclass
class DeepgramSession:
    """One live connection, kept for test assertions."""

    query: dict[str, list[str]]
    headers: dict[str, str]
    call_id: str | None
    request_id: str = field(default_factory=lambda: ids.uuid4())
    sent: list[dict[str, Any]] = field(default_factory=list)
    received_control: list[dict[str, Any]] = field(default_factory=list)
    audio_bytes: int = 0
    transcripts: list[str] = field(default_factory=list)  # final transcripts, in order
    closed_code: int | None = None
    # wall-clock instants (time.monotonic) for latency checks, one per utterance: its last voiced frame,
    # its final sent; a final is due final_wait_ms (endpointing + processing) after the speech end
    speech_end_at: list[float] = field(default_factory=list)
    final_sent_at: list[float] = field(default_factory=list)
    final_wait_ms: float = 0.0

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


class FakeDeepgram(AsyncFakeServer):
    name = "deepgram"

    def __init__(self, *, final_delay_ms: float = 150, interim_interval_ms: float = 300,
                 recognition_lag_ms: float = 300, idle_timeout_s: float = 10.0, hangover_ms: int = 100,
                 api_key: str | None = None, default_text: str = "hello",
                 revisions: dict[str, str] | None = None, **kw: Any):
        super().__init__(**kw)
        self.final_delay_ms = final_delay_ms  # processing after the end condition (silence, Finalize)
        self.recognition_lag_ms = recognition_lag_ms
        self.interim_interval_ms = interim_interval_ms
        self.idle_timeout_s = idle_timeout_s
        self.hangover_ms = hangover_ms
        self.api_key = api_key  # None: any non-empty token is accepted
        self.default_text = default_text  # transcript when nothing is registered for the call
        # utterance text -> the interim transcript shown before the final revises it (real Deepgram
        # changes words between interim and final results)
        self.revisions: dict[str, str] = dict(revisions or {})
        self.sessions: list[DeepgramSession] = []
        self._sockets: set[web.WebSocketResponse] = set()

    def setup_routes(self, app: web.Application) -> None:
        self.add_route(app, "GET", "/v1/listen", self._listen)

    async def on_shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutting down")

    async def _listen(self, request: web.Request) -> web.StreamResponse:
        self.record(request)
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "token" or not token or (self.api_key is not None and token != self.api_key):
            return web.json_response({"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.",
                                      "request_id": ids.uuid4()}, status=401)
        encoding = request.query.get("encoding", "linear16")
        if encoding not in ("mulaw", "linear16"):
            return web.json_response({"err_code": "Bad Request", "err_msg": f"fake supports mulaw/linear16, "
                                      f"not {encoding}", "request_id": ids.uuid4()}, status=400)
        session = DeepgramSession({k: request.query.getall(k) for k in request.query.keys()},
                                  {k.lower(): v for k, v in request.headers.items()},
                                  self.call_id_from(request, "tag"))
        with self.lock:
            self.sessions.append(session)
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await _LiveConnection(self, session, ws).run()
        finally:
            self._sockets.discard(ws)
            session.closed_code = ws.close_code
        return ws


class _LiveConnection:
    def __init__(self, fake: FakeDeepgram, session: DeepgramSession, ws: web.WebSocketResponse):
        self.fake, self.s, self.ws = fake, session, ws
        self.encoding = session.param("encoding", "linear16")
        self.sample_rate = int(session.param("sample_rate", "8000") or 8000)
        self.interim = session.param("interim_results", "false") == "true"
        self.vad_events = session.param("vad_events", "false") == "true"
        ue = session.param("utterance_end_ms")
        self.utterance_end_ms = float(ue) if ue and ue.isdigit() else None
        endpointing = session.param("endpointing")
        self.endpointing_off = endpointing == "false"
        self.endpointing_ms = float(endpointing) if endpointing and endpointing.isdigit() else DEFAULT_ENDPOINTING_MS
        self.final_delay_ms = fake.final_delay_ms
        session.final_wait_ms = (0.0 if self.endpointing_off else self.endpointing_ms) + self.final_delay_ms
        self.detector = audio.SpeechDetector(hangover_ms=fake.hangover_ms)
        self.current: _Utterance | None = None
        self.pending_final: asyncio.Task | None = None
        self.catch_up: asyncio.Task | None = None  # the interim due once the lag has passed the last word
        self.utterance_end_task: asyncio.Task | None = None
        self.last_activity = time.monotonic()
        self.buf = b""
        self.call_id: str | None = session.call_id
        self.claimed = False
        self.sha = hashlib.sha256()

    # -- sending -------------------------------------------------------------------------------------
    async def send(self, msg: dict[str, Any]) -> None:
        if self.ws.closed:
            return
        self.s.sent.append(msg)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.send_str(json.dumps(msg))

    def _result(self, utt: _Utterance, words: list[str], is_final: bool, speech_final: bool,
                from_finalize: bool, end_ms: float) -> dict[str, Any]:
        start_s = utt.start_ms / 1000
        dur_s = max(0.0, end_ms - utt.start_ms) / 1000
        n = max(1, len(words))
        step = dur_s / n
        multi = self.s.param("language") == "multi"
        word_objs = []
        for i, w in enumerate(words):
            bare = w.strip(".,!?;:\"'").lower() or w.lower()
            entry: dict[str, Any] = {"word": bare, "start": round(start_s + i * step, 3),
                                     "end": round(start_s + (i + 1) * step, 3), "confidence": 0.99,
                                     "punctuated_word": w}
            if multi:
                entry["language"] = "en"
            word_objs.append(entry)
        alternative: dict[str, Any] = {"transcript": " ".join(words), "confidence": 0.98 if words else 0.0,
                                       "words": word_objs}
        if multi:
            alternative["languages"] = ["en"] if words else []
        model = self.s.param("model", "nova-3") or "nova-3"
        return {"type": "Results", "channel_index": [0, 1], "duration": round(dur_s, 3), "start": round(start_s, 3),
                "is_final": is_final, "speech_final": speech_final, "from_finalize": from_finalize,
                "channel": {"alternatives": [alternative]},
                "metadata": {"request_id": self.s.request_id,
                             "model_info": {"name": f"general-{model}", "version": "2025-01-01.0", "arch": model},
                             "model_uuid": "00000000-0000-4000-8000-000000000003"}}

    async def send_final(self, utt: _Utterance, from_finalize: bool) -> None:
        if utt.finalized:
            return
        utt.finalized = True
        end_ms = utt.end_ms or self.detector.audio_ms
        speech_final = not from_finalize and not self.endpointing_off
        await self.send(self._result(utt, utt.words, True, speech_final, from_finalize, end_ms))
        self.s.transcripts.append(utt.text)
        self.s.final_sent_at.append(time.monotonic())
        if self.utterance_end_ms is not None and self.interim:
            self.utterance_end_task = asyncio.ensure_future(self._utterance_end(utt))

    async def _utterance_end(self, utt: _Utterance) -> None:
        # Gap measured from the last word's end in audio time, mapped to wall time.
        lag_ms = self.detector.audio_ms - utt.end_ms
        await asyncio.sleep(max(0.0, (self.utterance_end_ms or 0) - lag_ms) / 1000)
        if self.current is not utt:  # the caller spoke again: no gap after these words
            return
        await self.send({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": round(utt.end_ms / 1000, 3)})

    async def _final_after(self, utt: _Utterance, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self.send_final(utt, from_finalize=False)

    def _silence_ms(self) -> float:
        """Silence heard since the current utterance's last voiced frame (audio ms)."""
        return self.detector.audio_ms - (self.current.end_ms if self.current else 0.0)

    # -- audio ----------------------------------------------------------------------------------------
    async def on_audio(self, data: bytes) -> None:
        # Energy is measured on the encoding as sent (no transcoding: the fake must stay cheap at
        # hundreds of concurrent calls), in 20 ms windows.
        self.s.audio_bytes += len(data)
        self.sha.update(data)
        self.buf += data
        width = 1 if self.encoding == "mulaw" else 2
        window = self.sample_rate * width * audio.FRAME_MS // 1000
        while len(self.buf) >= window:
            frame, self.buf = self.buf[:window], self.buf[window:]
            level = audio.rms(frame) if width == 1 else audio.pcm16_rms(frame)
            await self.on_frame(level)

    async def on_frame(self, level: float) -> None:
        event = self.detector.feed_level(audio.FRAME_MS, level)
        if event == "start":
            await self.on_speech_start()
        elif event == "end":
            await self.on_speech_end()
        elif self.detector.in_speech and self.interim and self.current and not self.current.finalized:
            if self.detector.audio_ms - self.current.interim_sent_at_ms >= self.fake.interim_interval_ms:
                await self.send_interim()

    def _next_segment(self) -> _Segment:
        if not self.claimed:
            self.call_id = self.fake.registry.claim("stt", self.call_id)
            self.s.call_id = self.call_id
            self.claimed = True
        text = self.fake.registry.next_utterance("stt", self.call_id)
        if text is None:  # nothing registered; "" is a sound without words (a cough): no words, as Deepgram
            text = self.fake.default_text
        return _Segment(text, self.fake.revisions.get(text), self.detector.speech_start_ms)

    async def on_speech_start(self) -> None:
        _cancel(self.catch_up)
        utt = self.current
        pause_ms = self.detector.speech_start_ms - utt.end_ms if utt else 0.0
        if utt and not utt.finalized and not utt.flushed and (self.endpointing_off or pause_ms < self.endpointing_ms):
            # The pause was shorter than the client's endpointing: the same utterance goes on.
            _cancel(self.pending_final)
            if len(self.s.speech_end_at) > len(self.s.final_sent_at):
                self.s.speech_end_at.pop()  # that was not the utterance's end after all
            utt.segments.append(self._next_segment())
        else:
            # A final already due (its processing delay still running) goes out on its own schedule.
            _cancel(self.utterance_end_task)
            self.current = _Utterance([self._next_segment()], interim_sent_at_ms=self.detector.audio_ms)
        if self.vad_events:
            await self.send({"type": "SpeechStarted", "channel": [0], "timestamp": round(
                self.detector.speech_start_ms / 1000, 3)})

    async def send_interim(self) -> None:
        utt = self.current
        if utt is None or utt.finalized:
            return
        utt.interim_sent_at_ms = self.detector.audio_ms
        words = utt.heard_words(self.detector.audio_ms - self.fake.recognition_lag_ms)
        # Nothing recognised yet, or nothing new after the speech ended: no message (a repeat would
        # restart a client's "stable interim" timer for nothing).
        if not words or (not self.detector.in_speech and len(words) == utt.interim_words):
            return
        utt.interim_words = len(words)
        await self.send(self._result(utt, words, False, False, False, self.detector.audio_ms))

    async def _interim_after(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self.send_interim()

    async def on_speech_end(self) -> None:
        utt = self.current
        if utt is None or utt.finalized or utt.flushed:
            return
        utt.segments[-1].end_ms = self.detector.last_voice_end_ms
        # Timers run from the last voiced frame (audio time, which is wall time when audio arrives in
        # real time), not from the hangover that detected the end: subtract the silence already heard.
        heard_ms = self._silence_ms()
        self.s.speech_end_at.append(time.monotonic() - heard_ms / 1000)
        final_ms = self.s.final_wait_ms
        self.pending_final = asyncio.ensure_future(self._final_after(utt, max(0.0, final_ms - heard_ms) / 1000))
        if self.interim and self.fake.recognition_lag_ms < final_ms:
            # Like real Deepgram, an interim with the whole utterance precedes the final.
            self.catch_up = asyncio.ensure_future(
                self._interim_after(max(0.0, self.fake.recognition_lag_ms - heard_ms) / 1000))

    # -- control --------------------------------------------------------------------------------------
    async def on_control(self, raw: str) -> bool:
        """Handle a text frame; False when the stream should close."""
        try:
            msg = json.loads(raw)
        except ValueError:
            await self.ws.close(code=1008, message=b"DATA-0000: invalid JSON control message")
            return False
        self.s.received_control.append(msg)
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "KeepAlive":
            return True
        if kind == "Finalize":
            await self.finalize()
            return True
        if kind == "CloseStream":
            await self.close_stream()
            return False
        if kind == "Configure":
            await self.send({"type": "ConfigureSuccess", "request_id": self.s.request_id,
                             "keyterms": msg.get("keyterms", [])})
            return True
        await self.ws.close(code=1008, message=b"DATA-0000: unknown control message")
        return False

    async def finalize(self) -> None:
        """Flush what is buffered; the answer comes after the processing delay (the socket keeps reading)."""
        _cancel(self.pending_final)
        _cancel(self.catch_up)
        utt = self.current
        if utt is None or utt.finalized:
            # Nothing buffered: Deepgram still answers with an empty from_finalize result.
            utt = _Utterance([_Segment("", None, self.detector.audio_ms, self.detector.audio_ms)])
        elif utt.segments[-1].end_ms is None:
            utt.segments[-1].end_ms = self.detector.audio_ms
        utt.flushed = True
        self.pending_final = asyncio.ensure_future(self._finalize_after(utt, self.final_delay_ms / 1000))

    async def _finalize_after(self, utt: _Utterance, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        if utt.text:
            await self.send_final(utt, from_finalize=True)
        elif not utt.finalized:
            utt.finalized = True
            await self.send(self._result(utt, [], True, False, True, utt.end_ms))

    async def close_stream(self) -> None:
        _cancel(self.pending_final)
        _cancel(self.catch_up)
        if self.current is not None:
            await self.send_final(self.current, from_finalize=False)
        await self.send({"type": "Metadata", "transaction_key": "deprecated", "request_id": self.s.request_id,
                         "sha256": self.sha.hexdigest(),
                         "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                         "duration": round(self.detector.audio_ms / 1000, 3), "channels": 1})
        await self.ws.close(code=1000)

    # -- loop -----------------------------------------------------------------------------------------
    async def _watchdog(self) -> None:
        while not self.ws.closed:
            await asyncio.sleep(min(0.5, self.fake.idle_timeout_s / 4))
            if time.monotonic() - self.last_activity > self.fake.idle_timeout_s:
                await self.ws.close(code=1011, message=NET_0001.encode())
                return

    async def run(self) -> None:
        watchdog = asyncio.ensure_future(self._watchdog())
        try:
            async for msg in self.ws:
                self.last_activity = time.monotonic()
                if msg.type == WSMsgType.BINARY:
                    await self.on_audio(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    if not await self.on_control(msg.data):
                        break
                else:
                    break
        finally:
            watchdog.cancel()
            for task in (self.pending_final, self.catch_up, self.utterance_end_task):
                _cancel(task)


def _cancel(task: asyncio.Task | None) -> None:
    if task is not None and not task.done():
        task.cancel()
