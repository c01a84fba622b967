"""Fake xAI Grok Voice Agent realtime API (``wss://api.x.ai/v1/realtime``), protocols.md section 5.

``conversation.created`` first; ``session.update`` -> ``session.updated``; server VAD (energy) on
``input_audio_buffer.append`` audio (``audio/pcmu`` or ``audio/pcm``): ``speech_started`` /
``speech_stopped`` / ``committed``, the user item with the registered caller text
(``conversation.item.input_audio_transcription.completed``), then an automatic response: real
espeak-ng audio in ``response.output_audio.delta`` plus ``response.output_audio_transcript.delta``/
``done``, or a function call (``response.output_item.added`` + ``response.function_call_arguments.*``)
when a rule says so. ``response.create`` / ``response.cancel`` / ``conversation.item.create``
(``function_call_output``, user text) / ``input_audio_buffer.commit`` / ``.clear``; ``response.create``
instructions starting "Say exactly the following text" are spoken verbatim (audio and transcript are
that text; ``say_transform`` makes the model paraphrase, as a real model may); ``audio_pace`` paces the
audio deltas against real time (1.0 = as fast as it plays) so a response can be caught mid-way;
``response_created_delay_ms`` is the server's time before ``response.created``; ``ping`` every
``ping_interval_s``; no ``conversation.item.truncate`` (answered with an error, as xAI has none).
Speech during an active response cancels it (server VAD ``interrupt_response``).

Replies come from the same rules as the chat-completions fake (``add_rule``), over a chat-shaped view of
the conversation; without a rule the dev responder answers. The call id for the registry: the ``tag`` or
``sandbox_call_id`` query parameter, a ``/sandbox/calls/<id>`` path prefix, or fallback pairing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from sandbox import audio, ids
from sandbox.aioserver import AsyncFakeServer
from sandbox.openai_llm import Reply, ScriptedReplies, dev_reply, tokens

SAY_EXACTLY = re.compile(r'\s*Say exactly the following text[^:]*:\s*"(.*)"\s*$', re.S)
# An opening request in the conversation itself ('Start the call by saying exactly: "..."').
SAY_EXACTLY_ITEM = re.compile(r'.*\bsaying exactly:\s*"(.*)"\s*$', re.S)


def _id(prefix: str) -> str:
    return f"{prefix}_{ids.token_hex(10)}"


@dataclass
class RealtimeSession:
    """One connection, kept for assertions."""

    query: dict[str, str]
    headers: dict[str, str]
    call_id: str | None
    session: dict[str, Any] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)  # monotonic arrival of each received event
    sent_at: list[float] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)  # caller texts recognised
    responses: list[dict[str, Any]] = field(default_factory=list)  # id, status, text, tool_calls
    speech_end_at: list[float] = field(default_factory=list)
    first_audio_at: list[float] = field(default_factory=list)

    def types_sent(self) -> list[str]:
        return [m["type"] for m in self.sent]


class FakeXAIRealtime(ScriptedReplies, AsyncFakeServer):
    name = "xai"

    def __init__(self, *, first_audio_delay_ms: float = 400, transcription_delay_ms: float = 50,
                 ping_interval_s: float = 10.0, api_key: str | None = None, voice: str = "en-us+m3",
                 hangover_ms: int = 100, default_text: str = "hello", audio_pace: float = 0.0,
                 say_transform: Callable[[str], str] | None = None, response_created_delay_ms: float = 0.0,
                 **kw: Any):
        super().__init__(**kw)
        self.first_audio_delay_ms = first_audio_delay_ms
        self.transcription_delay_ms = transcription_delay_ms
        self.ping_interval_s = ping_interval_s
        self.api_key = api_key
        self.voice = voice
        self.hangover_ms = hangover_ms
        self.default_text = default_text
        self.audio_pace = audio_pace  # wall seconds per second of audio sent (0: as fast as possible)
        self.say_transform = say_transform  # what the model makes of a "say exactly" request
        self.response_created_delay_ms = response_created_delay_ms  # server time before response.created
        self.rules = []
        self.sessions: list[RealtimeSession] = []
        self._sockets: set[web.WebSocketResponse] = set()

    def setup_routes(self, app: web.Application) -> None:
        self.add_route(app, "GET", "/v1/realtime", self._realtime)

    async def on_shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutting down")

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        self.record(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token or (self.api_key is not None and token != self.api_key):
            return web.json_response({"code": "Unauthenticated", "error": "Incorrect API key provided"}, status=401)
        session = RealtimeSession(self.query_params(request), {k.lower(): v for k, v in request.headers.items()},
                                  self.call_id_from(request, "tag"))
        with self.lock:
            self.sessions.append(session)
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await _Conversation(self, session, ws).run()
        finally:
            self._sockets.discard(ws)
        return ws


class _Conversation:
    def __init__(self, fake: FakeXAIRealtime, s: RealtimeSession, ws: web.WebSocketResponse):
        self.fake, self.s, self.ws = fake, s, ws
        self.s.session = {"id": _id("sess"), "object": "realtime.session",
                          "model": s.query.get("model", "grok-voice-think-fast-1.0"), "voice": "eve",
                          "instructions": "", "turn_detection": {"type": "server_vad"},
                          "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}},
                                    "output": {"format": {"type": "audio/pcm", "rate": 24000}}}, "tools": []}
        self.items: list[dict[str, Any]] = []  # conversation, in order
        self.detector = audio.SpeechDetector(hangover_ms=fake.hangover_ms)
        self.buf = b""
        self.user_item_id: str | None = None
        self.response_task: asyncio.Task | None = None
        self.active_response: dict[str, Any] | None = None
        self.call_id = s.call_id
        self.claimed = False
        self.events = itertools.count(1)
        self.audio_ms_committed = 0.0

    # -- plumbing -------------------------------------------------------------------------------------
    async def send(self, msg: dict[str, Any]) -> None:
        if self.ws.closed:
            return
        event = {"event_id": f"event_{next(self.events)}", **msg}
        self.s.sent.append(event)
        self.s.sent_at.append(time.monotonic())
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.send_str(json.dumps(event))

    async def error(self, message: str, code: str = "invalid_request_error", event_id: str | None = None) -> None:
        await self.send({"type": "error", "error": {"type": "invalid_request_error", "code": code,
                                                    "message": message, "param": None, "event_id": event_id}})

    def _fmt(self, direction: str) -> dict[str, Any]:
        return ((self.s.session.get("audio") or {}).get(direction) or {}).get("format") or {"type": "audio/pcm",
                                                                                             "rate": 24000}

    def _server_vad(self) -> bool:
        td = self.s.session.get("turn_detection")
        return isinstance(td, dict) and td.get("type") == "server_vad"

    # -- session --------------------------------------------------------------------------------------
    async def session_update(self, msg: dict[str, Any]) -> None:
        update = msg.get("session") or {}
        for key, value in update.items():
            if key == "audio" and isinstance(value, dict):
                current = self.s.session.setdefault("audio", {})
                for direction, cfg in value.items():
                    if isinstance(cfg, dict):
                        current.setdefault(direction, {}).update(cfg)
            else:
                self.s.session[key] = value
        await self.send({"type": "session.updated", "session": self.s.session})

    # -- input audio ----------------------------------------------------------------------------------
    def _frame_spec(self) -> tuple[int, bool]:
        """(bytes per 20 ms window, is PCM16) for the session's input format."""
        fmt = self._fmt("input")
        if fmt.get("type") in ("audio/pcmu", "audio/pcma"):
            return audio.FRAME_BYTES, False
        return int(fmt.get("rate") or 24000) * 2 * audio.FRAME_MS // 1000, True

    async def append(self, msg: dict[str, Any]) -> None:
        try:
            data = base64.b64decode(msg.get("audio") or "")
        except ValueError:
            await self.error("audio is not valid base64")
            return
        self.buf += data
        window, pcm = self._frame_spec()
        while len(self.buf) >= window:
            frame, self.buf = self.buf[:window], self.buf[window:]
            if pcm:
                level = audio.pcm16_rms(frame)
            elif self._fmt("input").get("type") == "audio/pcma":
                level = 0.0  # a-law is not decoded by the fake
            else:
                level = audio.rms(frame)
            event = self.detector.feed_level(audio.FRAME_MS, level)
            if not self._server_vad():
                continue
            if event == "start":
                await self.speech_started()
            elif event == "end":
                self.s.speech_end_at.append(time.monotonic() - (self.detector.audio_ms
                                                                - self.detector.last_voice_end_ms) / 1000)
                await self.send({"type": "input_audio_buffer.speech_stopped", "item_id": self.user_item_id,
                                 "audio_end_ms": int(self.detector.last_voice_end_ms)})
                await self.commit(auto_response=True)

    async def speech_started(self) -> None:
        self.user_item_id = _id("item")
        await self.send({"type": "input_audio_buffer.speech_started", "item_id": self.user_item_id,
                         "audio_start_ms": int(self.detector.speech_start_ms)})
        if self.active_response is not None:
            await self.cancel_response()

    async def commit(self, auto_response: bool) -> None:
        item_id = self.user_item_id or _id("item")
        self.user_item_id = None
        previous = self.items[-1]["id"] if self.items else None
        await self.send({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": previous})
        if not self.claimed:
            self.call_id = self.fake.registry.claim("s2s", self.call_id)
            self.s.call_id = self.call_id
            self.claimed = True
        text = self.fake.registry.next_utterance("s2s", self.call_id) or self.fake.default_text
        item = {"id": item_id, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
                "content": [{"type": "input_audio", "transcript": None}]}
        self.items.append({**item, "text": text})
        await self.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        await asyncio.sleep(self.fake.transcription_delay_ms / 1000)
        self.s.transcripts.append(text)
        await self.send({"type": "conversation.item.input_audio_transcription.completed", "item_id": item_id,
                         "content_index": 0, "transcript": text})
        if auto_response:
            self.start_response()

    # -- responses ------------------------------------------------------------------------------------
    def chat_view(self, instructions: str | None = None) -> dict[str, Any]:
        """The conversation as a chat-completions body, so the chat fake's rules apply unchanged."""
        messages: list[dict[str, Any]] = [{"role": "system", "content": instructions
                                           or self.s.session.get("instructions") or ""}]
        for item in self.items:
            if item["type"] == "message":
                messages.append({"role": item["role"], "content": item.get("text", "")})
            elif item["type"] == "function_call":
                messages.append({"role": "assistant", "content": None, "tool_calls": [
                    {"id": item["call_id"], "type": "function",
                     "function": {"name": item["name"], "arguments": item["arguments"]}}]})
            elif item["type"] == "function_call_output":
                messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]})
        tools = [{"type": "function", "function": {k: v for k, v in t.items() if k != "type"}}
                 for t in self.s.session.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
        return {"model": self.s.session.get("model"), "messages": messages, "tools": tools,
                "metadata": {"call_id": self.call_id or ""}}

    def start_response(self, instructions: str | None = None) -> None:
        if self.response_task and not self.response_task.done():
            return
        said = SAY_EXACTLY.match(instructions or "")
        last = self.items[-1] if self.items else None
        if not said and last is not None and last["type"] == "message" and last.get("role") == "user":
            said = SAY_EXACTLY_ITEM.match(last.get("text") or "")
        if said:  # per-response instructions to say a text verbatim: the model obeys (or paraphrases)
            text = said.group(1)
            if self.fake.say_transform is not None:
                text = self.fake.say_transform(text)
            self.response_task = asyncio.ensure_future(self.respond(Reply(text=text)))
            return
        body = self.chat_view(instructions)
        # A reply answers the latest input, not the model's own last words (e.g. a filler it was told
        # to say while a tool ran, which lands after the tool's output).
        while len(body["messages"]) > 1 and body["messages"][-1]["role"] == "assistant" \
                and not body["messages"][-1].get("tool_calls"):
            body["messages"].pop()
        reply = self.fake.choose(body) or dev_reply(body)
        self.response_task = asyncio.ensure_future(self.respond(reply))

    async def cancel_response(self) -> None:
        if self.response_task and not self.response_task.done():
            self.response_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.response_task
        response = self.active_response
        self.active_response = None
        if response is not None:
            response["status"] = "cancelled"
            for record in self.s.responses:
                if record["id"] == response["id"]:
                    record["status"] = "cancelled"
            await self.send({"type": "response.done", "response": response, "usage": response["usage"]})

    async def respond(self, reply: Reply) -> None:
        response = {"id": _id("resp"), "object": "realtime.response", "status": "in_progress",
                    "status_details": None, "output": [], "usage": None}
        self.active_response = response
        record = {"id": response["id"], "status": "in_progress", "text": reply.text,
                  "tool_calls": [tc.name for tc in reply.tool_calls]}
        self.s.responses.append(record)
        await asyncio.sleep(self.fake.response_created_delay_ms / 1000)
        await self.send({"type": "response.created", "response": dict(response)})
        started = time.monotonic()
        out_fmt = self._fmt("output")
        index = 0
        if reply.text:
            item_id = _id("item")
            item = {"id": item_id, "object": "realtime.item", "type": "message", "status": "in_progress",
                    "role": "assistant", "content": []}
            await self.send({"type": "response.output_item.added", "response_id": response["id"],
                             "output_index": index, "item": item})
            await self.send({"type": "response.content_part.added", "response_id": response["id"],
                             "item_id": item_id, "output_index": index, "content_index": 0,
                             "part": {"type": "audio", "transcript": ""}})
            data = await asyncio.to_thread(audio.speak, reply.text, self.fake.voice)
            if out_fmt.get("type") == "audio/pcm":
                data = audio.ulaw_to_pcm_bytes(data, int(out_fmt.get("rate") or 24000))
            await asyncio.sleep(max(0.0, self.fake.first_audio_delay_ms / 1000 - (time.monotonic() - started)))
            words = tokens(reply.text)
            step = max(2, len(data) // max(1, len(words)))
            step -= step % 2
            bytes_per_s = 8000 if out_fmt.get("type") in ("audio/pcmu", "audio/pcma") else \
                int(out_fmt.get("rate") or 24000) * 2
            self.s.first_audio_at.append(time.monotonic())
            for i, start in enumerate(range(0, len(data), step)):
                await self.send({"type": "response.output_audio.delta", "response_id": response["id"],
                                 "item_id": item_id, "output_index": index, "content_index": 0,
                                 "delta": base64.b64encode(data[start:start + step]).decode()})
                if i < len(words):
                    await self.send({"type": "response.output_audio_transcript.delta",
                                     "response_id": response["id"], "item_id": item_id, "output_index": index,
                                     "content_index": 0, "delta": words[i]})
                await asyncio.sleep(max(0.005, self.fake.audio_pace * min(step, len(data) - start) / bytes_per_s))
            for word in words[len(range(0, len(data), step)):]:
                await self.send({"type": "response.output_audio_transcript.delta", "response_id": response["id"],
                                 "item_id": item_id, "output_index": index, "content_index": 0, "delta": word})
            for kind, extra in (("response.output_audio.done", {}),
                                ("response.output_audio_transcript.done", {"transcript": reply.text})):
                await self.send({"type": kind, "response_id": response["id"], "item_id": item_id,
                                 "output_index": index, "content_index": 0, **extra})
            await self.send({"type": "response.content_part.done", "response_id": response["id"],
                             "item_id": item_id, "output_index": index, "content_index": 0,
                             "part": {"type": "audio", "transcript": reply.text}})
            done_item = {**item, "status": "completed",
                         "content": [{"type": "output_audio", "transcript": reply.text}]}
            await self.send({"type": "response.output_item.done", "response_id": response["id"],
                             "output_index": index, "item": done_item})
            response["output"].append(done_item)
            self.items.append({**done_item, "text": reply.text})
            index += 1
        elif reply.tool_calls:
            await asyncio.sleep(max(0.0, self.fake.first_audio_delay_ms / 1000 - (time.monotonic() - started)))
        for tc in reply.tool_calls:
            item_id, call_id, args = _id("item"), tc.id or _id("call"), tc.arguments_json()
            item = {"id": item_id, "object": "realtime.item", "type": "function_call", "status": "in_progress",
                    "call_id": call_id, "name": tc.name, "arguments": ""}
            await self.send({"type": "response.output_item.added", "response_id": response["id"],
                             "output_index": index, "item": item})
            for start in range(0, len(args), 8):
                await self.send({"type": "response.function_call_arguments.delta", "response_id": response["id"],
                                 "item_id": item_id, "output_index": index, "call_id": call_id,
                                 "delta": args[start:start + 8]})
            await self.send({"type": "response.function_call_arguments.done", "response_id": response["id"],
                             "item_id": item_id, "output_index": index, "call_id": call_id, "name": tc.name,
                             "arguments": args})
            done_item = {**item, "status": "completed", "arguments": args}
            await self.send({"type": "response.output_item.done", "response_id": response["id"],
                             "output_index": index, "item": done_item})
            response["output"].append(done_item)
            self.items.append(done_item)
            index += 1
        usage = {"total_tokens": 20 + len(tokens(reply.text or "")), "input_tokens": 20,
                 "output_tokens": len(tokens(reply.text or ""))}
        response["status"], response["usage"] = "completed", usage
        record["status"] = "completed"
        self.active_response = None
        await self.send({"type": "response.done", "response": response, "usage": usage})

    # -- client events --------------------------------------------------------------------------------
    async def item_create(self, msg: dict[str, Any]) -> None:
        item = dict(msg.get("item") or {})
        item.setdefault("id", _id("item"))
        kind = item.get("type")
        if kind == "function_call_output":
            self.items.append({"id": item["id"], "type": "function_call_output", "call_id": item.get("call_id"),
                               "output": item.get("output", "")})
        elif kind == "message":
            text = " ".join(c.get("text") or c.get("transcript") or "" for c in item.get("content") or [])
            self.items.append({**item, "text": text})
        else:
            await self.error(f"Unsupported item type: {kind}", event_id=msg.get("event_id"))
            return
        previous = self.items[-2]["id"] if len(self.items) > 1 else None
        await self.send({"type": "conversation.item.added", "previous_item_id": previous,
                         "item": {k: v for k, v in item.items() if k != "text"}})

    async def on_event(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "session.update":
            await self.session_update(msg)
        elif kind == "input_audio_buffer.append":
            await self.append(msg)
        elif kind == "input_audio_buffer.commit":
            await self.commit(auto_response=False)
        elif kind == "input_audio_buffer.clear":
            self.buf = b""
            await self.send({"type": "input_audio_buffer.cleared"})
        elif kind == "conversation.item.create":
            await self.item_create(msg)
        elif kind == "response.create":
            if self.active_response is not None:
                await self.error("Conversation already has an active response", event_id=msg.get("event_id"))
                return
            self.start_response((msg.get("response") or {}).get("instructions"))
        elif kind == "response.cancel":
            if self.active_response is None:
                await self.error("Cancellation failed: no active response found", event_id=msg.get("event_id"))
                return
            await self.cancel_response()
        elif kind == "conversation.item.delete":
            item_id = msg.get("item_id")
            self.items = [i for i in self.items if i["id"] != item_id]
            await self.send({"type": "conversation.item.deleted", "item_id": item_id})
        else:
            await self.error(f"Unknown event type: {kind}", code="unknown_event", event_id=msg.get("event_id"))

    async def _pinger(self) -> None:
        while not self.ws.closed:
            await asyncio.sleep(self.fake.ping_interval_s)
            await self.send({"type": "ping", "timestamp": int(time.time() * 1000)})

    async def run(self) -> None:
        await self.send({"type": "conversation.created",
                         "conversation": {"id": _id("conv"), "object": "realtime.conversation"}})
        pinger = asyncio.ensure_future(self._pinger())
        try:
            async for raw in self.ws:
                if raw.type == WSMsgType.BINARY:  # audio.input.transport "binary": raw input audio
                    await self.append({"audio": base64.b64encode(raw.data).decode()})
                    continue
                if raw.type != WSMsgType.TEXT:
                    break
                try:
                    msg = json.loads(raw.data)
                    if not isinstance(msg, dict):
                        raise ValueError("not a JSON object")
                except ValueError:
                    await self.error("Invalid JSON")
                    continue
                self.s.received.append(msg)
                self.s.received_at.append(time.monotonic())
                await self.on_event(msg)
        finally:
            pinger.cancel()
            if self.response_task and not self.response_task.done():
                self.response_task.cancel()
