"""The caller's voice: provider TTS for its lines, and (sandbox only) telling the STT fakes what it says.

``CallerVoice`` asks ElevenLabs' HTTP stream endpoint (``ELEVENLABS_URL`` points it at the sandbox
fake) for PCM16 16 kHz, the web socket's format, with the scenario's voice (an ElevenLabs voice id,
else ``EVAL_CALLER_VOICE_ID``), language (``language_code``) and pace (``voice_settings.speed``,
which ElevenLabs accepts from 0.7 to 1.2: a pace outside that is clamped). The key is the org's
ElevenLabs key, else the platform's, as for the org's calls.

``Registrar``: the sandbox STT fakes transcribe from a registry of what callers said they would say
(``sandbox.registry``); with ``SANDBOX_REGISTRY_URLS`` set (the dev stack, tests) each stretch of
speech is registered there under the call id before it is spoken. Unset (AWS), nothing is sent.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.settings import get_settings
from media.evalcaller.peer import RATE, silence
from media.providers.base import http_url
from media.providers.elevenlabs import DEFAULT_TTS_MODEL
from media.providers.keys import provider_key
from media.providers.pool import shared_http_client
from media.settings import get_media_settings

log = logging.getLogger("voice.media.evalcaller")

MIN_SPEED, MAX_SPEED = 0.7, 1.2  # ElevenLabs' voice_settings.speed range
_PAUSE = re.compile(r"<\s*pause\s+(\d+(?:\.\d+)?)\s*(ms|s)\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


class SpeechFailed(RuntimeError):
    """The TTS provider produced no audio for a line."""


def speech_parts(text: str) -> list[tuple[str, float]]:
    """``text`` split at its ``<pause 800ms>`` marks: (words, silence after them in ms) per stretch;
    other ``<...>`` marks are dropped (never spoken aloud)."""
    parts: list[tuple[str, float]] = []
    pos = 0
    for m in _PAUSE.finditer(text):
        ms = float(m.group(1)) * (1000 if m.group(2).lower() == "s" else 1)
        parts.append((_TAG.sub(" ", text[pos:m.start()]).strip(), ms))
        pos = m.end()
    parts.append((_TAG.sub(" ", text[pos:]).strip(), 0.0))
    return [(" ".join(words.split()), pause) for words, pause in parts if words or pause]


@dataclass
class CallerVoice:
    org_id: str
    voice: str | None = None
    language: str | None = None
    pace: float = 1.0

    def request(self, text: str) -> tuple[str, dict[str, Any]]:
        """The TTS request for ``text``: URL and JSON body."""
        base = http_url((get_settings().elevenlabs_url or "https://api.elevenlabs.io").rstrip("/"))
        voice_id = self.voice or get_media_settings().eval_caller_voice_id
        body: dict[str, Any] = {"text": text, "model_id": DEFAULT_TTS_MODEL,
                                "voice_settings": {"speed": min(MAX_SPEED, max(MIN_SPEED, self.pace))}}
        if self.language:
            body["language_code"] = self.language.split("-")[0].lower()  # ISO 639-1, as ElevenLabs takes it
        return f"{base}/v1/text-to-speech/{voice_id}/stream?output_format=pcm_{RATE}", body

    async def synthesize(self, text: str) -> bytes:
        """PCM16 16 kHz speech for ``text`` (SpeechFailed when the provider gives none)."""
        key, _ = await asyncio.to_thread(provider_key, self.org_id, "elevenlabs")
        url, body = self.request(text)
        client = shared_http_client()
        if client is None:  # pragma: no cover - always called inside the event loop
            raise SpeechFailed("no event loop")
        try:
            resp = await client.post(url, json=body, headers={"xi-api-key": key}, timeout=15.0)
        except Exception as exc:  # noqa: BLE001 - any transport failure is a failed line
            raise SpeechFailed(f"TTS unreachable: {type(exc).__name__}") from None
        if resp.status_code != 200 or not resp.content:
            raise SpeechFailed(f"TTS answered HTTP {resp.status_code}")
        audio = resp.content
        return audio[:len(audio) - len(audio) % 2]

    async def render(self, text: str) -> tuple[bytes, list[str]]:
        """Speech for a line with its ``<pause>`` silences, and the stretches of words it contains."""
        pcm, words = b"", list[str]()
        for stretch, pause in speech_parts(text):
            if stretch:
                pcm += await self.synthesize(stretch)
                words.append(stretch)
            pcm += silence(pause)
        return pcm, words


@dataclass
class Registrar:
    """Registers what the caller is about to say with the sandbox STT fakes (no-op without URLs)."""

    urls: list[str]

    @classmethod
    def from_settings(cls) -> Registrar:
        raw = get_media_settings().sandbox_registry_urls or ""
        return cls([http_url(u.strip().rstrip("/")) for u in raw.split(",") if u.strip()])

    async def register(self, call_id: str, utterances: list[str]) -> None:
        if not self.urls or not utterances:
            return
        client = shared_http_client()
        if client is None:  # pragma: no cover - always called inside the event loop
            return
        for url in self.urls:
            try:
                await client.post(f"{url}/sandbox/calls/{call_id}/utterances",
                                  json={"utterances": utterances, "append": True}, timeout=5.0)
            except Exception as exc:  # noqa: BLE001 - the line is still spoken; the fake transcribes its default
                log.warning("call %s: sandbox registry %s unreachable: %s", call_id, url, type(exc).__name__)
