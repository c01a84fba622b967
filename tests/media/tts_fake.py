"""Stand-in ElevenLabs TTS (multi-stream-input WebSocket + HTTP stream) used until sandbox ships its own.

Real espeak-ng mu-law audio of the text, ``contextId`` on every message, ``isFinal`` after a flush,
character alignment, configurable first-byte delay.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any

from aiohttp import WSMsgType, web

from sandbox import audio
from sandbox.aioserver import AsyncFakeServer

CHUNK = 1600  # 200 ms of mu-law per audio message


def _alignment(text: str, ms: float) -> dict[str, Any]:
    chars = list(text)
    step = ms / max(1, len(chars))
    return {"chars": chars, "charStartTimesMs": [round(i * step) for i in range(len(chars))],
            "charDurationsMs": [max(1, round(step))] * len(chars)}


class FakeElevenLabsTTS(AsyncFakeServer):
    name = "elevenlabs-tts"

    def __init__(self, *, first_byte_delay_ms: float = 100, fail_after_contexts: int | None = None, **kw: Any):
        super().__init__(**kw)
        self.first_byte_delay_ms = first_byte_delay_ms
        self.fail_after_contexts = fail_after_contexts
        self.texts: list[str] = []
        self.http_texts: list[str] = []
        self.contexts_seen = 0
        self.ws_messages: list[dict[str, Any]] = []

    def setup_routes(self, app: web.Application) -> None:
        self.add_route(app, "GET", "/v1/text-to-speech/{voice}/multi-stream-input", self._multi)
        self.add_route(app, "POST", "/v1/text-to-speech/{voice}/stream", self._http_stream)

    async def _synth(self, text: str) -> bytes:
        return await asyncio.to_thread(audio.speak, text)

    async def _http_stream(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.record(request, body)
        text = body.get("text", "")
        self.http_texts.append(text)
        data = await self._synth(text)
        await asyncio.sleep(self.first_byte_delay_ms / 1000)
        resp = web.StreamResponse(headers={"Content-Type": "audio/basic"})
        await resp.prepare(request)
        for i in range(0, len(data), CHUNK):
            await resp.write(data[i:i + CHUNK])
        await resp.write_eof()
        return resp

    async def _multi(self, request: web.Request) -> web.StreamResponse:
        self.record(request)
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        buffers: dict[str, str] = {}
        closed: set[str] = set()
        tasks: set[asyncio.Task] = set()

        async def speak(ctx: str, text: str) -> None:
            try:
                data = await self._synth(text)
                await asyncio.sleep(self.first_byte_delay_ms / 1000)
                for i in range(0, len(data), CHUNK):
                    if ctx in closed or ws.closed:
                        return
                    chunk = data[i:i + CHUNK]
                    part = text if i == 0 else ""
                    msg = {"audio": base64.b64encode(chunk).decode(), "contextId": ctx, "isFinal": None}
                    if part:
                        msg["alignment"] = _alignment(part, len(data) / 8)
                    await ws.send_str(json.dumps(msg))
                if ctx not in closed and not ws.closed:
                    await ws.send_str(json.dumps({"contextId": ctx, "isFinal": True}))
            except (ConnectionError, RuntimeError):
                return

        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            self.ws_messages.append(data)
            if data.get("close_socket"):
                break
            ctx = data.get("context_id") or "default"
            if data.get("close_context"):
                # Flushed audio still arrives after close_context (Pipecat relies on it); clients
                # ignore late audio of contexts they abandoned.
                continue
            if ctx not in buffers and ctx not in closed:
                buffers[ctx] = ""
                self.contexts_seen += 1
                if self.fail_after_contexts is not None and self.contexts_seen > self.fail_after_contexts:
                    await ws.close(code=1011, message=b"internal error")
                    break
            text = data.get("text")
            if text and text.strip():
                buffers[ctx] = buffers.get(ctx, "") + text
            if data.get("flush") or (text and text.rstrip().endswith((".", "!", "?"))):
                pending = buffers.get(ctx, "").strip()
                buffers[ctx] = ""
                if pending:
                    self.texts.append(pending)
                    task = asyncio.create_task(speak(ctx, pending))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await ws.close()
        return ws
