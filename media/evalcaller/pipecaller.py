"""The eval caller as a Pipecat pipeline: a client of the web call's socket (docs/evals.md).

``WebsocketClientTransport`` dials ``/web/{call_id}`` with ``WebCallSerializer`` (binary PCM16 16 kHz
both ways, JSON events in); a pass-through mixer keeps the output transport sending a frame every
chunk, silence when the caller says nothing, like a microphone. The persona is Pipecat's
``OpenAILLMService`` with a context aggregator pair and an ``end_call`` function; its replies are
spoken by Pipecat's ``ElevenLabsHttpTTSService`` (PCM 16 kHz, the caller's voice, language and pace).
The turn loop (``PipelineCaller._turns``) decides when the caller answers: each time the agent has
spoken and gone quiet, its words since the caller last spoke are appended to the context and the LLM
runs. Scripted lines (``PipelineCaller._lines``) skip the LLM: each stretch of a line is a
``TTSSpeakFrame`` through the same TTS and output.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipecat.audio.mixers.base_audio_mixer import BaseAudioMixer
from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMMessagesAppendFrame,
    LLMTextFrame,
    OutputAudioRawFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.utils.time import time_now_iso8601

from media.evalcaller.persona import END_CALL_DESCRIPTION
from media.evalcaller.speech import CallerVoice, Registrar, speech_parts

if TYPE_CHECKING:
    from pipecat.frames.frames import MixerControlFrame

    from chalicelib.models.media import RunCaller

log = logging.getLogger("voice.media.evalcaller")

RATE = 16000
FIRST_WORDS_WAIT_S = 8.0  # the agent's greeting (or silence: then the caller starts)
TURN_TIMEOUT_S = 30.0  # longest wait for the agent's reply before the caller goes on
HANG_UP_AFTER_S = 1.0
CONNECT_WAIT_S = 12.0  # the transport's own open timeout is 10 s
CLOSE_WAIT_S = 5.0
FORBIDDEN = 403
SPEAK_WAIT_S = 60.0  # the longest stretch of speech
END_CALL_WAIT_S = 2.0


class CallerFailed(RuntimeError):
    """The caller could not play its part: ``end_reason`` (the closed set) says how the call ends."""

    def __init__(self, end_reason: str, message: str) -> None:
        super().__init__(message)
        self.end_reason = end_reason
FINALIZE_WAIT_S = 3.0  # the longest wait for Deepgram's answer to Finalize


@dataclass
class SocketState:
    """What the caller saw on the socket: the agent's audio arrivals, its final lines, clears, the end."""

    agent_audio_at: list[float] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)  # what the caller heard: transcript events or STT finals
    finalized: asyncio.Event = field(default_factory=asyncio.Event)
    clears: int = 0
    end_reason: str | None = None
    connected: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class WebCallSerializer(FrameSerializer):
    """docs/web-calls.md's socket as Pipecat frames, from the browser's side: the agent's audio as
    ``InputAudioRawFrame``, its final lines (``transcript`` events) as ``TranscriptionFrame`` when the
    caller hears through them (``transcripts``; else a recognizer makes its own from the audio)."""

    def __init__(self, state: SocketState, *, transcripts: bool = True) -> None:
        super().__init__()  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self.state = state
        self.transcripts = transcripts

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, OutputAudioRawFrame):
            return frame.audio
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            self.state.agent_audio_at.append(time.monotonic())
            return InputAudioRawFrame(audio=data, sample_rate=RATE, num_channels=1)
        event = json.loads(data)
        kind = event.get("type")
        if kind == "transcript" and event.get("role") == "assistant" and self.transcripts:
            return TranscriptionFrame(text=str(event.get("text") or ""), user_id="agent",
                                      timestamp=time_now_iso8601(), finalized=True)
        if kind == "clear":
            self.state.clears += 1
        elif kind == "call-ended":
            self.state.end_reason = str(event.get("reason") or "")
        return None


