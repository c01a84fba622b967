"""Assemble the per-call Pipecat pipeline for a plan (the only place that wires Pipecat together)."""

from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipecat.frames.frames import ErrorFrame, Frame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMAssistantAggregator,
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.services.llm_service import FunctionCallParams
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.turns.user_turn_strategies import ExternalUserTurnStrategies
from starlette.websockets import WebSocket

from media.conversation import new_context
from media.pipeline.brain import CallBrain, TurnHost
from media.pipeline.gate import Probe, SpeculationGate
from media.pipeline.listen import load_models
from media.pipeline.playback import CallWebsocketTransport
from media.plan import CallPlan
from media.providers.base import SAMPLE_RATE, Services

log = logging.getLogger("voice.media.pipeline")


class PipelineHost(TurnHost, Protocol):
    """The call a pipeline is built for."""

    stream_sid: str

    async def handle_function_call(self, params: FunctionCallParams) -> None:
        """Run one of the LLM's tool calls."""
        ...

    def on_probe(self, name: str, frame: Frame) -> None:
        """First LLM token / TTS audio of a reply."""
        ...

    def on_realtime_user(self, text: str) -> None:
        """Speech-to-speech: the model transcribed a caller turn."""
        ...

    def on_pipeline_error(self, error: str, *, tts_broken: bool) -> None:
        """A provider's retries are spent."""
        ...

    def on_disconnected(self) -> None:
        """The stream closed."""
        ...


@dataclass
class Built:
    """A call's pipeline and the handles the call needs."""

    worker: PipelineWorker
    brain: CallBrain
    context: LLMContext
    llm: Any
    services: Services
    started: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: bool = False
    error: str | None = None
    realtime: bool = False

    async def start_realtime(self) -> None:
        """Give the realtime model the call's context (it greets, or goes on from the ring-time greeting)."""
        await self.brain.run_llm(self.context)


def preload() -> None:
    """Import Pipecat and the common services, and load the listening models, once at process start
    (not per call, not at import)."""
    for module in ("pipecat.services.deepgram.stt", "pipecat.services.elevenlabs.tts",
                   "pipecat.services.openai.llm", "pipecat.workers.runner"):
        importlib.import_module(module)
    load_models()


def build_pipeline(host: PipelineHost, serializer: FrameSerializer, ws: WebSocket, plan: CallPlan,
                   services: Services) -> Built:
    """The call's pipeline: transport in, STT, brain, LLM, gate, TTS, transport out (or the realtime model)."""
    context = new_context(plan)
    transport = CallWebsocketTransport(
        websocket=ws,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False,
            audio_in_sample_rate=SAMPLE_RATE, audio_out_sample_rate=SAMPLE_RATE,
            audio_out_end_silence_secs=0, audio_in_passthrough=True,
            serializer=serializer, allowed_origins=[]))

    gate = None if plan.realtime else SpeculationGate()
    brain = CallBrain(host, pass_audio=plan.realtime, gate=gate, settings=plan.turn, playback=transport.output())
    llm = services.llm
    llm.register_function(None, host.handle_function_call)
    processors: list[FrameProcessor]
    if plan.realtime:
        # The realtime service owns turn detection (server VAD) and transcription.
        pair = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(
            user_turn_strategies=ExternalUserTurnStrategies()))
        user_agg, assistant = pair.user(), pair.assistant()

        @user_agg.event_handler("on_user_turn_message_added")
        async def _user_turn(_agg: Any, message: Any) -> None:  # pyright: ignore[reportUnusedFunction]
            host.on_realtime_user(message.content)

        processors = [transport.input(), brain, user_agg, llm, transport.output(), assistant]
    else:
        assert gate is not None and services.stt is not None and services.tts is not None  # noqa: S101 - invariant: a non-realtime plan resolves STT and TTS
        processors = [transport.input(), services.stt, brain, llm, Probe("llm", host.on_probe), gate,
                      services.tts, Probe("tts", host.on_probe), transport.output(),
                      LLMAssistantAggregator(context)]

    worker = PipelineWorker(
        Pipeline(processors),
        params=PipelineParams(audio_in_sample_rate=SAMPLE_RATE, audio_out_sample_rate=SAMPLE_RATE,
                              enable_metrics=False, enable_usage_metrics=False,
                              send_initial_empty_metrics=False),
        idle_timeout_secs=None, enable_rtvi=False, enable_turn_tracking=False,
        check_dangling_tasks=False, observers=[], name=f"call-{plan.call_id[:8]}")
    built = Built(worker=worker, brain=brain, context=context, llm=llm, services=services, realtime=plan.realtime)

    @worker.event_handler("on_pipeline_started")
    async def _started(_worker: Any, _frame: Any) -> None:  # pyright: ignore[reportUnusedFunction]
        built.started.set()

    @worker.event_handler("on_pipeline_error")
    async def _error(_worker: Any, frame: ErrorFrame) -> None:  # pyright: ignore[reportUnusedFunction]
        # A provider error reaching the worker means its own retries are spent: the caller would only
        # hear silence from here on, so the call apologises (when TTS still works) and ends with the reason.
        processor = getattr(frame, "processor", None)
        name = str(getattr(processor, "name", "pipeline"))
        built.error = f"provider failure: {name}: {frame.error}"[:300]
        log.warning("call %s: %s", plan.call_id, built.error)
        host.on_pipeline_error(built.error, tts_broken="TTS" in name)

    @transport.event_handler("on_client_disconnected")
    async def _disconnected(_transport: Any, _ws: Any) -> None:  # pyright: ignore[reportUnusedFunction]
        built.disconnected = True
        host.on_disconnected()

    return built
