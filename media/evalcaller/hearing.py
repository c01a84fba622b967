"""How the caller learns what the agent said since it last spoke (``EVAL_CALLER_HEARING``).

- ``TranscriptHearing`` (``transcript``, the default): the web socket's ``transcript`` events, the
  agent's lines as the platform recorded them (cut to what was heard at a barge-in).
- ``DeepgramHearing`` (``deepgram``): the agent's audio as it arrives, streamed to Deepgram's live API
  (``DEEPGRAM_URL``, the org's key else the platform's; PCM16 16 kHz, ``tag=<call id>:caller``);
  when the agent's turn has ended the caller sends ``Finalize`` and takes the final transcripts.
  What the caller hears is then what a speech recognizer makes of the agent's voice. The sandbox
  Deepgram fake transcribes from its registry (nothing registers the agent's lines there, so it
  answers its default words): use it with real Deepgram, or in tests that register the lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Protocol, cast
from urllib.parse import urlencode

from chalicelib.settings import get_settings
from media.evalcaller.peer import RATE, WebCallPeer
from media.providers.base import ws_url
from media.providers.keys import provider_key

log = logging.getLogger("voice.media.evalcaller")

FINALIZE_WAIT_S = 3.0  # the longest wait for Deepgram's answer to Finalize
KEEPALIVE_S = 4.0  # Deepgram closes a socket idle for 10 s (the caller speaking is idle for it)


def _final(msg: object) -> tuple[str, bool] | None:
    """(transcript, from_finalize) of a final ``Results`` message; None for anything else."""
    if not isinstance(msg, dict):
        return None
    fields = cast("dict[str, Any]", msg)  # JSON boundary
    if fields.get("type") != "Results" or not fields.get("is_final"):
        return None
    channel = fields.get("channel")
    alternatives = cast("dict[str, Any]", channel).get("alternatives") if isinstance(channel, dict) else None
    first = cast("list[Any]", alternatives)[0] if isinstance(alternatives, list) and alternatives else None
    text = cast("dict[str, Any]", first).get("transcript") if isinstance(first, dict) else None
    return (str(text or "").strip(), bool(fields.get("from_finalize")))


class HearingFailed(RuntimeError):
    """The speech-to-text service could not be reached."""


class Hearing(Protocol):
    async def start(self) -> None: ...

    async def heard(self) -> str:
        """The agent's words since the last call (the agent's turn has just ended)."""
        ...

    async def close(self) -> None: ...


class TranscriptHearing:
    def __init__(self, peer: WebCallPeer) -> None:
        self.peer = peer
        self._upto = 0

    async def start(self) -> None:
        return None

    async def heard(self) -> str:
        lines = self.peer.agent_lines[self._upto:]
        self._upto += len(lines)
        return " ".join(lines)

    async def close(self) -> None:
        return None


class DeepgramHearing:
    def __init__(self, peer: WebCallPeer, org_id: str, call_id: str, language: str | None = None) -> None:
        self.peer, self.org_id, self.call_id, self.language = peer, org_id, call_id, language
        self.ws: Any = None
        self.finals: list[str] = []
        self._upto = 0
        self._audio: asyncio.Queue[bytes] = asyncio.Queue()
        self._finalized = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def url(self) -> str:
        base = ws_url((get_settings().deepgram_url or "wss://api.deepgram.com").rstrip("/"))
        query = {"model": "nova-3", "encoding": "linear16", "sample_rate": str(RATE), "channels": "1",
                 "punctuate": "true", "smart_format": "true", "tag": f"{self.call_id}:caller"}
        if self.language:
            query["language"] = self.language
        return f"{base}/v1/listen?{urlencode(query)}"

    async def start(self) -> None:
        import websockets

        key, _ = await asyncio.to_thread(provider_key, self.org_id, "deepgram")
        try:
            self.ws = await websockets.connect(self.url(), additional_headers={"Authorization": f"Token {key}"},
                                               open_timeout=10, max_size=None)
        except (OSError, websockets.InvalidHandshake) as exc:
            raise HearingFailed(f"Deepgram unreachable: {type(exc).__name__}") from None
        self.peer.on_agent_audio = self._audio.put_nowait
        self._tasks = [asyncio.ensure_future(self._send()), asyncio.ensure_future(self._recv()),
                       asyncio.ensure_future(self._keepalive())]

    async def _send(self) -> None:
        with contextlib.suppress(Exception):  # the socket closed: hearing stops, the call goes on
            while True:
                frame = await self._audio.get()
                try:
                    await self.ws.send(frame)
                finally:
                    self._audio.task_done()

    async def _keepalive(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(KEEPALIVE_S)
                await self.ws.send(json.dumps({"type": "KeepAlive"}))

    async def _recv(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                final = _final(json.loads(raw))
                if final is None:
                    continue
                text, from_finalize = final
                if text:
                    self.finals.append(text)
                if from_finalize:
                    self._finalized.set()

    async def heard(self) -> str:
        if self.ws is not None:
            with contextlib.suppress(TimeoutError):  # what arrived before the turn ended goes out first
                await asyncio.wait_for(self._audio.join(), FINALIZE_WAIT_S)
            self._finalized.clear()
            with contextlib.suppress(Exception):
                await self.ws.send(json.dumps({"type": "Finalize"}))
                await asyncio.wait_for(self._finalized.wait(), FINALIZE_WAIT_S)
        text = " ".join(self.finals[self._upto:])
        self._upto = len(self.finals)
        return text

    async def close(self) -> None:
        self.peer.on_agent_audio = None
        for task in self._tasks:
            task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.send(json.dumps({"type": "CloseStream"}))
                await self.ws.close()
