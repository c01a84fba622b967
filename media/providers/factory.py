"""Assistant config -> Pipecat services: STT, LLM and TTS, or one speech-to-speech service.

Dispatches each pipeline slot to its vendor module (imported on first use). Every provider URL comes
from settings so a protocol-faithful fake can stand in; keys come from ``media.providers.keys``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from media.plan import UnsupportedConfig
from media.providers import keys as provider_keys
from media.providers.base import AnyLLMService, ProviderKey, Services, Slot

if TYPE_CHECKING:
    from pipecat.services.ai_service import AIService
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService

    from media.plan import CallPlan
    from media.providers.ringtime import Warm

S = TypeVar("S", bound="AIService")

# Providers whose services implement RingTimeWarmable: warm_up builds them and opens their socket
# while the phone rings. (The pooled chat LLMs are PoolWarmable and always warmed.)
RING_TIME_PROVIDERS: dict[Slot, frozenset[str]] = {
    "stt": frozenset({"deepgram"}), "tts": frozenset({"elevenlabs"}), "llm": frozenset({"xai_realtime"})}


def opens_at_ring_time(kind: Slot, provider: str | None) -> bool:
    """Does the slot's service for ``provider`` open its connection at ring time?"""
    return provider in RING_TIME_PROVIDERS[kind]


def build_stt(plan: CallPlan, key: str) -> STTService:
    """The plan's speech-to-text service."""
    provider = (plan.stt or {}).get("provider")
    if provider == "deepgram":
        from media.providers import deepgram

        return deepgram.build_stt(plan, key)
    if provider == "elevenlabs":
        from media.providers import elevenlabs

        return elevenlabs.build_stt(plan, key)
    if provider == "gladia":
        from media.providers import gladia

        return gladia.build_stt(plan, key)
    if provider == "mistral":
        from media.providers import mistral

        return mistral.build_stt(plan, key)
    raise UnsupportedConfig(f"STT provider '{provider}' is not supported")


def build_llm(plan: CallPlan, key: str) -> AnyLLMService:
    """The plan's LLM: a chat-completions service, or the speech-to-speech one (``xai_realtime``)."""
    provider = plan.llm.get("provider")
    if provider == "openai":
        from media.providers import openai

        return openai.build_llm(plan, key)
    if provider == "xai":
        from media.providers import openai

        return openai.build_xai_llm(plan, key)
    if provider == "mistral":
        from media.providers import mistral

        return mistral.build_llm(plan, key)
    if provider == "xai_realtime":
        from media.providers import xai_realtime

        return xai_realtime.build_llm(plan, key)
    raise UnsupportedConfig(f"LLM provider '{provider}' is not supported")


def build_tts(plan: CallPlan, key: str) -> TTSService:
    """The plan's text-to-speech service."""
    provider = (plan.tts or {}).get("provider")
    if provider == "elevenlabs":
        from media.providers import elevenlabs

        return elevenlabs.build_tts(plan, key)
    if provider == "inworld":
        from media.providers import inworld

        return inworld.build_tts(plan, key)
    raise UnsupportedConfig(f"TTS provider '{provider}' is not supported")


def build_services(plan: CallPlan, keys: dict[Slot, ProviderKey] | None = None, warm: Warm | None = None) -> Services:
    """The call's STT/LLM/TTS (or realtime) services; ``warm`` holds what ring-time prepare opened.

    ``keys`` (from ``resolve_keys``, fetched off the loop) are looked up here for any slot missing.
    A prepared service is taken when it was built with the same key; else the call builds its own.
    """
    from pipecat.services.llm_service import LLMService
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService

    byok: dict[str, bool] = {}

    def service(kind: Slot, provider: str, build: Callable[[CallPlan, str], S], cls: type[S]) -> S:
        if keys is not None and kind in keys:
            key, is_byok = keys[kind]
        else:
            key, is_byok = provider_keys.provider_key(plan.org_id, provider_keys.key_provider(provider))
        byok[kind] = is_byok
        prepared = warm.take(kind, key) if warm is not None else None
        return prepared if isinstance(prepared, cls) else build(plan, key)

    llm = service("llm", plan.llm["provider"], build_llm, LLMService)
    if plan.realtime:
        return Services(stt=None, llm=llm, tts=None, byok=byok)
    assert plan.stt is not None and plan.tts is not None  # noqa: S101 - a cascade plan has both
    stt = service("stt", plan.stt["provider"], build_stt, STTService)
    tts = service("tts", plan.tts["provider"], build_tts, TTSService)
    if warm is not None:
        warm.discard_rest()
    return Services(stt=stt, llm=llm, tts=tts, byok=byok)
