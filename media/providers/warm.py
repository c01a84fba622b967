"""Ring-time provider warm-up: connections opened while the phone rings, handed to the call.

- **LLM** (OpenAI-compatible: openai, xai, mistral): every call's service shares one pooled HTTP client
  per event loop (``media.providers.pool``). Prepare opens connections through the pool
  (:class:`~media.providers.base.PoolWarmable`: ``GET {base}/models``, twice concurrently with
  speculative replies on, since a withdrawn guess overlaps the real request), so the call's first
  completions reuse open connections.
- **STT** (Deepgram live), **TTS** (ElevenLabs multi-stream-input) and **speech-to-speech** (xAI
  realtime): the call's service is built at prepare time and asked to open its connection now
  (:class:`~media.providers.base.RingTimeWarmable`), with exactly the URL, query and key it would use
  at pipeline start; when the pipeline starts, the service adopts it instead of connecting. A socket no
  call adopted is closed by ``Warm.aclose`` (the prepared TTL in ``media.server``), or at once when the
  call takes other services (``Warm.discard_rest``).
- **Realtime greeting**: on an outbound speech-to-speech call the model says the first message on the
  held session while the phone rings (:class:`~media.providers.base.RingTimeGreeter`).

Nothing here is required for a call to work: any warm-up that fails leaves the call to connect at
pipeline start, as without prepare. Only the public protocols are used on services.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from media.conversation import new_context
from media.providers import factory
from media.providers.base import PoolWarmable, ProviderKey, RingTimeGreeter, RingTimeWarmable, Slot
from media.providers.keys import resolve_keys
from media.providers.pool import shared_http_client
from media.providers.ringtime import HeldSocket, Warm
from media.settings import get_media_settings

if TYPE_CHECKING:
    from pipecat.services.ai_service import AIService

    from media.plan import CallPlan

__all__ = ["HeldSocket", "Warm", "llm_connections", "realtime_greeting", "shared_http_client", "warm_up"]

log = logging.getLogger("voice.media.warm")

GREETING_TIMEOUT_SECONDS = 8.0


def llm_connections() -> int:
    """Connections to warm per call: a speculative reply that is withdrawn overlaps the real one (and a
    cancelled stream's connection is closed, not pooled), so with speculation a turn may need two."""
    return 2 if get_media_settings().media_speculative_replies else 1


async def warm_up(plan: CallPlan) -> Warm | None:
    """Build the call's services and open their connections (never raises; None when nothing applies)."""
    try:
        keys = await asyncio.to_thread(resolve_keys, plan)
    except Exception as exc:  # noqa: BLE001 - the control plane is unreachable: the call resolves keys itself
        log.info("ring-time warm-up: keys unavailable (%s)", type(exc).__name__)
        return None
    if plan.realtime:
        return await _warm_realtime(plan, keys)
    warm = Warm()
    waits: list[Awaitable[bool]] = []
    try:
        llm = factory.build_llm(plan, keys["llm"][0])
        if isinstance(llm, PoolWarmable):
            warm.services["llm"], warm.keys["llm"] = llm, keys["llm"][0]
            waits.append(llm.warm_connections(llm_connections()))
        assert plan.stt is not None and plan.tts is not None  # noqa: S101 - a cascade plan has both
        if factory.opens_at_ring_time("stt", plan.stt.get("provider")):
            _hold(warm, "stt", factory.build_stt(plan, keys["stt"][0]), keys["stt"][0])
        if factory.opens_at_ring_time("tts", plan.tts.get("provider")):
            _hold(warm, "tts", factory.build_tts(plan, keys["tts"][0]), keys["tts"][0])
    except Exception:  # a config the call itself will reject with a reason
        log.exception("ring-time warm-up: building services failed")
        await warm.aclose()
        return None
    results = await asyncio.gather(*waits, *(h.wait_open() for h in warm.held.values()))
    warm.llm_warm = bool(waits) and bool(results[0])
    for kind, held in warm.held.items():
        if held.conn is None:  # failed: the call builds and connects its own
            warm.services.pop(kind, None)
    return warm


def _hold(warm: Warm, kind: Slot, service: AIService, key: str) -> None:
    """Have ``service`` open its connection now, and keep both for the call."""
    if not isinstance(service, RingTimeWarmable):
        raise TypeError(f"{type(service).__name__} cannot open its connection at ring time")
    warm.held[kind] = service.hold_ring_connection()
    warm.services[kind], warm.keys[kind] = service, key


async def _warm_realtime(plan: CallPlan, keys: dict[Slot, ProviderKey]) -> Warm | None:
    warm = Warm()
    try:
        _hold(warm, "llm", factory.build_llm(plan, keys["llm"][0]), keys["llm"][0])
    except Exception:  # a config the call itself will reject with a reason
        log.exception("ring-time warm-up: building the realtime service failed")
        await warm.aclose()
        return None
    if not await warm.held["llm"].wait_open():
        warm.services.pop("llm", None)  # failed: the call builds and connects its own
    return warm


async def realtime_greeting(warm: Warm | None, plan: CallPlan) -> bytes | None:
    """The first message generated at ring time on the held realtime session, as mu-law 8 kHz (the
    session's output format), or None: no socket, no first message, voicemail detection on (the
    greeting waits for a human, and the model must not remember a greeting a machine never heard),
    or generation failed. A failure closes the socket: its conversation state is unknown, so the call
    builds and connects its own service and the model greets at answer, as without prepare.

    Outbound calls only: the whole greeting must be generated before prepare is done, which fits in
    an outbound call's ringing; an inbound stream starts moments after the webhook answered, and would
    wait for it (at most 2 s, then connect cold) instead of hearing the model's greeting as it streams."""
    if warm is None or not plan.realtime or not plan.first_message or plan.voicemail_detection \
            or plan.direction != "outbound":
        return None
    held, llm = warm.held.get("llm"), warm.services.get("llm")
    if llm is None or held is None or held.conn is None or not isinstance(llm, RingTimeGreeter):
        return None
    try:
        return await asyncio.wait_for(llm.greet_at_ring_time(new_context(plan)), GREETING_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure: the call connects its own service and greets at answer
        log.info("ring-time realtime greeting failed: %s", type(exc).__name__)
        warm.services.pop("llm", None)
        await held.aclose()
        return None
