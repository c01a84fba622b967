"""The browser side of a web call's socket (docs/web-calls.md): PCM16 16 kHz frames out in real time,
the agent's audio and JSON events in.

A microphone never stops: one 20 ms frame goes out every 20 ms, silence when nothing is being said,
so the agent's voice detection and the STT's endpointing see the silence after each utterance. The
agent's audio arrives in real time as it is spoken, so its turn has ended when none has arrived for
``quiet_ms``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

RATE = 16000
FRAME_MS = 20
FRAME_BYTES = RATE * 2 * FRAME_MS // 1000  # 640: 20 ms of PCM s16le mono
SILENCE = bytes(FRAME_BYTES)


def silence(ms: float) -> bytes:
    """``ms`` of PCM16 16 kHz silence (whole samples)."""
    return bytes(int(RATE * ms / 1000) * 2)


def _resolver(future: asyncio.Future[float]) -> Callable[[float], None]:
    """A send-queue marker that records when the send loop reached it."""

    def mark(at: float) -> None:
        if not future.done():
            future.set_result(at)

    return mark


class WebCallPeer:
    """One connection to ``/web/{call_id}?token=...``; ``agent_lines`` holds the agent's final lines."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: Any = None
        self.closed = asyncio.Event()
        self.end_reason: str | None = None  # the server's ``call-ended`` reason
        self.agent_lines: list[str] = []
        self.agent_audio_at: list[float] = []  # monotonic arrival of each agent audio frame
        self.clears = 0
        self.on_agent_audio: Callable[[bytes], None] | None = None  # e.g. a speech recognizer's input
        self._out: deque[bytes | Callable[[float], None]] = deque()
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        import websockets

        self.ws = await websockets.connect(self.url, max_size=None, open_timeout=10)
        self._tasks = [asyncio.ensure_future(self._send_loop()), asyncio.ensure_future(self._recv_loop())]

    async def _send_loop(self) -> None:
        next_at = time.monotonic()
        try:
            while not self.closed.is_set():
                while self._out and callable(head := self._out[0]):
                    self._out.popleft()
                    head(time.monotonic())
                frame = self._out.popleft() if self._out else SILENCE
                await self.ws.send(frame)
                next_at += FRAME_MS / 1000
                delay = next_at - time.monotonic()
                if delay < -0.2:  # fell far behind (loaded machine): resync instead of bursting
                    next_at = time.monotonic()
                await asyncio.sleep(max(0.0, delay))
        except Exception:  # noqa: BLE001 - the server closed the socket: the call is over
            self.closed.set()

    async def _recv_loop(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    self.agent_audio_at.append(time.monotonic())
                    if self.on_agent_audio is not None:
                        self.on_agent_audio(message)
                    continue
                event = json.loads(message)
                kind = event.get("type")
                if kind == "transcript" and event.get("role") == "assistant":
                    self.agent_lines.append(str(event.get("text") or ""))
                elif kind == "clear":
                    self.clears += 1
                elif kind == "call-ended":
                    self.end_reason = str(event.get("reason") or "")
        except Exception:  # noqa: BLE001, S110 - a dropped socket ends the call like a close
            pass
        finally:
            self.closed.set()

    async def say(self, pcm: bytes) -> tuple[float, float]:
        """Send ``pcm`` in real time after what is queued; (first, last) frame send times once sent."""
        loop = asyncio.get_running_loop()
        started: asyncio.Future[float] = loop.create_future()
        ended: asyncio.Future[float] = loop.create_future()
        self._out.append(_resolver(started))
        self._out.extend(pcm[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0") for i in range(0, len(pcm), FRAME_BYTES))
        self._out.append(_resolver(ended))
        done, _ = await asyncio.wait([ended, asyncio.ensure_future(self.closed.wait())],
                                     return_when=asyncio.FIRST_COMPLETED)
        if ended not in done:
            ended.cancel()
            return time.monotonic(), time.monotonic()
        return started.result(), ended.result()

    def last_agent_audio(self) -> float | None:
        return self.agent_audio_at[-1] if self.agent_audio_at else None

    async def wait_agent_audio(self, since: float, timeout: float) -> float | None:  # noqa: ASYNC109 - a deadline for a polling wait
        """When the agent's first audio after ``since`` arrived (None: none within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.closed.is_set():
            i = bisect.bisect_left(self.agent_audio_at, since)  # arrival times only grow
            if i < len(self.agent_audio_at):
                return self.agent_audio_at[i]
            await asyncio.sleep(0.01)
        return None

    async def wait_agent_turn_end(self, since: float, timeout: float, quiet_ms: float = 700) -> bool:  # noqa: ASYNC109 - a deadline for a polling wait
        """The agent spoke after ``since`` and then stayed quiet ``quiet_ms`` (False: timeout or closed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.closed.is_set():
            last = self.last_agent_audio()
            if last is not None and last >= since and (time.monotonic() - last) * 1000 >= quiet_ms:
                return True
            await asyncio.sleep(0.02)
        return False

    async def close(self) -> None:
        """Hang up: close the socket (the server ends the call with ``customer_hangup``)."""
        self.closed.set()
        for task in self._tasks:
            task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
