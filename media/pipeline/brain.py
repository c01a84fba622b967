"""Turn-taking between STT and LLM: the caller's turn ends on the STT's own endpoint.

The brain replaces Pipecat's user aggregator: it ends the caller's turn on the STT's own endpoint
(Deepgram ``speech_final``) instead of waiting for a local VAD + turn model, filters backchannels,
fires barge-in on the first real word heard while the agent speaks, turns DTMF into text, starts a
speculative reply on a stable interim transcript, and tracks activity for silence handling.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterimTranscriptionFrame,
    LLMContextFrame,
    StartFrame,
    TranscriptionFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from media.pipeline.gate import SpeculationGate
from media.utterances import is_backchannel, normalize


class TurnHost(Protocol):
    """What the brain asks of the call it serves."""

    @property
    def last_voice_at(self) -> float | None:
        """When the caller's last voiced frame arrived (monotonic)."""
        ...

    def on_bot_started(self) -> None: ...

    def on_bot_stopped(self) -> None: ...

    def note_user_speech(self) -> None: ...

    def greeting_playing(self) -> bool: ...

    def interruptible(self) -> bool: ...

    def may_speculate(self) -> bool: ...

    def speculative_context(self, text: str) -> LLMContext: ...

    def on_barge_in(self) -> None: ...

    def record_backchannel(self, text: str) -> None: ...

    def note_final(self) -> None: ...

    async def on_user_turn(self, text: str, dtmf: str | None = None, speculated: bool = False) -> None: ...


