"""Ring-time preparation of one call: its plan, greeting audio and provider connections.

The greeting is synthesized as a stream (``start_greeting``): a stream that starts while it is still
arriving plays what is there and follows the rest. Once whole, the audio is kept in the process's
greeting cache and stored with the call (``ControlPlane.store_greeting``), so whichever task receives
the stream can play it at once (``stored_greeting``); the connections stay with this task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from chalicelib.models.media import PreparedGreeting
from media.call.greeting import GreetingAudio
from media.controlplane import control_plane
from media.plan import CallPlan, build_plan
from media.providers.greeting import can_synthesize, greeting_fingerprint, greeting_stream
from media.providers.greeting_cache import greeting_cache
from media.providers.warm import Warm, realtime_greeting, warm_up

log = logging.getLogger("voice.media.prepared")


@dataclass
class Prepared:
    """Ring-time warm-up for one call (/prepare): published as soon as the plan is built and the greeting's
    synthesis has started; the provider connections may still be opening (``warming``)."""

    plan: CallPlan
    greeting: GreetingAudio | None
    warm: Warm | None = None  # provider connections opened at ring time, once ``warming`` is done
    warming: asyncio.Task[Warm | None] | None = None
    created: float = field(default_factory=time.monotonic)
    # The TTL timer: cancelled when a call takes this, or it would pin the call's memory.
    expiry: asyncio.TimerHandle | None = None

    def settled(self) -> bool:
        """Is everything prepare started done (connections open or failed, greeting whole and stored)?"""
        synthesis = self.greeting.task if self.greeting is not None else None
        return (self.warming is None or self.warming.done()) and (synthesis is None or synthesis.done())

    def warm_up_done(self, task: asyncio.Task[Warm | None]) -> None:
        """The connections are open (or failed): the call takes them without waiting."""
        if task is self.warming:
            self.warm, self.warming = _warm_of(task), None

    async def warmed(self, timeout: float) -> Warm | None:  # noqa: ASYNC109 - a bound on the wait, not a shared deadline
        """The ring-time connections, waiting (bounded) for a warm-up still in flight; None if too slow
        (the call connects its own; ``aclose`` closes these once they are open)."""
        if self.warming is not None:
            done, _ = await asyncio.wait({self.warming}, timeout=timeout)
            if not done:
                return None
            self.warm, self.warming = _warm_of(self.warming), None
        return self.warm

    async def aclose(self) -> None:
        """Close the connections no call adopted (after a warm-up still in flight has finished)."""
        if self.warming is not None:
            warming, self.warming = self.warming, None
            await asyncio.wait({warming})  # never raises
            self.warm = _warm_of(warming)
        if self.warm is not None:
            await self.warm.aclose()


def _warm_of(task: asyncio.Task[Warm | None]) -> Warm | None:
    """A finished warm-up's connections (a failed or cancelled one holds none)."""
    return None if task.cancelled() or task.exception() is not None else task.result()


def start_greeting(plan: CallPlan, *, store: bool) -> GreetingAudio | None:
    """Start the first message's audio: whole at once from the process's cache, else streamed from the TTS
    (None when the plan's TTS has no such synthesis). ``store``: also keep it with the call for the task
    that gets the stream (ring time)."""
    if not can_synthesize(plan):
        return None
    key = (plan.org_id, greeting_fingerprint(plan))
    cached = greeting_cache().get(key)
    if cached is not None:
        audio = GreetingAudio.whole(cached)
        if store:
            audio.task = asyncio.create_task(_store(plan, cached))
        return audio
    audio = GreetingAudio()
    audio.task = asyncio.create_task(_synthesize(plan, audio, store=store))
    return audio


async def _synthesize(plan: CallPlan, audio: GreetingAudio, *, store: bool) -> None:
    ok = False
    try:
        async for chunk in greeting_stream(plan):
            audio.feed(chunk)
        ok = True
    except Exception as exc:  # noqa: BLE001 - any failure: what arrived plays; with nothing, the pipeline's TTS says it
        log.warning("greeting synthesis for call %s failed: %s", plan.call_id, exc)
    finally:
        audio.finish(failed=not ok)
    whole = audio.complete()
    if whole is None:
        return
    greeting_cache().put((plan.org_id, greeting_fingerprint(plan)), whole)
    if store:
        await _store(plan, whole)


async def _store(plan: CallPlan, audio: bytes) -> None:
    """Keep the greeting with the call (best effort: the store may be down)."""
    greeting = PreparedGreeting(org_id=plan.org_id, call_id=plan.call_id, fingerprint=greeting_fingerprint(plan),
                                audio=audio)
    try:
        await asyncio.to_thread(control_plane().store_greeting, greeting)
    except Exception:  # noqa: BLE001 - a task other than this one will synthesize it at answer
        log.warning("greeting of call %s not stored", plan.call_id, exc_info=True)


async def prepare(org_id: str, call_id: str) -> Prepared | None:
    """Plan the call, start its greeting and open its provider connections.

    Returns once the plan is built and the greeting started (cascade; connections still opening in
    ``warming``), or once the realtime greeting was generated (speech-to-speech). None when the call
    does not exist; raises UnsupportedConfig for a config the call cannot run.
    """
    setup = await asyncio.to_thread(control_plane().load_call, org_id, call_id)
    if setup is None:
        return None
    plan = build_plan(org_id, call_id, setup.direction, setup.data)
    if plan.realtime:  # speech-to-speech: the model says the first message now, on the held socket
        warm = await warm_up(plan)
        audio = await realtime_greeting(warm, plan)
        return Prepared(plan=plan, greeting=GreetingAudio.whole(audio) if audio else None, warm=warm)
    warming = asyncio.create_task(warm_up(plan))
    prepared = Prepared(plan=plan, greeting=start_greeting(plan, store=True), warming=warming)
    warming.add_done_callback(prepared.warm_up_done)
    return prepared


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
