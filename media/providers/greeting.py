"""The first message as audio before the call is answered: mu-law 8 kHz, what Twilio plays as is.

Synthesized over HTTP while the phone rings (or at answer), so the greeting leaves the moment the
stream starts. ElevenLabs today; other TTS providers return None and the pipeline's TTS speaks it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from media.providers import keys as provider_keys

if TYPE_CHECKING:
    from media.plan import CallPlan


async def synthesize_greeting(plan: CallPlan, text: str) -> bytes | None:
    """``text`` in the plan's TTS voice as mu-law 8 kHz, or None (no such synthesis, no text, or it failed)."""
    tts = plan.tts or {}
    if tts.get("provider") != "elevenlabs" or not text:
        return None
    from media.providers import elevenlabs

    key, _ = await asyncio.to_thread(provider_keys.provider_key, plan.org_id, "elevenlabs")
    return await elevenlabs.synthesize_ulaw(tts, text, key)


def greeting_fingerprint(plan: CallPlan) -> str:
    """Names the audio ``synthesize_greeting`` makes for this plan: the text and every TTS setting.

    A task that takes a greeting stored by another one plays it only when the fingerprints match."""
    import hashlib
    import json

    basis = json.dumps({"text": plan.first_message, "tts": plan.tts}, sort_keys=True, default=str)
    return hashlib.sha256(basis.encode()).hexdigest()
