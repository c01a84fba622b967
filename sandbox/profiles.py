"""Timing profiles for the sandbox providers: one place for every fake's latency knobs.

``REFERENCE`` is what the benches and e2e tests run against: figures in the range real providers
show (Deepgram recognises a few hundred ms late and adds ~150 ms after its end condition; an LLM's
first token ~300 ms; TTS first byte ~100 ms). ``INSTANT`` removes every delay: it flatters a client
(speculation on interims looks free), so use it only for tests that are about content, not timing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TimingProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    stt_final_delay_ms: float = Field(ge=0)  # after endpointing silence, or after Finalize
    stt_recognition_lag_ms: float = Field(ge=0)  # interim words trail the audio by this much
    stt_interim_interval_ms: float = Field(gt=0)
    llm_first_token_delay_ms: float = Field(ge=0)
    llm_token_delay_ms: float = Field(ge=0)
    tts_first_byte_delay_ms: float = Field(ge=0)
    realtime_first_audio_delay_ms: float = Field(ge=0)


REFERENCE = TimingProfile(name="reference", stt_final_delay_ms=150, stt_recognition_lag_ms=300,
                          stt_interim_interval_ms=300, llm_first_token_delay_ms=300, llm_token_delay_ms=10,
                          tts_first_byte_delay_ms=100, realtime_first_audio_delay_ms=400)
INSTANT = TimingProfile(name="instant", stt_final_delay_ms=0, stt_recognition_lag_ms=0,
                        stt_interim_interval_ms=100, llm_first_token_delay_ms=0, llm_token_delay_ms=0,
                        tts_first_byte_delay_ms=0, realtime_first_audio_delay_ms=0)
PROFILES = {p.name: p for p in (REFERENCE, INSTANT)}


def profile(name: str) -> TimingProfile:
    """The named profile; ValueError names the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown timing profile {name!r}; known: {', '.join(PROFILES)}") from None
