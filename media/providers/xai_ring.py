"""The xAI realtime socket held while the phone rings (used by ``media.providers.xai_realtime`` only).

While ringing a reader drains the socket (xAI's ``ping`` events are dropped; ``conversation.created``
is kept) so nothing backs up; at pipeline start the service adopts the socket and the kept events are
replayed to it, so it sends its ``session.update`` on ``conversation.created`` as if it had just
connected. xAI needs no client keep-alive (the websockets client's protocol pings keep it alive).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from pipecat.processors.aggregators.llm_context import LLMContext
    from websockets.asyncio.client import ClientConnection
    from websockets.typing import Data


@dataclass
class RingGreeting:
    """A session set up and greeted at ring time: what the adopting service takes over."""

    conversation_id: str
    context: LLMContext
    transcript: str | None


def _event_type(message: object) -> str | None:
    try:
        event = json.loads(message)  # pyright: ignore[reportArgumentType] - anything else raises: not an event
    except (TypeError, ValueError):
        return None
    return event.get("type") if isinstance(event, dict) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]


def _conversation_id(event: dict[str, Any]) -> str:
    conversation: dict[str, Any] = event.get("conversation") or {}
    return conversation.get("id") or ""


class RingRealtimeSocket:
    """An xAI realtime socket opened at ring time, drained by a reader until a service adopts it."""

    MAX_KEPT = 64  # events kept for the service (conversation.created); pings are dropped

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.kept: list[Data] = []
        self.greeted: RingGreeting | None = None  # set up and greeted at ring time (greet)
        self.reader = self._start_reader()

    def _start_reader(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._read(), name="warm-xai-reader")

    async def _stop_reader(self) -> None:
        self.reader.cancel()
        await asyncio.wait({self.reader})

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if _event_type(message) == "ping":
                    continue
                if len(self.kept) < self.MAX_KEPT:
                    self.kept.append(message)
        except Exception:  # noqa: BLE001, S110 - closed by the server: the adopting service sees a closed socket
            pass

    async def handover(self) -> ClientConnection:
        """Stop reading (``recv`` is cancel-safe: no message is lost) and give the socket to the service.

        What the service gets reads the events kept while ringing first (``ReplaySocket``), and is
        otherwise the socket itself.
        """
        await self._stop_reader()
        return cast("ClientConnection", ReplaySocket(self.ws, self.kept))

    async def greet(self, context: LLMContext, send_setup: Callable[[ClientConnection], Awaitable[None]]) -> bytes:
        """Have the model say the first message now, on this socket.

        ``send_setup`` (the service's own code) sends ``session.update``, the context's items and
        ``response.create`` on the socket it is given, once xAI's ``conversation.created`` arrived.
        Returns the greeting's mu-law audio once ``response.done`` (completed) arrived.
        """
        await self._stop_reader()
        try:
            conversation_id = None
            for message in self.kept:  # conversation.created, read by the reader since the socket opened
                if _event_type(message) == "conversation.created":
                    conversation_id = _conversation_id(json.loads(message))
            self.kept.clear()
            while conversation_id is None:  # xAI's first event: set nothing up before it
                event = json.loads(await self.ws.recv())
                if event.get("type") == "conversation.created":
                    conversation_id = _conversation_id(event)
            await send_setup(self.ws)
            audio, ready, transcript = bytearray(), False, None
            while True:
                event = json.loads(await self.ws.recv())
                kind = event.get("type")
                if kind == "session.updated":
                    ready = True
                elif kind == "response.output_audio.delta":
                    audio += base64.b64decode(event.get("delta") or "")
                elif kind == "response.output_audio_transcript.done":
                    transcript = event.get("transcript")
                elif kind == "error":
                    error: dict[str, Any] = event.get("error") or {}
                    raise RuntimeError(f"xAI error: {error.get('code')}")
                elif kind == "response.done":
                    response: dict[str, Any] = event.get("response") or {}
                    status = response.get("status")
                    if status != "completed" or not ready or not audio:
                        raise RuntimeError(f"greeting response {status}")
                    break
            self.greeted = RingGreeting(conversation_id=conversation_id, context=context, transcript=transcript)
            return bytes(audio)
        finally:
            if self.ws.state.name != "CLOSED":
                self.reader = self._start_reader()  # drain pings again until the call adopts the socket


class ReplaySocket:
    """The adopted socket as the service sees it: the events read while ringing come first."""

    def __init__(self, ws: ClientConnection, kept: list[Data]) -> None:
        self._ws, self._kept = ws, list(kept)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)

    def __aiter__(self) -> AsyncIterator[Data]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Data]:
        while self._kept:
            yield self._kept.pop(0)
        async for message in self._ws:
            yield message
