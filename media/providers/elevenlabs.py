"""ElevenLabs: realtime STT (Scribe), multi-stream-input TTS in mu-law (warmable at ring time), and the
first message's streamed HTTP synthesis.

The TTS asks ElevenLabs for ``ulaw_8000`` (what Twilio plays): the pipeline is 8 kHz linear16 and
mu-law -> linear16 -> mu-law is exact, so Twilio receives the bytes ElevenLabs produced, with no
resampling anywhere. Its socket can be opened while the phone rings (``hold_ring_connection``; text
``""`` keeps it alive, ElevenLabs idles out after 20 s without text) and is adopted at pipeline start.
"""

from __future__ import annotations

import audioop  # stdlib in 3.11; mu-law <-> linear16 is exact
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from pipecat.frames.frames import TTSAudioRawFrame
from pipecat.services.elevenlabs.stt import CommitStrategy, ElevenLabsRealtimeSTTService
from pipecat.services.elevenlabs.tts import ElevenLabsTTSService

from chalicelib.settings import get_settings
from media.providers.base import SAMPLE_RATE, http_url, language, ws_url
from media.providers.clauses import ClauseFirstTextAggregator, ends_in_clause_mark
from media.providers.pool import shared_http_client
from media.providers.ringtime import HeldSocket

if TYPE_CHECKING:
    from pipecat.frames.frames import Frame
    from pipecat.utils.context.word_timestamp_tracker import WordTimestamp
    from websockets.asyncio.client import ClientConnection

    from media.plan import CallPlan

log = logging.getLogger("voice.media.providers")

VOICE_SETTINGS = ("stability", "similarity_boost", "use_speaker_boost", "speed", "style")
DEFAULT_TTS_MODEL = "eleven_flash_v2_5"


class UlawElevenLabsTTSService(ElevenLabsTTSService):
    """Pipecat's ElevenLabs multi-stream TTS asking for ``ulaw_8000``, warmable at ring time, speaking a
    reply from its first clause (``media.providers.clauses``)."""

    _ring_socket: HeldSocket[ClientConnection] | None = None  # opened by hold_ring_connection

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped **kwargs
        # Pipecat offers no parameter for the aggregator: replace the sentence one it built.
        self._text_aggregator = ClauseFirstTextAggregator(language=self._text_aggregator.language)

    async def _send_text(self, text: str, context_id: str) -> None:
        await super()._send_text(text, context_id)
        if ends_in_clause_mark(text) and self._websocket and context_id:  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped socket attribute
            # A first clause: generate it now. ElevenLabs buffers text that does not end a sentence
            # (its chunk schedule, or auto mode's sentence trigger); `flush` forces generation.
            await self._websocket.send(json.dumps({"context_id": context_id, "flush": True}))  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped socket attribute

    @property
    def _output_format(self) -> str:
        return "ulaw_8000"

    @_output_format.setter
    def _output_format(self, value: str) -> None:
        pass

    async def append_to_audio_context(self, context_id: str | None, frame: Frame | WordTimestamp | None) -> None:
        if isinstance(frame, TTSAudioRawFrame) and not getattr(frame, "_decoded", False):
            frame.audio = audioop.ulaw2lin(frame.audio, 2)
            frame._decoded = True  # pyright: ignore[reportAttributeAccessIssue]  # decoded once, however often appended
        await super().append_to_audio_context(context_id, frame)

    async def _websocket_connect(self, uri: str, **kwargs: Any) -> ClientConnection:
        # No permessage-deflate: base64 audio barely compresses, and inflating every message is
        # per-frame CPU in the process that carries all the calls (ring-time sockets come here too).
        kwargs.setdefault("compression", None)
        return await super()._websocket_connect(uri, **kwargs)  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs

    def hold_ring_connection(self) -> HeldSocket[ClientConnection]:
        """Open the multi-stream socket now (same URL and key as the service's own connect)."""
        url = self._build_websocket_url()

        @asynccontextmanager
        async def opener() -> AsyncGenerator[ClientConnection]:
            ws = await self._websocket_connect(url, max_size=16 * 1024 * 1024,
                                               additional_headers={"xi-api-key": self._api_key})
            try:
                yield ws
            finally:
                await ws.close()

        held = HeldSocket("elevenlabs", opener, lambda ws: ws, lambda ws: ws.send(json.dumps({"text": ""})),
                          lambda ws: ws.send(json.dumps({"close_socket": True})))
        self._ring_socket = held
        return held

    async def _connect_websocket(self) -> None:
        websocket = self._adopt_ring_socket() if self._websocket is None else None  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped socket attribute
        if websocket is None:
            await super()._connect_websocket()
            return
        self._websocket = websocket  # opened by hold_ring_connection with this service's URL and key
        await self._on_websocket_connected()
        await self._call_event_handler("on_connected")  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped *args

    def _adopt_ring_socket(self) -> ClientConnection | None:
        """The socket opened at ring time, if it is still open (handed over once)."""
        held, self._ring_socket = self._ring_socket, None
        return held.adopt() if held is not None else None