class CallBrain(FrameProcessor):
    """Turn taking between STT and LLM (see module docstring)."""

    def __init__(self, session: TurnHost, *, pass_audio: bool = False, endpoint_fallback_secs: float = 0.8,
                 dtmf_flush_secs: float = 1.2, gate: SpeculationGate | None = None,
                 speculate_quiet: float = 0.12) -> None:
        super().__init__(name="call-brain")  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self.s = session
        self._pass_audio = pass_audio
        self.gate = gate
        self._speculate_quiet = speculate_quiet
        self._spec_task: asyncio.Task[None] | None = None
        self.spec_text: str | None = None  # the interim a speculative reply is running for
        self.spec_hits = 0
        self.spec_misses = 0
        self._finals: list[str] = []
        self._endpoint_task: asyncio.Task[None] | None = None
        self._dtmf: list[str] = []
        self._dtmf_task: asyncio.Task[None] | None = None
        self._endpoint_fallback = endpoint_fallback_secs
        self._dtmf_flush = dtmf_flush_secs
        self.bot_speaking = False
        self.last_activity = time.monotonic()
        self._started = False

    # --- frame flow -------------------------------------------------------------------------
    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            self._started = True
            return
        if isinstance(frame, (EndFrame, CancelFrame)):
            self._cancel_tasks()
            if self._spec_task and not self._spec_task.done():
                self._spec_task.cancel()
            await self.push_frame(frame, direction)
            return
        if isinstance(frame, BotStartedSpeakingFrame):
            self.bot_speaking = True
            self.s.on_bot_started()
            await self.push_frame(frame, direction)
            return
        if isinstance(frame, BotStoppedSpeakingFrame):
            self.bot_speaking = False
            self.last_activity = time.monotonic()
            self.s.on_bot_stopped()
            await self.push_frame(frame, direction)
            return
        if isinstance(frame, InterimTranscriptionFrame):
            await self._on_interim(frame)
            return
        if isinstance(frame, TranscriptionFrame):
            await self._on_final(frame)
            return
        if isinstance(frame, InputDTMFFrame):
            await self._on_dtmf(frame)
            return
        if isinstance(frame, InputAudioRawFrame):
            # Cascade: STT consumed it already. Speech-to-speech: the model needs it.
            if self._pass_audio:
                await self.push_frame(frame, direction)
            return
        await self.push_frame(frame, direction)

    def _cancel_tasks(self) -> None:
        for task in (self._endpoint_task, self._dtmf_task):
            if task and not task.done():
                task.cancel()

    def agent_audible(self) -> bool:
        return self.bot_speaking or self.s.greeting_playing()

    async def _on_interim(self, frame: InterimTranscriptionFrame) -> None:
        text = frame.text.strip()
        if not text:
            return
        self.last_activity = time.monotonic()
        self.s.note_user_speech()
        if self.agent_audible() and not is_backchannel(text) and self.s.interruptible():
            await self.barge_in()
            return
        if self.gate is not None and not self.agent_audible() and not self._finals and self.s.may_speculate():
            # Stable interim = no newer transcript for a moment: start the reply now, hold its output.
            if self._spec_task and not self._spec_task.done():
                self._spec_task.cancel()
            self._spec_task = self.create_task(self._speculate_later(text), name="speculate")  # pyright: ignore[reportUnknownMemberType] - Task[Unknown]

    async def _speculate_later(self, text: str) -> None:
        # Stable: this is still the newest interim (a newer one cancels this task) and the caller's
        # audio has been quiet for a moment, so the words are probably all in. The STT's final comes
        # later (its endpointing wait), which is the time this wins.
        while True:
            wait = (self.s.last_voice_at or 0.0) + self._speculate_quiet - time.monotonic()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        if self.spec_text is not None:
            if normalize(self.spec_text) == normalize(text):
                return
            await self.cancel_speculation()
        if self.gate is None:
            return
        self.spec_text = text
        self.gate.hold()
        await self.push_frame(LLMContextFrame(context=self.s.speculative_context(text)))

    async def cancel_speculation(self) -> None:
        if self.spec_text is None:
            return
        self.spec_text = None
        self.spec_misses += 1
        if self.gate is not None:
            self.gate.drop()
        await self.broadcast_interruption()

    async def barge_in(self) -> None:
        self.s.on_barge_in()
        await self.broadcast_interruption()

    async def _on_final(self, frame: TranscriptionFrame) -> None:
        text = frame.text.strip()
        self.last_activity = time.monotonic()
        if self._spec_task and not self._spec_task.done():
            self._spec_task.cancel()
        if not text:
            return
        self.s.note_user_speech()
        result = getattr(frame, "result", None)
        speech_final = bool(getattr(result, "speech_final", False))
        if self.agent_audible() and not self._finals and is_backchannel(text):
            # A backchannel while the agent speaks: heard, not a turn.
            self.s.record_backchannel(text)
            return
        if self.agent_audible() and self.s.interruptible():
            await self.barge_in()
        self._finals.append(text)
        self.s.note_final()
        if speech_final:
            await self.end_turn()
        else:
            self._arm_endpoint()

    def _arm_endpoint(self) -> None:
        if self._endpoint_task and not self._endpoint_task.done():
            self._endpoint_task.cancel()
        self._endpoint_task = self.create_task(self._endpoint_after(), name="endpoint-fallback")  # pyright: ignore[reportUnknownMemberType] - Task[Unknown]

    async def _endpoint_after(self) -> None:
        await asyncio.sleep(self._endpoint_fallback)
        await self.end_turn()

    async def end_turn(self) -> None:
        if self._endpoint_task and not self._endpoint_task.done() and asyncio.current_task() is not self._endpoint_task:
            self._endpoint_task.cancel()
        if not self._finals:
            return
        text = " ".join(self._finals)
        self._finals = []
        if self.spec_text is not None:
            if normalize(self.spec_text) == normalize(text):
                self.spec_text = None
                self.spec_hits += 1
                await self.s.on_user_turn(text, speculated=True)
                if self.gate is not None:
                    await self.gate.release()
                return
            await self.cancel_speculation()
        await self.s.on_user_turn(text)

    async def _on_dtmf(self, frame: InputDTMFFrame) -> None:
        self._dtmf.append(frame.button.value)
        self.last_activity = time.monotonic()
        if self._dtmf_task and not self._dtmf_task.done():
            self._dtmf_task.cancel()
        self._dtmf_task = self.create_task(self._flush_dtmf(), name="dtmf-flush")  # pyright: ignore[reportUnknownMemberType] - Task[Unknown]

    async def _flush_dtmf(self) -> None:
        await asyncio.sleep(self._dtmf_flush)
        digits = "".join(self._dtmf)
        self._dtmf = []
        if digits:
            await self.s.on_user_turn(f"[The caller pressed the keypad keys: {digits}]", dtmf=digits)

    async def run_llm(self, context: Any) -> None:
        await self.push_frame(LLMContextFrame(context=context))

    async def push(self, frame: Frame) -> None:
        await self.push_frame(frame)
