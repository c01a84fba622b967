"""Gladia live STT (Solaria), with the assistant's languages, vocabulary and translation settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipecat.services.gladia.config import (
    CustomVocabularyConfig,
    LanguageConfig,
    RealtimeProcessingConfig,
    TranslationConfig,
)
from pipecat.services.gladia.stt import GladiaSTTService

from chalicelib.settings import get_settings
from media.providers.base import SAMPLE_RATE

if TYPE_CHECKING:
    from media.plan import CallPlan


def build_stt(plan: CallPlan, key: str) -> GladiaSTTService:
    """Gladia's live endpoint; ``GLADIA_URL`` (settings) points it at ``{url}/v2/live`` (a fake)."""
    cfg = plan.stt or {}
    languages = cfg.get("languages") or ([cfg["language"]] if cfg.get("language") not in (None, "multi") else None)
    rt = RealtimeProcessingConfig(
        custom_vocabulary=bool(cfg.get("custom_vocabulary")) or None,
        custom_vocabulary_config=CustomVocabularyConfig(vocabulary=list(cfg["custom_vocabulary"]))
        if cfg.get("custom_vocabulary") else None,
        translation=bool(cfg.get("translation_enabled")) or None,
        translation_config=TranslationConfig(target_languages=cfg.get("translation_target_languages"))
        if cfg.get("translation_enabled") else None)
    settings = GladiaSTTService.Settings(
        model=cfg.get("model") or "solaria-1", endpointing=cfg.get("endpointing"),
        language_config=LanguageConfig(languages=languages, code_switching=cfg.get("code_switching")),
        realtime_processing=rt, custom_metadata={"call_id": plan.call_id})
    kwargs: dict[str, Any] = {}
    gladia_url = get_settings().gladia_url
    if gladia_url:
        kwargs["url"] = gladia_url.rstrip("/") + "/v2/live"
    return GladiaSTTService(api_key=key, region=cfg.get("region"), sample_rate=SAMPLE_RATE,
                            settings=settings, **kwargs)
