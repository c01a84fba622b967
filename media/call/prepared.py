"""Ring-time preparation of one call: its plan, greeting audio and provider connections.

The greeting audio is also stored with the call (``ControlPlane.store_greeting``), so whichever task
receives the stream can play it at once (``stored_greeting``); the connections stay with this task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from chalicelib.models.media import PreparedGreeting
from media.controlplane import control_plane
from media.plan import CallPlan, build_plan
from media.providers.greeting import greeting_fingerprint, synthesize_greeting
from media.providers.warm import Warm, realtime_greeting, warm_up

log = logging.getLogger("voice.media.prepared")


@dataclass
class Prepared:
    """Ring-time warm-up result for one call (/prepare)."""

    plan: CallPlan
    greeting_audio: bytes | None
    warm: Warm | None = None  # provider connections opened at ring time
    created: float = field(default_factory=time.monotonic)
    # The TTL timer: cancelled when a call takes this, or it would pin the call's memory.
    expiry: asyncio.TimerHandle | None = None


async def _no_audio() -> None:
    return None


async def _greeting(plan: CallPlan, text: str) -> bytes | None:
    """Synthesize the greeting and store it with the call (best effort: the store may be down)."""
    audio = await synthesize_greeting(plan, text)
    if audio:
        greeting = PreparedGreeting(org_id=plan.org_id, call_id=plan.call_id,
                                    fingerprint=greeting_fingerprint(plan), audio=audio)
        try:
            await asyncio.to_thread(control_plane().store_greeting, greeting)
        except Exception:  # noqa: BLE001 - a task other than this one will synthesize it at answer
            log.warning("greeting of call %s not stored", plan.call_id, exc_info=True)
    return audio


async def prepare(org_id: str, call_id: str) -> Prepared | None:
    """Plan the call, synthesize (and store) its greeting and open its provider connections, in parallel.

    None when the call does not exist; raises UnsupportedConfig for a config the call cannot run.
    """
    setup = await asyncio.to_thread(control_plane().load_call, org_id, call_id)
    if setup is None:
        return None
    plan = build_plan(org_id, call_id, setup.direction, setup.data)
    greeting = None
    if plan.first_message and not plan.realtime:
        greeting = _greeting(plan, plan.first_message)
    audio, warm = await asyncio.gather(greeting or _no_audio(), warm_up(plan))
    if plan.realtime:  # speech-to-speech: the model says the first message now, on the held socket
        audio = await realtime_greeting(warm, plan)
    return Prepared(plan=plan, greeting_audio=audio, warm=warm)


async def stored_greeting(org_id: str, call_id: str) -> PreparedGreeting | None:
    """The greeting another task prepared for this call, or None (none, or the store failed)."""
    try:
        return await asyncio.to_thread(control_plane().load_greeting, org_id, call_id)
    except Exception:  # noqa: BLE001 - no stored greeting: it is synthesized at answer, as without prepare
        log.warning("stored greeting of call %s not read", call_id, exc_info=True)
        return None


def greeting_for(plan: CallPlan, stored: PreparedGreeting | None) -> bytes | None:
    """The stored audio when it was made for exactly this plan's text and voice (cascade calls only)."""
    if stored is None or plan.realtime or not plan.first_message:
        return None
    if stored.org_id != plan.org_id or stored.fingerprint != greeting_fingerprint(plan):
        return None
    return stored.audio
