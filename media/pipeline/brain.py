"""Turn-taking between STT and LLM: the processor that routes the caller's audio, words and keys.

The brain replaces Pipecat's user aggregator. It runs the call's voice activity detector (Silero,
``media.pipeline.listen``) on the caller's audio and hands what it learns to two parts, one job each:
``TurnDecision`` (``media.pipeline.decide``: when the caller's turn is over, and the speculative reply)
and ``Interruptions`` (``media.pipeline.interrupt``: caller speech over the agent). It also turns DTMF
into text, counts LLM requests and tracks activity for silence handling.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

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
    TranscriptionFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from media.pipeline.decide import TurnDecision
from media.pipeline.gate import SpeculationGate
from media.pipeline.host import TurnHost
from media.pipeline.interrupt import Holdable, Interruptions
from media.pipeline.listen import VoiceActivity
from media.plan import TurnSettings

__all__ = ["CallBrain", "TurnHost"]


class CallBrain(FrameProcessor):
    """Turn taking between STT and LLM (see module docstring)."""

    def __init__(self, session: TurnHost, *, pass_audio: bool = False, endpoint_fallback_secs: float = 0.8,
                 dtmf_flush_secs: float = 1.2, gate: SpeculationGate | None = None,
                 settings: TurnSettings | None = None, playback: Holdable | None = None) -> None:
        super().__init__(name="call-brain")  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self.s = session
        self._pass_audio = pass_audio
        turn = settings or TurnSettings()
        # Speech-to-speech: the realtime model detects turns itself (server VAD); no local models run.
        self.vad = None if pass_audio else VoiceActivity()
        self.decision = TurnDecision(self, session, turn, gate=gate, listening=self.vad is not None,
                                     agent_audible=self.agent_audible, endpoint_fallback_secs=endpoint_fallback_secs)
        self.interruptions = Interruptions(self, session, turn, None if pass_audio else playback)
        self._dtmf: list[str] = []
        self._dtmf_task: asyncio.Task[None] | None = None
        self._dtmf_flush = dtmf_flush_secs
        self.bot_speaking = False
        self.last_activity = time.monotonic()

    @property
    def spec_text(self) -> str | None:
        """The transcript a speculative reply is running for (None: no speculation)."""
        return self.decision.spec_text

    # --- frame flow -------------------------------------------------------------------------
    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, (EndFrame, CancelFrame)):
            self._cancel_tasks()
        elif isinstance(frame, BotStartedSpeakingFrame):
            self.bot_speaking = True
            self.s.on_bot_started()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self.bot_speaking = False
            self.last_activity = time.monotonic()
            self.s.on_bot_stopped()
        elif isinstance(frame, InterimTranscriptionFrame):
            await self._on_interim(frame)
            return
        elif isinstance(frame, TranscriptionFrame):
            await self._on_final(frame)
            return
        elif isinstance(frame, InputDTMFFrame):
            await self._on_dtmf(frame)
            return
        elif isinstance(frame, InputAudioRawFrame) and not self._pass_audio:
            await self._on_audio(frame.audio)  # the STT consumed it already: the brain only listens
            return
        await self.push_frame(frame, direction)

    def _cancel_tasks(self) -> None:
        self.decision.cancel()
        self.interruptions.cancel()
        if self._dtmf_task and not self._dtmf_task.done():
            self._dtmf_task.cancel()

    def agent_audible(self) -> bool:
        return self.bot_speaking or self.s.greeting_playing()

    def _heard_words(self) -> None:
        self.last_activity = time.monotonic()
        self.s.note_user_speech()

    async def _on_interim(self, frame: InterimTranscriptionFrame) -> None:
        text = frame.text.strip()
        if not text:
            return
        self._heard_words()
        if self.agent_audible():
            if self.interruptions.interrupts(text):
                self.s.on_user_words(" ".join([*self.decision.finals, text]))
            await self.interruptions.on_words(text, agent_audible=True)  # cut, or resume on a backchannel
            return  # else a backchannel so far: nothing to show unless it turns into a turn
        self.decision.interim = text
        self.s.on_user_words(self.decision.pending_text())

    async def _on_final(self, frame: TranscriptionFrame) -> None:
        text = frame.text.strip()
        self.last_activity = time.monotonic()
        if not text:
            return
        self._heard_words()
        result = getattr(frame, "result", None)
        audible = self.agent_audible()
        if audible and not self.decision.finals and not self.interruptions.interrupts(text):
            # A backchannel (or too few words to interrupt) while the agent speaks: heard, not a turn.
            self.decision.interim = ""
            await self.interruptions.on_words(text, agent_audible=audible)
            self.s.record_backchannel(text)
            return
        if audible:
            await self.interruptions.confirm()
        self.decision.add_final(text, speech_final=bool(getattr(result, "speech_final", False)))
        self.s.note_final()
        self.s.on_user_words(self.decision.pending_text())

    # --- listening: voice activity ------------------------------------------------------------
    async def _on_audio(self, pcm: bytes) -> None:
        if self.vad is None:
            return
        self.decision.audio.add(pcm)
        for event in self.vad.feed(pcm):
            if event == "start":
                self._heard_words()
                await self.decision.speech_started()
            else:
                self.decision.speech_stopped()
        if self.vad.speaking:
            self.interruptions.on_voice(self.vad.voiced_seconds, agent_speaking=self.bot_speaking)

    async def barge_in(self) -> None:
        """Stop the agent now (a closing line or a control command cuts the running reply)."""
        await self.interruptions.confirm()

    # --- keypad -------------------------------------------------------------------------------
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
        self.s.note_llm_request()
        await self.push_frame(LLMContextFrame(context=context))

    async def push(self, frame: Frame) -> None:
        await self.push_frame(frame)