def build_tts(plan: CallPlan, key: str) -> UlawElevenLabsTTSService:
    """Multi-stream-input TTS with the assistant's voice settings; ``ELEVENLABS_URL`` points it at a fake."""
    cfg = plan.tts or {}
    settings = UlawElevenLabsTTSService.Settings(voice=cfg.get("voice_id"), model=cfg.get("model") or DEFAULT_TTS_MODEL)
    for name in VOICE_SETTINGS:
        if cfg.get(name) is not None:
            setattr(settings, name, cfg[name])
    base = get_settings().elevenlabs_url
    url = ws_url(base.rstrip("/")) if base else "wss://api.elevenlabs.io"
    return UlawElevenLabsTTSService(api_key=key, url=url, sample_rate=SAMPLE_RATE, settings=settings)


def build_stt(plan: CallPlan, key: str) -> ElevenLabsRealtimeSTTService:
    """Scribe realtime STT, committing on ElevenLabs' VAD."""
    cfg = plan.stt or {}
    base = (get_settings().elevenlabs_url or "api.elevenlabs.io").split("://")[-1]
    return ElevenLabsRealtimeSTTService(
        api_key=key, base_url=base, commit_strategy=CommitStrategy.VAD,
        sample_rate=cfg.get("sample_rate") or SAMPLE_RATE,
        include_timestamps=bool(cfg.get("include_timestamps")),
        settings=ElevenLabsRealtimeSTTService.Settings(
            model=cfg.get("model") or "scribe_v2_realtime", language=language(cfg.get("language"))))


class SynthesisFailed(RuntimeError):
    """ElevenLabs refused or broke off the greeting's synthesis (the message says how)."""


async def stream_ulaw(tts: Mapping[str, Any], text: str, key: str) -> AsyncIterator[bytes]:
    """``text`` as mu-law 8 kHz through ElevenLabs' HTTP stream endpoint, each chunk as it arrives.

    ``tts`` is the assistant's TTS config (voice, model, voice settings, as the pipeline's TTS uses).
    Raises SynthesisFailed (an HTTP error, or the connection failed before or during the stream).
    """
    import httpx

    base = http_url((get_settings().elevenlabs_url or "https://api.elevenlabs.io").rstrip("/"))
    url = f"{base}/v1/text-to-speech/{tts.get('voice_id')}/stream?output_format=ulaw_8000"
    voice_settings = {k: tts[k] for k in VOICE_SETTINGS if tts.get(k) is not None}
    body: dict[str, Any] = {"text": text, "model_id": tts.get("model") or DEFAULT_TTS_MODEL}
    if voice_settings:
        body["voice_settings"] = voice_settings
    # The process's kept-alive pool: after the first call, no TCP/TLS setup per greeting.
    client = shared_http_client()
    if client is None:  # not in a loop: cannot happen in a coroutine
        raise SynthesisFailed("no event loop")
    try:
        async with client.stream("POST", url, json=body, headers={"xi-api-key": key}, timeout=10.0) as resp:
            if resp.status_code != 200:
                raise SynthesisFailed(f"HTTP {resp.status_code}")
            async for chunk in resp.aiter_bytes():
                yield chunk
    except httpx.HTTPError as exc:
        raise SynthesisFailed(type(exc).__name__) from exc
