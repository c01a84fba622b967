"""Assemble the per-call Pipecat pipeline for a plan (the only place that wires Pipecat together)."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from media.plan import CallPlan
from media.processors import CallBrain, Probe, SpeculationGate, TwilioSerializer
from media.services import SAMPLE_RATE, build_services

if TYPE_CHECKING:
    from media.session import CallSession

log = logging.getLogger("voice.media.pipeline")

PROVIDER_APOLOGY = "I'm sorry, I'm having technical difficulties. Please call back later."


@dataclass
class Built:
    worker: Any
    brain: CallBrain
    context: Any
    llm: Any
    services: Any
    started: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: bool = False
    error: str | None = None
    realtime: bool = False

    async def start_realtime(self) -> None:
        await self.brain.run_llm(self.context)


def preload() -> None:
    """Import Pipecat and the common services once at process start (not per call, not at import)."""
    import pipecat.pipeline.worker  # noqa: F401
    import pipecat.processors.aggregators.llm_response_universal  # noqa: F401
    import pipecat.services.deepgram.stt  # noqa: F401
    import pipecat.services.elevenlabs.tts  # noqa: F401
    import pipecat.services.openai.llm  # noqa: F401
    import pipecat.transports.websocket.fastapi  # noqa: F401
    import pipecat.workers.runner  # noqa: F401


def tools_schema(plan: CallPlan):
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

    if not plan.tools:
        return None
    return ToolsSchema(standard_tools=[
        FunctionSchema(name=t.name, description=t.description,
                       properties=(t.parameters or {}).get("properties") or {},
                       required=list((t.parameters or {}).get("required") or []))
        for t in plan.tools])


def initial_messages(plan: CallPlan) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": plan.system_prompt}]
    messages.extend(plan.history)
    if plan.realtime and plan.first_message:
        messages.append({"role": "system", "content": f'Start the call by saying exactly: "{plan.first_message}"'})
    return messages


def build_pipeline(session: CallSession, plan: CallPlan, keys: dict | None = None, warm: Any = None) -> Built:
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import LLMAssistantAggregator
    from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

    services = build_services(plan, keys, warm)
    schema = tools_schema(plan)
    context = LLMContext(initial_messages(plan), tools=schema) if schema else LLMContext(initial_messages(plan))

    transport = FastAPIWebsocketTransport(
        websocket=session.ws,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False,
            audio_in_sample_rate=SAMPLE_RATE, audio_out_sample_rate=SAMPLE_RATE,
            audio_out_end_silence_secs=0, audio_in_passthrough=True,
            serializer=TwilioSerializer(session), allowed_origins=[]))

    gate = None if plan.realtime else SpeculationGate()
    quiet_ms = float(os.environ.get("MEDIA_SPECULATE_QUIET_MS", "120"))
    brain = CallBrain(session, pass_audio=plan.realtime, gate=gate, speculate_quiet=quiet_ms / 1000)
    llm = services.llm
    llm.register_function(None, session.handle_function_call)
    if plan.realtime:
        from pipecat.processors.aggregators.llm_response_universal import (
            LLMContextAggregatorPair,
            LLMUserAggregatorParams,
        )
        from pipecat.turns.user_turn_strategies import ExternalUserTurnStrategies

        # The realtime service owns turn detection (server VAD) and transcription.
        pair = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(
            user_turn_strategies=ExternalUserTurnStrategies()))
        user_agg, assistant = pair.user(), pair.assistant()

        @user_agg.event_handler("on_user_turn_message_added")
        async def _user_turn(_agg, message):
            session.on_realtime_user(message.content)

        processors = [transport.input(), brain, user_agg, llm, transport.output(), assistant]
    else:
        assistant = LLMAssistantAggregator(context)
        processors = [transport.input(), services.stt, brain, llm, Probe("llm", session.on_probe), gate,
                      services.tts, Probe("tts", session.on_probe), transport.output(), assistant]

    worker = PipelineWorker(
        Pipeline(processors),
        params=PipelineParams(audio_in_sample_rate=SAMPLE_RATE, audio_out_sample_rate=SAMPLE_RATE,
                              enable_metrics=False, enable_usage_metrics=False,
                              send_initial_empty_metrics=False),
        idle_timeout_secs=None, enable_rtvi=False, enable_turn_tracking=False,
        check_dangling_tasks=False, observers=[], name=f"call-{plan.call_id[:8]}")
    built = Built(worker=worker, brain=brain, context=context, llm=llm, services=services, realtime=plan.realtime)

    @worker.event_handler("on_pipeline_started")
    async def _started(_worker, _frame):
        built.started.set()

    @worker.event_handler("on_pipeline_error")
    async def _error(_worker, frame):
        # A provider error reaching the worker means its own retries are spent: the caller would only
        # hear silence from here on, so apologise (when TTS still works) and end with the reason.
        processor = getattr(frame, "processor", None)
        name = getattr(processor, "name", "pipeline")
        built.error = f"provider failure: {name}: {frame.error}"[:300]
        log.warning("call %s: %s", plan.call_id, built.error)
        if not session._ending:
            tts_broken = "TTS" in name
            asyncio.get_running_loop().create_task(session.end(
                "error", error=built.error, message=None if tts_broken else PROVIDER_APOLOGY))

    @transport.event_handler("on_client_disconnected")
    async def _disconnected(_transport, _ws):
        built.disconnected = True
        if not session._ending:
            session.twilio_stopped = True
            asyncio.get_running_loop().create_task(session.end("customer_hangup"))

    return built
