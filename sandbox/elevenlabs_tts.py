"""Fake ElevenLabs text to speech (protocols.md section 6), also offered by ``sandbox.elevenlabs``.

``FakeElevenLabsStream`` is an async server (its own loop, like the other streaming fakes) serving:
- ``POST /v1/text-to-speech/{voice_id}/stream`` (and ``/v1/text-to-speech/{voice_id}``): chunked audio;
- ``POST /v1/text-to-speech/{voice_id}/stream/with-timestamps``: newline-separated JSON chunks with
  ``audio_base64`` + ``alignment``/``normalized_alignment`` (what Pipecat's ElevenLabsHttpTTSService reads);
- ``WS /v1/text-to-speech/{voice_id}/stream-input``: single context (space init, text, ``flush``,
  ``""`` = end of stream, ``inactivity_timeout`` default 20 s);
- ``WS /v1/text-to-speech/{voice_id}/multi-stream-input``: ``context_id`` in, ``contextId`` out,
  ``flush``, ``close_context`` (-> remaining audio then ``isFinal``), ``close_socket``, at most 5 open
  contexts (the 6th closes the socket with 1008 ``max_active_conversations``); what Pipecat's
  ElevenLabsTTSService uses.
Audio is real espeak-ng speech of the text (``ulaw_8000``, ``pcm_<rate>``; over HTTP at the request's
``voice_settings.speed``), each generation after
``first_byte_delay_ms`` (100), with camelCase ``alignment``/``normalizedAlignment`` character timings.
Everything else (``/v1/voices``, ``/v2/voices``) is answered by the voices fake ``FakeElevenLabs``
(``sandbox.elevenlabs_voices``), so one URL serves the control plane and the media service.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aiohttp import WSMsgType, web

from sandbox import audio
from sandbox.aioserver import AsyncFakeServer
from sandbox.elevenlabs_voices import FakeElevenLabs
from sandbox.httpserver import FakeRequest

DEFAULT_SCHEDULE = [120, 160, 250, 290]
MAX_CONTEXTS = 5
SENTENCE_END = re.compile(r"[.!?;:]\s*$")


class UnsupportedFormat(ValueError):
    pass


def render(text: str, output_format: str, voice: str = audio.DEFAULT_VOICE, speed: float = 1.0) -> tuple[bytes, float]:
    """Audio bytes of ``text`` in ``output_format`` and its duration in ms (``speed``: voice_settings.speed)."""
    ulaw = audio.speak(text, voice, speed=speed)
    dur = audio.duration_ms(ulaw)
    if output_format == "ulaw_8000":
        return ulaw, dur
    if output_format.startswith("pcm_"):
        rate = int(output_format.split("_", 1)[1])
        return audio.ulaw_to_pcm_bytes(ulaw, rate), dur
    raise UnsupportedFormat(f"output_format {output_format!r} is not supported by the sandbox "
                            "(use ulaw_8000 or pcm_<rate>)")


def bytes_per_ms(output_format: str) -> float:
    if output_format.startswith("pcm_"):
        return int(output_format.split("_", 1)[1]) * 2 / 1000
    return audio.BYTES_PER_MS


def char_alignment(text: str, duration_ms: float) -> dict[str, list]:
    """camelCase alignment (WebSocket API): chars with start/duration in ms, relative to this chunk."""
    chars = list(text)
    if not chars:
        return {"chars": [], "charStartTimesMs": [], "charDurationsMs": []}
    step = duration_ms / len(chars)
    starts = [int(round(i * step)) for i in range(len(chars))]
    durations = [max(1, int(round((i + 1) * step)) - starts[i]) for i in range(len(chars))]
    return {"chars": chars, "charStartTimesMs": starts, "charDurationsMs": durations}


def split_generation(data: bytes, text: str, duration_ms: float, chunk_ms: int) -> list[tuple[bytes, str, float]]:
    """Cut one generation into ~``chunk_ms`` audio messages, each with the characters it voices.

    Every piece gets at least one character, so a client that advances its clock by each message's
    alignment (Pipecat) stays in sync with the audio.
    """
    if not data or not text:
        return [(data, text, duration_ms)]
    pieces = max(1, min(len(text), int(duration_ms // max(1, chunk_ms)) or 1))
    bpm = len(data) / max(duration_ms, 1e-6)
    out = []
    for k in range(pieces):
        a, b = len(data) * k // pieces, len(data) * (k + 1) // pieces
        if bpm > audio.BYTES_PER_MS:  # 16-bit PCM: keep sample boundaries
            a, b = a - a % 2, b - b % 2
        ca, cb = len(text) * k // pieces, len(text) * (k + 1) // pieces
        out.append((data[a:b], text[ca:cb], (b - a) / bpm))
    return out


@dataclass
class TTSContext:
    context_id: str | None
    voice_settings: dict[str, Any] | None = None
    buffer: str = ""
    generated: list[str] = field(default_factory=list)  # texts synthesised, in order
    audio_bytes: int = 0
    closed: bool = False
    final_sent: bool = False
    chunks_triggered: int = 0
    # texts to synthesise, None = end of context; made with the context, on the server's loop
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task | None = None


@dataclass
class TTSSession:
    """One WebSocket connection, kept for assertions."""

    path: str
    voice_id: str
    query: dict[str, str]
    headers: dict[str, str]
    multi: bool
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    contexts: dict[str | None, TTSContext] = field(default_factory=dict)
    close_code: int | None = None
    close_reason: str | None = None


class FakeElevenLabsStream(AsyncFakeServer):
    name = "elevenlabs"

    def __init__(self, *, first_byte_delay_ms: float = 100, api_keys: set[str] | None = None,
                 voices_fake: FakeElevenLabs | None = None, voice: str = "en-us+f3", chunk_ms: int = 200, **kw: Any):
        super().__init__(**kw)
        self.first_byte_delay_ms = first_byte_delay_ms
        self.api_keys = api_keys  # None: any non-empty key
        self.voice = voice  # espeak-ng voice for agent speech (distinct from the caller's)
        self.chunk_ms = chunk_ms  # HTTP stream chunk size
        if voices_fake is None:
            voices_fake = FakeElevenLabs(api_keys=api_keys or {"xi-test-key", "xi-sandbox"})
        self.voices_fake = voices_fake
        self.sessions: list[TTSSession] = []
        self.http_requests: list[dict[str, Any]] = []  # TTS HTTP requests: voice_id, text, output_format
        self._sockets: set[web.WebSocketResponse] = set()

    def setup_routes(self, app: web.Application) -> None:
        base = "/v1/text-to-speech/{voice_id}"
        self.add_route(app, "POST", base + "/stream/with-timestamps", self._http_with_timestamps)
        self.add_route(app, "POST", base + "/with-timestamps", self._http_with_timestamps)
        self.add_route(app, "POST", base + "/stream", self._http_stream)
        self.add_route(app, "POST", base, self._http_stream)
        self.add_route(app, "GET", base + "/stream-input", self._ws_single)
        self.add_route(app, "GET", base + "/multi-stream-input", self._ws_multi)
        app.router.add_route("*", "/{tail:.*}", self._delegate)

    async def on_shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutting down")

    def key_ok(self, key: str | None) -> bool:
        return bool(key) and (self.api_keys is None or key in self.api_keys)

    @staticmethod
    def _unauthorized(key: str | None) -> web.Response:
        status = "missing_api_key" if not key else "invalid_api_key"
        return web.json_response({"detail": {"status": status, "message": status.replace("_", " ")}}, status=401)

    async def _delegate(self, request: web.Request) -> web.Response:
        """Voices and anything else: the sync voices fake's routes, called in-process."""
        body = await request.read()
        req = FakeRequest(request.method, request.path, parse_qs(request.query_string, keep_blank_values=True),
                          {k.lower(): v for k, v in request.headers.items()}, body)
        resp = await asyncio.to_thread(self.voices_fake.dispatch, req)
        data, headers = resp.encoded()
        headers.pop("Content-Length", None)
        return web.Response(status=resp.status, body=data, headers=headers)

    # -- HTTP -----------------------------------------------------------------------------------------
    async def _http_request(self, request: web.Request) -> tuple[dict[str, Any], str] | web.Response:
        key = request.headers.get("xi-api-key")
        if not self.key_ok(key):
            return self._unauthorized(key)
        try:
            body = await request.json()
            text = body["text"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"detail": [{"loc": ["body", "text"], "msg": "field required",
                                                  "type": "value_error.missing"}]}, status=422)
        fmt = request.query.get("output_format", "mp3_44100_128")
        self.record(request, body)
        with self.lock:
            self.http_requests.append({"voice_id": request.match_info["voice_id"], "text": text,
                                       "output_format": fmt, "body": body,
                                       "query": dict(request.query), "at": time.monotonic()})
        return body, fmt

    async def _render_or_error(self, text: str, fmt: str, body: dict[str, Any] | None = None
                               ) -> tuple[bytes, float] | web.Response:
        settings = (body or {}).get("voice_settings")
        speed = settings.get("speed") if isinstance(settings, dict) else None
        try:
            return await asyncio.to_thread(render, text, fmt, self.voice,
                                           float(speed) if isinstance(speed, int | float) else 1.0)
        except UnsupportedFormat as exc:
            return web.json_response({"detail": {"status": "invalid_output_format", "message": str(exc)}},
                                     status=400)

    async def _http_stream(self, request: web.Request) -> web.StreamResponse:
        parsed = await self._http_request(request)
        if isinstance(parsed, web.Response):
            return parsed
        body, fmt = parsed
        started = time.monotonic()
        rendered = await self._render_or_error(body["text"], fmt, body)
        if isinstance(rendered, web.Response):
            return rendered
        data, _ = rendered
        await asyncio.sleep(max(0.0, self.first_byte_delay_ms / 1000 - (time.monotonic() - started)))
        content_type = "audio/basic" if fmt.startswith("ulaw") else "application/octet-stream"
        resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        step = int(self.chunk_ms * bytes_per_ms(fmt))
        step -= step % 2
        with contextlib.suppress(ConnectionError):
            for i in range(0, len(data), step):
                await resp.write(data[i:i + step])
                await asyncio.sleep(0)
            await resp.write_eof()
        return resp

    async def _http_with_timestamps(self, request: web.Request) -> web.StreamResponse:
        parsed = await self._http_request(request)
        if isinstance(parsed, web.Response):
            return parsed
        body, fmt = parsed
        text: str = body["text"]
        started = time.monotonic()
        rendered = await self._render_or_error(text, fmt, body)
        if isinstance(rendered, web.Response):
            return rendered
        data, dur = rendered
        await asyncio.sleep(max(0.0, self.first_byte_delay_ms / 1000 - (time.monotonic() - started)))
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        # Times are cumulative over the response (seconds), snake_case (HTTP API).
        per_char = dur / 1000 / max(1, len(text))
        step = int(self.chunk_ms * bytes_per_ms(fmt))
        step -= step % 2
        total = max(1, len(data))
        with contextlib.suppress(ConnectionError):
            char_i = 0
            for start in range(0, len(data), step):
                end = min(len(data), start + step)
                upto = len(text) if end >= len(data) else int(len(text) * end / total)
                chars = list(text[char_i:upto])
                align = {"characters": chars,
                         "character_start_times_seconds": [round((char_i + j) * per_char, 3)
                                                           for j in range(len(chars))],
                         "character_end_times_seconds": [round((char_i + j + 1) * per_char, 3)
                                                         for j in range(len(chars))]}
                char_i = upto
                chunk = {"audio_base64": base64.b64encode(data[start:end]).decode(), "alignment": align,
                         "normalized_alignment": align}
                await resp.write((json.dumps(chunk) + "\n").encode())
            await resp.write_eof()
        return resp

    # -- WebSockets -----------------------------------------------------------------------------------
    async def _ws_single(self, request: web.Request) -> web.StreamResponse:
        return await self._ws(request, multi=False)

    async def _ws_multi(self, request: web.Request) -> web.StreamResponse:
        return await self._ws(request, multi=True)

    async def _ws(self, request: web.Request, multi: bool) -> web.StreamResponse:
        self.record(request)
        key = request.headers.get("xi-api-key")
        if key is not None and not self.key_ok(key):
            return self._unauthorized(key)
        session = TTSSession(request.path, request.match_info["voice_id"], dict(request.query),
                             {k.lower(): v for k, v in request.headers.items()}, multi)
        with self.lock:
            self.sessions.append(session)
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await _StreamConnection(self, session, ws, authed=key is not None).run()
        finally:
            self._sockets.discard(ws)
            session.close_code = ws.close_code
        return ws


