"""Mistral: Voxtral realtime STT and the OpenAI-compatible chat LLM (on the shared HTTP pool)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipecat.services.mistral import llm as pipecat_mistral
from pipecat.services.mistral.stt import MistralSTTService

from chalicelib.settings import get_settings
from media.providers.base import SAMPLE_RATE, language
from media.providers.openai import PooledClientMixin, chat_settings

if TYPE_CHECKING:
    from media.plan import CallPlan


class MistralLLMService(PooledClientMixin, pipecat_mistral.MistralLLMService):
    """Pipecat's Mistral LLM service on the shared pool (Pipecat's class name: processors are named after it)."""


def build_stt(plan: CallPlan, key: str) -> MistralSTTService:
    """Voxtral realtime transcription; ``MISTRAL_URL`` (settings) points it at a fake."""
    cfg = plan.stt or {}
    return MistralSTTService(api_key=key, base_url=get_settings().mistral_url or None, sample_rate=SAMPLE_RATE,
                             settings=MistralSTTService.Settings(
                                 model=cfg.get("model") or "voxtral-mini-latest",
                                 language=language(cfg.get("language"))))


def build_llm(plan: CallPlan, key: str) -> MistralLLMService:
    """Mistral chat completions at ``{MISTRAL_URL}/v1``."""
    s = get_settings()
    settings = chat_settings(MistralLLMService.Settings, plan, "mistral-small-latest")
    base = (s.mistral_url.rstrip("/") + "/v1") if s.mistral_url else "https://api.mistral.ai/v1"
    return MistralLLMService(api_key=key, base_url=base, settings=settings)