class Microphone(BaseAudioMixer):
    """Mixes nothing in: with a mixer the output transport sends silence between utterances."""

    async def start(self, sample_rate: int) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def process_frame(self, frame: MixerControlFrame) -> None:
        return None

    async def mix(self, audio: bytes) -> bytes:
        return audio


class Ears(FrameProcessor):
    """After hearing: keeps the recognizer's final transcripts, and lets neither the agent's audio nor
    transcripts reach the persona's context (the turn loop decides what it heard and when)."""

    def __init__(self, state: SocketState) -> None:
        super().__init__()  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self.state = state

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            if frame.text.strip():
                self.state.heard.append(frame.text.strip())
            if frame.finalized:  # Deepgram's answer to Finalize (a transcript event is final too)
                self.state.finalized.set()
        elif not isinstance(frame, (InputAudioRawFrame, InterimTranscriptionFrame, VADUserStoppedSpeakingFrame)):
            await self.push_frame(frame, direction)


@dataclass
class ReplyTracker:
    """The persona's replies as they leave the LLM, and when the last one finished playing."""

    replies: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    played: asyncio.Event = field(default_factory=asyncio.Event)
    failure: str | None = None
    exception: Exception | None = None  # what the failing processor raised, when it raised


class ReplyWatch(FrameProcessor):
    """After the LLM: collects each reply's text (one item per LLM response)."""

    def __init__(self, tracker: ReplyTracker) -> None:
        super().__init__()  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self.tracker = tracker
        self._text: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMFullResponseStartFrame):
            self._text = []
        elif isinstance(frame, LLMTextFrame):
            self._text.append(frame.text)
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.tracker.replies.put_nowait("".join(self._text).strip())
        await self.push_frame(frame, direction)


class PlayWatch(FrameProcessor):
    """After the output transport: the caller's speech has been sent (BotStoppedSpeaking), or a service
    failed (an HTTP TTS error travels downstream as an ``ErrorFrame``, never reaching the worker)."""

    def __init__(self, tracker: ReplyTracker, failed: Callable[[ErrorFrame], None]) -> None:
        super().__init__()  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self.tracker = tracker
        self.failed = failed

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStoppedSpeakingFrame):
            self.tracker.played.set()
        elif isinstance(frame, ErrorFrame):
            self.failed(frame)
        await self.push_frame(frame, direction)


def append_frame(heard: str) -> LLMMessagesAppendFrame:
    """The agent's words as the persona's next ``user`` message (none when it said nothing), run the LLM."""
    messages: list[Any] = [{"role": "user", "content": heard}] if heard else []
    return LLMMessagesAppendFrame(messages=messages, run_llm=True)


def error_text(frame: ErrorFrame) -> str:
    """Which service failed and how (bounded: it becomes the call's ``error``)."""
    processor = getattr(frame, "processor", None)
    return f"{getattr(processor, 'name', 'pipeline')}: {frame.error}"[:300]


