"""The caller's voice and speech: what ElevenLabs is asked for, a line's stretches between ``<pause>``
marks, and (sandbox only) telling the STT fakes what the caller is about to say.

``CallerVoice``: the scenario's voice (an ElevenLabs voice id, else ``EVAL_CALLER_VOICE_ID``),
language (``language_code``) and pace (``voice_settings.speed``, which ElevenLabs accepts from 0.7 to
1.2: a pace outside that is clamped); ``media.evalcaller.pipecaller`` gives them to Pipecat's
ElevenLabs HTTP TTS, with the org's ElevenLabs key, else the platform's, as for the org's calls.

``Registrar``: the sandbox STT fakes transcribe from a registry of what callers said they would say
(``sandbox.registry``); with ``SANDBOX_REGISTRY_URLS`` set (the dev stack, tests) each stretch of
speech is registered there under the call id before it is spoken. Unset (AWS), nothing is sent.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from media.providers.base import http_url
from media.providers.pool import shared_http_client
from media.settings import get_media_settings

log = logging.getLogger("voice.media.evalcaller")

MIN_SPEED, MAX_SPEED = 0.7, 1.2  # ElevenLabs' voice_settings.speed range
_PAUSE = re.compile(r"<\s*pause\s+(\d+(?:\.\d+)?)\s*(ms|s)\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


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


@dataclass(frozen=True)
class CallerVoice:
    """How the caller sounds at ElevenLabs: the voice id, ``language_code`` and ``voice_settings.speed``."""

    voice_id: str
    language_code: str | None  # ISO 639-1, as ElevenLabs takes it
    speed: float

    @classmethod
    def of(cls, voice: str | None, language: str | None, pace: float, default_voice: str) -> CallerVoice:
        """The scenario's voice (else ``default_voice``), its language, its pace clamped to ElevenLabs' range."""
        return cls(voice or default_voice, language.split("-")[0].lower() if language else None,
                   min(MAX_SPEED, max(MIN_SPEED, pace)))


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