class _StreamConnection:
    def __init__(self, fake: FakeElevenLabsStream, session: TTSSession, ws: web.WebSocketResponse, authed: bool):
        self.fake, self.s, self.ws, self.authed = fake, session, ws, authed
        self.output_format = session.query.get("output_format", "mp3_44100_128")
        self.auto_mode = session.query.get("auto_mode", "false") == "true"
        try:
            self.inactivity_s = min(180.0, float(session.query.get("inactivity_timeout", "20")))
        except ValueError:
            self.inactivity_s = 20.0
        self.schedule = list(DEFAULT_SCHEDULE)
        self.last_text_at = time.monotonic()
        self.closing = False

    async def send(self, msg: dict[str, Any]) -> None:
        if self.ws.closed:
            return
        self.s.sent.append(msg)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.send_str(json.dumps(msg))

    async def close(self, code: int, reason: str) -> None:
        self.closing = True
        self.s.close_reason = reason
        await self.ws.close(code=code, message=reason.encode()[:120])

    # -- contexts -------------------------------------------------------------------------------------
    def context(self, context_id: str | None) -> TTSContext:
        ctx = self.s.contexts.get(context_id)
        if ctx is None:
            ctx = TTSContext(context_id)
            ctx.worker = asyncio.ensure_future(self._worker(ctx))
            self.s.contexts[context_id] = ctx
        return ctx

    def open_contexts(self) -> int:
        return sum(1 for c in self.s.contexts.values() if not c.closed)

    def trigger(self, ctx: TTSContext, force: bool) -> None:
        """Move buffered text to generation when the schedule, auto mode or a flush says so."""
        text = ctx.buffer
        if not text.strip():
            return
        threshold = self.schedule[min(ctx.chunks_triggered, len(self.schedule) - 1)]
        if force or len(text) >= threshold or (self.auto_mode and SENTENCE_END.search(text)):
            ctx.buffer = ""
            ctx.chunks_triggered += 1
            ctx.queue.put_nowait(text)

    def finish(self, ctx: TTSContext) -> None:
        """Generate what is left, then ``isFinal`` for this context."""
        self.trigger(ctx, force=True)
        ctx.closed = True
        ctx.queue.put_nowait(None)

    async def _worker(self, ctx: TTSContext) -> None:
        while True:
            text = await ctx.queue.get()
            if text is None:
                msg: dict[str, Any] = {"isFinal": True}
                if self.s.multi:
                    msg["contextId"] = ctx.context_id
                ctx.final_sent = True
                await self.send(msg)
                return
            started = time.monotonic()
            try:
                data, dur = await asyncio.to_thread(render, text.strip(), self.output_format, self.fake.voice)
            except UnsupportedFormat as exc:
                await self.send({"message": str(exc), "error": "invalid_output_format", "code": 1008})
                await self.close(1008, "invalid_output_format")
                return
            await asyncio.sleep(max(0.0, self.fake.first_byte_delay_ms / 1000 - (time.monotonic() - started)))
            spoken = text.strip()
            ctx.generated.append(spoken)
            ctx.audio_bytes += len(data)
            for piece, chars, piece_ms in split_generation(data, spoken, dur, self.fake.chunk_ms):
                align = char_alignment(chars, piece_ms)
                msg = {"audio": base64.b64encode(piece).decode(), "isFinal": None, "normalizedAlignment": align,
                       "alignment": align}
                if self.s.multi:
                    msg["contextId"] = ctx.context_id
                await self.send(msg)

    # -- messages -------------------------------------------------------------------------------------
    async def on_message(self, msg: dict[str, Any]) -> None:
        if not self.authed:
            key = msg.get("xi_api_key") or (msg.get("authorization") or "").removeprefix("Bearer ").strip()
            if not self.fake.key_ok(key or None):
                await self.close(1008, "Invalid API key" if key else "Missing API key (xi-api-key)")
                return
            self.authed = True
        if msg.get("close_socket"):
            await self.close(1000, "")
            return
        text = msg.get("text")
        if self.s.multi:
            await self.on_multi(msg, text)
        else:
            await self.on_single(msg, text)

    async def on_single(self, msg: dict[str, Any], text: str | None) -> None:
        first = None not in self.s.contexts
        ctx = self.context(None)
        if first:
            if text != " ":
                await self.close(1008, "The first message must have text set to a single space")
                return
            ctx.voice_settings = msg.get("voice_settings")
            schedule = (msg.get("generation_config") or {}).get("chunk_length_schedule")
            if isinstance(schedule, list) and schedule:
                self.schedule = [int(x) for x in schedule]
            return
        if text == "":
            self.finish(ctx)  # end of stream: remaining audio, isFinal, then the socket closes
            if ctx.worker is not None:
                await ctx.worker
            await self.close(1000, "")
            return
        if text is not None:
            ctx.buffer += text
        self.trigger(ctx, force=bool(msg.get("flush")) or (bool(msg.get("try_trigger_generation"))
                                                           and len(ctx.buffer) >= 50))

    async def on_multi(self, msg: dict[str, Any], text: str | None) -> None:
        cid = msg.get("context_id") or msg.get("contextId")
        if cid is None:
            if text == "":
                return  # connection keep-alive
            cid = "default"
        existing = self.s.contexts.get(cid)
        if existing is None:
            if self.open_contexts() >= MAX_CONTEXTS:
                await self.send({"message": "Maximum number of active contexts reached (5)",
                                 "error": "max_active_conversations", "code": 1008})
                await self.close(1008, "max_active_conversations")
                return
            ctx = self.context(cid)
            ctx.voice_settings = msg.get("voice_settings")
        else:
            ctx = existing
        if msg.get("close_context"):
            if not ctx.closed:
                self.finish(ctx)
            return
        if ctx.closed:
            return  # late text for a closed context is ignored
        if text:
            ctx.buffer += text
        self.trigger(ctx, force=bool(msg.get("flush")))

    async def _watchdog(self) -> None:
        while not self.ws.closed:
            await asyncio.sleep(0.5)
            if time.monotonic() - self.last_text_at > self.inactivity_s:
                await self.close(1008, f"Have not received new text for {int(self.inactivity_s)} seconds")
                return

    async def run(self) -> None:
        watchdog = asyncio.ensure_future(self._watchdog())
        try:
            async for raw in self.ws:
                if raw.type != WSMsgType.TEXT:
                    await self.close(1003, "Only text JSON messages are accepted")
                    break
                try:
                    msg = json.loads(raw.data)
                    if not isinstance(msg, dict):
                        raise ValueError("not a JSON object")
                except ValueError:
                    await self.close(1008, "Invalid JSON message")
                    break
                self.s.received.append(msg)
                self.last_text_at = time.monotonic()  # keep-alives (" " or "") count as activity
                await self.on_message(msg)
                if self.closing:
                    break
        finally:
            watchdog.cancel()
            for ctx in self.s.contexts.values():
                if ctx.worker and not ctx.worker.done():
                    ctx.worker.cancel()
