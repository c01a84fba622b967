"""Inworld bidirectional streaming TTS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipecat.services.inworld.tts import InworldTTSService

from chalicelib.settings import get_settings
from media.providers.base import SAMPLE_RATE, language, ws_url

if TYPE_CHECKING:
    from media.plan import CallPlan


def build_tts(plan: CallPlan, key: str) -> InworldTTSService:
    """Inworld's ``voice:streamBidirectional`` socket; ``INWORLD_URL`` (settings) points it at a fake."""
    cfg = plan.tts or {}
    settings = InworldTTSService.Settings(voice=cfg.get("voice_id"), model=cfg.get("model") or "inworld-tts-1")
    if cfg.get("language"):
        settings.language = language(cfg["language"])
    if cfg.get("speed") is not None:
        settings.speaking_rate = cfg["speed"]
    kwargs: dict[str, Any] = {}
    inworld_url = get_settings().inworld_url
    if inworld_url:
        kwargs["url"] = ws_url(inworld_url.rstrip("/")) + "/tts/v1/voice:streamBidirectional"
    return InworldTTSService(api_key=key, sample_rate=SAMPLE_RATE, settings=settings, **kwargs)