class PipelineCaller:
    """One caller's pipeline on one web call: the persona's turns, or the scripted lines."""

    def __init__(self, message: RunCaller, registrar: Registrar, outcome: Any, *, hearing: str = "transcript",
                 tts_base_url: str | None = None) -> None:
        self.message, self.registrar, self.outcome = message, registrar, outcome
        self.hearing = hearing
        self.tts_base_url = tts_base_url
        self.state = SocketState()
        self.tracker = ReplyTracker()
        self.hung_up = asyncio.Event()
        self._worker: Any = None
        self._running: asyncio.Task[Any] | None = None
        self._assistant: FrameProcessor | None = None

    async def _key(self, provider: str) -> str:
        from media.providers.keys import provider_key

        key, _ = await asyncio.to_thread(provider_key, self.message.org_id, provider)
        return key

    def _stt(self, key: str) -> Any:
        """Deepgram live STT of the agent's audio (``tag=<call id>:caller``)."""
        from pipecat.services.deepgram.stt import DeepgramSTTService

        from chalicelib.settings import get_settings

        settings = DeepgramSTTService.Settings(model="nova-3", language=self.message.language or "en",
                                               interim_results=False, punctuate=True, smart_format=True)
        return DeepgramSTTService(api_key=key, base_url=get_settings().deepgram_url or "", sample_rate=RATE,
                                  encoding="linear16", tag=f"{self.message.call_id}:caller", settings=settings)

    def _tts(self, key: str, session: Any) -> Any:
        from pipecat.services.elevenlabs.tts import ElevenLabsHttpTTSService

        from chalicelib.settings import get_settings
        from media.providers.base import http_url
        from media.providers.elevenlabs import DEFAULT_TTS_MODEL
        from media.settings import get_media_settings

        m = self.message
        base = http_url((self.tts_base_url or get_settings().elevenlabs_url or "https://api.elevenlabs.io").rstrip("/"))
        voice = CallerVoice.of(m.voice, m.language, m.pace, get_media_settings().eval_caller_voice_id)
        settings = ElevenLabsHttpTTSService.Settings(voice=voice.voice_id, model=DEFAULT_TTS_MODEL, speed=voice.speed)
        if voice.language_code:
            settings.language = voice.language_code
        return ElevenLabsHttpTTSService(api_key=key, aiohttp_session=session, base_url=base, sample_rate=RATE,
                                        settings=settings)

    def _llm(self, key: str) -> Any:
        from pipecat.frames.frames import FunctionCallResultProperties

        from chalicelib.settings import get_settings
        from media.providers.openai import OpenAILLMService
        from media.settings import get_media_settings

        llm = OpenAILLMService(api_key=key, base_url=get_settings().openai_base_url or None,
                               settings=OpenAILLMService.Settings(model=get_media_settings().eval_caller_model))

        async def end_call(params: Any) -> None:
            self.hung_up.set()
            await params.result_callback({"ok": True}, properties=FunctionCallResultProperties(run_llm=False))

        llm.register_function("end_call", end_call)
        return llm

    def _persona(self, system_prompt: str, llm_key: str) -> list[FrameProcessor]:
        """The persona's brain: context aggregators around the LLM (with ``end_call``)."""
        from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
        from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
        from pipecat.processors.aggregators.llm_context import LLMContext
        from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair

        end_call = FunctionSchema(name="end_call", description=END_CALL_DESCRIPTION, properties={}, required=[])
        context = LLMContext(messages=[{"role": "system", "content": system_prompt}], tools=ToolsSchema([end_call]))
        pair = LLMContextAggregatorPair(context)
        self._assistant = pair.assistant()
        return [pair.user(), self._llm(llm_key), ReplyWatch(self.tracker)]

    async def run(self, system_prompt: str | None) -> None:
        """Play the persona (``system_prompt``) or, without one, the scripted lines; then hang up."""
        import aiohttp
        from pipecat.pipeline.pipeline import Pipeline
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker
        from pipecat.transports.websocket.client import WebsocketClientParams, WebsocketClientTransport
        from pipecat.workers.runner import WorkerRunner

        tts_key = await self._key("elevenlabs")
        persona = system_prompt is not None
        brain = self._persona(system_prompt, await self._key("openai")) if system_prompt is not None else []
        stt = [self._stt(await self._key("deepgram"))] if persona and self.hearing == "deepgram" else []
        serializer = WebCallSerializer(self.state, transcripts=self.hearing != "deepgram")
        transport = WebsocketClientTransport(self.message.websocket_url, WebsocketClientParams(
            serializer=serializer, add_wav_header=False, audio_in_enabled=True, audio_out_enabled=True,
            audio_in_sample_rate=RATE, audio_out_sample_rate=RATE, audio_out_mixer=Microphone(),
            audio_out_end_silence_secs=0))

        @transport.event_handler("on_connected")
        async def _connected(_t: Any, _ws: Any) -> None:  # pyright: ignore[reportUnusedFunction]
            self.state.connected = True

        @transport.event_handler("on_disconnected")
        async def _disconnected(_t: Any, _ws: Any) -> None:  # pyright: ignore[reportUnusedFunction]
            self.state.closed.set()

        async with aiohttp.ClientSession() as session:
            worker = PipelineWorker(
                Pipeline([transport.input(), *stt, Ears(self.state), *brain, self._tts(tts_key, session),
                          transport.output(), PlayWatch(self.tracker, self._failed),
                          *([self._assistant] if self._assistant else [])]),
                params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE, enable_metrics=False),
                idle_timeout_secs=None, enable_rtvi=False, enable_turn_tracking=False, check_dangling_tasks=False,
                observers=[], name=f"caller-{self.message.call_id[:8]}")

            @worker.event_handler("on_pipeline_error")
            async def _error(_w: Any, frame: ErrorFrame) -> None:  # pyright: ignore[reportUnusedFunction]
                self._failed(frame)

            runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
            await runner.add_workers(worker)
            self._worker, self._running = worker, asyncio.create_task(runner.run())
            try:
                await self._connected(self._running)
                await self._agent_turn_end(time.monotonic(), FIRST_WORDS_WAIT_S)
                if persona:
                    await self._turns(worker)
                else:
                    await self._lines(worker, self.message.lines or [])
                self._check_socket()
            finally:
                await self.close()

    def _failed(self, frame: ErrorFrame) -> None:
        """A service of the caller failed: the turn loops stop and the call ends with the reason."""
        self.tracker.failure = self.tracker.failure or error_text(frame)
        self.tracker.exception = self.tracker.exception or frame.exception
        self.state.closed.set()

    async def close(self) -> None:
        """Hang up: end the pipeline after what is queued has been sent (the socket closes), bounded."""
        running, worker = self._running, self._worker
        if running is None or running.done():
            return
        await worker.queue_frame(EndFrame())
        try:
            await asyncio.wait_for(asyncio.shield(running), CLOSE_WAIT_S)
        except TimeoutError:
            await worker.cancel()
            await running

    async def _until(self, awaitable: Any, timeout: float) -> Any:  # noqa: ASYNC109 - a bounded wait
        """``awaitable``'s result, or None when the socket closed or ``timeout`` passed first."""
        task = asyncio.ensure_future(awaitable)
        closed = asyncio.ensure_future(self.state.closed.wait())
        done, _ = await asyncio.wait([task, closed], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if task in done:
            return task.result()
        task.cancel()
        return None

    async def _agent_turn_end(self, since: float, timeout: float, quiet_ms: float = 700) -> bool:  # noqa: ASYNC109 - a deadline for a polling wait
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.state.closed.is_set():
            arrivals = self.state.agent_audio_at
            last = arrivals[-1] if arrivals else None
            if last is not None and last >= since and (time.monotonic() - last) * 1000 >= quiet_ms:
                return True
            await asyncio.sleep(0.02)
        return False

    async def _heard(self, worker: Any, upto: int) -> tuple[str, int]:
        """The agent's words since the caller last spoke: its transcript events, or what the recognizer
        made of its audio once asked to finalize (Deepgram's ``Finalize``, sent on VAD stop)."""
        if self.hearing == "deepgram":
            self.state.finalized.clear()
            await worker.queue_frame(VADUserStoppedSpeakingFrame())
            await self._until(self.state.finalized.wait(), FINALIZE_WAIT_S)
        return " ".join(self.state.heard[upto:]), len(self.state.heard)

    async def _connected(self, running: asyncio.Task[Any]) -> None:
        deadline = time.monotonic() + CONNECT_WAIT_S
        while not self.state.connected and not running.done() and time.monotonic() < deadline:
            if self.tracker.failure:
                break
            await asyncio.sleep(0.01)
        if not self.state.connected:
            refused = self.tracker.exception
            if refused is not None and getattr(getattr(refused, "response", None), "status_code", None) == FORBIDDEN:
                raise refused  # websockets.InvalidStatus 403: the token was refused (see runner.failure)
            raise CallerFailed("failed_to_connect", "the call socket could not be opened: "
                               f"{self.tracker.failure or 'no answer'}")

    def _check_socket(self) -> None:
        """Raise when the caller's pipeline failed or the socket was dropped without ``call-ended``."""
        if self.tracker.failure:
            raise CallerFailed("provider_error", f"the caller's pipeline failed: {self.tracker.failure}")
        if self.state.closed.is_set() and self.state.end_reason is None:
            # The media service dropped the socket without ending the call (refused at capacity, crashed).
            raise CallerFailed("failed_to_connect" if not self.state.agent_audio_at else "media_failure",
                               "the call socket closed without call-ended")

    async def _agent_audio_after(self, since: float, timeout: float) -> float | None:  # noqa: ASYNC109 - a deadline for a polling wait
        """When the agent's first audio after ``since`` arrived (None: none within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.state.closed.is_set():
            i = bisect.bisect_left(self.state.agent_audio_at, since)  # arrival times only grow
            if i < len(self.state.agent_audio_at):
                return self.state.agent_audio_at[i]
            await asyncio.sleep(0.01)
        return None

    async def _say(self, worker: Any, text: str) -> None:
        """Speak a scripted line: each stretch between ``<pause>`` marks, then its silence."""
        parts = speech_parts(text)
        words = [stretch for stretch, _ in parts if stretch]
        await self.registrar.register(self.message.call_id, words)
        for stretch, pause_ms in parts:
            if stretch:
                self.tracker.played.clear()
                await worker.queue_frame(TTSSpeakFrame(stretch))
                await self._until(self.tracker.played.wait(), SPEAK_WAIT_S)
            await asyncio.sleep(pause_ms / 1000)
        self.outcome.said.append(" ".join(words))

    async def _lines(self, worker: Any, lines: list[Any]) -> None:
        """Scripted lines with their think time (``pause_ms``) or barge-in (``barge_in_after_ms``)."""
        since = time.monotonic()
        for line in lines[:self.message.max_turns]:
            if self.state.closed.is_set():
                return
            if line.barge_in_after_ms is not None:
                first = await self._agent_audio_after(since, TURN_TIMEOUT_S)
                if first is not None:
                    await asyncio.sleep(max(0.0, first + line.barge_in_after_ms / 1000 - time.monotonic()))
            elif self.outcome.said:
                await self._agent_turn_end(since, TURN_TIMEOUT_S)
            await asyncio.sleep(line.pause_ms / 1000)
            if line.dtmf:
                log.info("call %s: DTMF %r skipped (a web call carries no DTMF)", self.message.call_id, line.dtmf)
            if line.text.strip():
                await self._say(worker, line.text)
                since = time.monotonic()
        if not self.state.closed.is_set() and self.outcome.said:
            await self._agent_turn_end(since, TURN_TIMEOUT_S)

    async def _turns(self, worker: Any) -> None:
        upto = 0
        for _ in range(self.message.max_turns):
            if self.state.closed.is_set():
                break
            heard, upto = await self._heard(worker, upto)
            self.tracker.played.clear()
            await worker.queue_frame(append_frame(heard))
            text = await self._until(self.tracker.replies.get(), TURN_TIMEOUT_S)
            if text is None:
                break
            if text:
                await self.registrar.register(self.message.call_id, [text])
                self.outcome.said.append(text)
                await self._until(self.tracker.played.wait(), SPEAK_WAIT_S)
                if not self.hung_up.is_set():
                    await self._agent_turn_end(time.monotonic(), TURN_TIMEOUT_S)
            else:
                await self._until(self.hung_up.wait(), END_CALL_WAIT_S)  # the function call follows the text
            if self.hung_up.is_set():
                if text:
                    await asyncio.sleep(HANG_UP_AFTER_S)
                self.outcome.end = "end_call"
                return
            if not text:
                return
