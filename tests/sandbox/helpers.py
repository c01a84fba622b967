"""A tiny stand-in media server for testing the simulated caller and the sandbox plumbing."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import websockets

from sandbox import audio

AGENT = "en-us+f3"


class TinyMediaServer:
    """Greets, answers each caller utterance after ``reply_delay`` s, sends a mark after each chunk,
    and sends ``clear`` when the caller talks over it (the media service's job, reduced to a test double)."""

    def __init__(self, reply_delay: float = 0.3, greeting: str = "Hello, how can I help?"):
        self.reply_delay = reply_delay
        self.greeting = greeting
        self.received: list[dict] = []
        self.headers: dict[str, str] = {}
        self.mark_echoes: list[tuple[float, str]] = []
        self.marks_sent: dict[str, float] = {}
        self.speaking_until = 0.0
        self.ws = None
        self.url = ""  # set by whoever serves the handler

    async def send_speech(self, ws, sid: str, text: str, tag: str) -> None:
        data = audio.speak(text, AGENT)
        for i in range(0, len(data), 1600):
            await ws.send(json.dumps({"event": "media", "streamSid": sid,
                                      "media": {"payload": base64.b64encode(data[i:i + 1600]).decode()}}))
            name = f"{tag}:{i // 1600}"
            self.marks_sent[name] = time.monotonic()
            await ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": name}}))
        self.speaking_until = time.monotonic() + audio.duration_ms(data) / 1000

    async def handler(self, ws) -> None:
        self.headers = dict(ws.request.headers)
        det = audio.SpeechDetector(hangover_ms=100)
        sid = ""
        turn = 0
        async for raw in ws:
            msg = json.loads(raw)
            self.received.append(msg)
            if msg["event"] == "start":
                sid = msg["streamSid"]
                await self.send_speech(ws, sid, self.greeting, "greet")
            elif msg["event"] == "mark":
                self.mark_echoes.append((time.monotonic(), msg["mark"]["name"]))
            elif msg["event"] == "media":
                ev = det.feed(base64.b64decode(msg["media"]["payload"]))
                if ev == "start" and time.monotonic() < self.speaking_until:
                    await ws.send(json.dumps({"event": "clear", "streamSid": sid}))
                    self.speaking_until = 0.0
                elif ev == "end":
                    turn += 1
                    await asyncio.sleep(self.reply_delay - 0.1)  # the detector already waited 100 ms
                    await self.send_speech(ws, sid, "Sure, one moment please, let me check that for you.",
                                           f"t{turn}")
            elif msg["event"] == "stop":
                await ws.close()
                return


def close_frame(exc: websockets.ConnectionClosed) -> websockets.frames.Close:
    """The close frame the server sent (the test fails here when the connection just dropped)."""
    assert exc.rcvd is not None, f"no close frame received: {exc!r}"
    return exc.rcvd
