"""The first message as audio: mu-law 8 kHz, what Twilio plays as is, streamed as it is synthesized.

Started while the phone rings (or at ``start`` when there was no ring), so the greeting's first chunk
can leave as soon as the stream starts and the rest follows as it arrives. ElevenLabs today; other TTS
providers have no such synthesis and the pipeline's TTS speaks the greeting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from media.providers import keys as provider_keys

if TYPE_CHECKING:
    from media.plan import CallPlan


def can_synthesize(plan: CallPlan) -> bool:
    """Does ``greeting_stream`` apply to this plan (a cascade call with a first message and an ElevenLabs voice)?"""
    return bool(plan.first_message) and not plan.realtime and (plan.tts or {}).get("provider") == "elevenlabs"


async def greeting_stream(plan: CallPlan) -> AsyncIterator[bytes]:
    """The plan's first message in its TTS voice as mu-law 8 kHz chunks, as they arrive.

    Raises ``media.providers.elevenlabs.SynthesisFailed`` when the synthesis is refused or breaks off."""
    from media.providers import elevenlabs

    key, _ = await asyncio.to_thread(provider_keys.provider_key, plan.org_id, "elevenlabs")
    async for chunk in elevenlabs.stream_ulaw(plan.tts or {}, plan.first_message or "", key):
        yield chunk


def greeting_fingerprint(plan: CallPlan) -> str:
    """Names the audio ``greeting_stream`` makes for this plan: the text and every TTS setting.

    A task that takes a greeting stored by another one plays it only when the fingerprints match; the
    process's greeting cache is keyed by it too."""
    import hashlib
    import json

    basis = json.dumps({"text": plan.first_message, "tts": plan.tts}, sort_keys=True, default=str)
    return hashlib.sha256(basis.encode()).hexdigest()
