"""Ring-time preparation of one call: its plan, greeting audio and provider connections."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from media.controlplane import control_plane
from media.plan import CallPlan, build_plan
from media.providers.greeting import synthesize_greeting
from media.providers.warm import Warm, realtime_greeting, warm_up


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


async def prepare(org_id: str, call_id: str) -> Prepared | None:
    """Plan the call, synthesize its greeting and open its provider connections, in parallel.

    None when the call does not exist; raises UnsupportedConfig for a config the call cannot run.
    """
    setup = await asyncio.to_thread(control_plane().load_call, org_id, call_id)
    if setup is None:
        return None
    plan = build_plan(org_id, call_id, setup.direction, setup.data)
    greeting = None
    if plan.first_message and not plan.realtime:
        greeting = synthesize_greeting(plan, plan.first_message)
    audio, warm = await asyncio.gather(greeting or _no_audio(), warm_up(plan))
    if plan.realtime:  # speech-to-speech: the model says the first message now, on the held socket
        audio = await realtime_greeting(warm, plan)
    return Prepared(plan=plan, greeting_audio=audio, warm=warm)
