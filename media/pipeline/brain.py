"""Turn-taking between STT and LLM: local voice activity and an end-of-turn model decide when to answer.

The brain replaces Pipecat's user aggregator. For each caller turn: Silero (``media.pipeline.listen``)
says when speech stops; Smart Turn v3 says whether the turn sounds finished; the transcript's ending
(punctuation, a number being dictated) sets how long to wait (``media.pipeline.endpoint``); the STT is
asked to ``Finalize`` for a fast final; speech that resumes cancels everything, so the agent never
answers into a pause. It also filters backchannels, fires barge-in, turns DTMF into text, starts a
speculative reply where it pays, counts LLM requests, and tracks activity for silence handling.
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
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from media.pipeline.endpoint import words_wait
from media.pipeline.gate import SpeculationGate
from media.pipeline.listen import STOP_SECONDS, TurnAudio, VoiceActivity, turn_complete_probability
from media.plan import TurnSettings
from media.utterances import is_backchannel, normalize

FINAL_WAIT_SECONDS = 1.0  # after Finalize: how long the final may take before the interim stands in
SPECULATE_MAX_WAIT_SECONDS = 0.3  # speculate only when the reply would be released this soon anyway


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

    def on_user_words(self, text: str) -> None:
        """The caller's words of the turn so far (interim: revised until the turn ends)."""
        ...

    def note_llm_request(self, *, speculative: bool = False) -> None: ...

    async def on_user_turn(self, text: str, dtmf: str | None = None, speculated: bool = False) -> None: ...


class CallBrain(FrameProcessor):
    """Turn taking between STT and LLM (see module docstring)."""

    def __init__(self, session: TurnHost, *, pass_audio: bool = False, endpoint_fallback_secs: float = 0.8,
                 dtmf_flush_secs: float = 1.2, gate: SpeculationGate | None = None,
                 settings: TurnSettings | None = None) -> None:
        super().__init__(name="call-brain")  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self.s = session
        self._pass_audio = pass_audio
        self.gate = gate
        self.turn = settings or TurnSettings()
        # Speech-to-speech: the realtime model detects turns itself (server VAD); no local models run.
        self.vad = None if pass_audio else VoiceActivity()
        self.turn_audio = TurnAudio()
        self.caller_speaking = False
        self.speech_end_at: float | None = None
        self._interim = ""
        self._last_final_at = 0.0
        self._final_event = asyncio.Event()
        self._decide_task: asyncio.Task[None] | None = None
        self.spec_text: str | None = None  # the transcript a speculative reply is running for
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
            # Cascade: STT consumed it already (the brain listens to it). Speech-to-speech: the model needs it.
            if self._pass_audio:
                await self.push_frame(frame, direction)
            else:
                await self._on_audio(frame.audio)
            return
        await self.push_frame(frame, direction)

    def _cancel_tasks(self) -> None:
        for task in (self._endpoint_task, self._dtmf_task, self._decide_task):
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
        if self.agent_audible():
            if self._interrupts(text):
                self.s.on_user_words(" ".join([*self._finals, text]))
                await self.barge_in()
            return  # else a backchannel so far: nothing to show unless it turns into a turn
        self._interim = text
        self.s.on_user_words(self._pending_text())

    def _interrupts(self, text: str) -> bool:
        """Words that stop the agent: not a backchannel, at least ``num_words`` of them."""
        if not self.s.interruptible() or is_backchannel(text, extra=self.turn.acknowledgement_phrases):
            return False
        return len(text.split()) >= max(1, self.turn.num_words)

    # --- listening: voice activity and the turn decision --------------------------------------
    async def _on_audio(self, pcm: bytes) -> None:
        if self.vad is None:
            return
        self.turn_audio.add(pcm)
        for event in self.vad.feed(pcm):
            if event == "start":
                await self._on_speech_start()
            else:
                self._on_speech_stop()

    async def _on_speech_start(self) -> None:
        self.caller_speaking = True
        self.last_activity = time.monotonic()
        self.s.note_user_speech()
        # The caller goes on: whatever was being decided (or guessed) for the words so far waits for the rest.
        if self._decide_task and not self._decide_task.done():
            self._decide_task.cancel()
        await self.cancel_speculation()

    def _on_speech_stop(self) -> None:
        self.caller_speaking = False
        self.speech_end_at = time.monotonic() - STOP_SECONDS
        self._start_decision()

    def _start_decision(self) -> None:
        if self._decide_task and not self._decide_task.done():
            self._decide_task.cancel()
        self._decide_task = self.create_task(self._decide(), name="turn-decision")  # pyright: ignore[reportUnknownMemberType] - Task[Unknown]

    def _pending_text(self) -> str:
        return " ".join([*self._finals, self._interim]).strip()

    async def _sleep_until(self, at: float) -> None:
        wait = at - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _decide(self) -> None:
        """After speech stopped: is the turn over? Cancelled when the caller speaks again."""
        t = self.turn
        speech_end = self.speech_end_at or time.monotonic()
        if not t.smart_endpointing:
            return  # the STT's own endpoint (speech_final) ends the turn: see _on_final
        complete = await turn_complete_probability(self.turn_audio.snapshot()) > 0.5
        if not complete:
            # Sounds unfinished: keep listening, up to the maximum wait.
            await self._sleep_until(speech_end + t.max_wait_seconds)
        text = self._pending_text()
        if (complete and text and self.gate is not None and not self.agent_audible() and self.s.may_speculate()
                and words_wait(text, t) <= SPECULATE_MAX_WAIT_SECONDS):
            # Speculation where it pays: the reply starts now on the words so far and is released if the
            # final transcript says the same; the final is only a Finalize round trip away.
            await self._speculate(text)
        finalize_at = time.monotonic()
        await self.push_frame(VADUserStoppedSpeakingFrame(stop_secs=STOP_SECONDS), FrameDirection.UPSTREAM)
        await self._await_final(speech_end, finalize_at)
        await self._end_when_due(speech_end)

    async def _await_final(self, speech_end: float, since: float) -> None:
        if self._finals and self._last_final_at >= speech_end:
            return  # the STT already finalized what was said
        deadline = since + FINAL_WAIT_SECONDS
        while self._last_final_at < since and time.monotonic() < deadline:
            self._final_event.clear()
            try:
                await asyncio.wait_for(self._final_event.wait(), deadline - time.monotonic())
            except TimeoutError:
                break

    async def _end_when_due(self, speech_end: float) -> None:
        text = self._pending_text()
        if not text:
            return  # a noise without words: no turn
        await self._sleep_until(speech_end + max(self.turn.wait_seconds, words_wait(text, self.turn)))
        await self.end_turn()

    async def _speculate(self, text: str) -> None:
        if self.spec_text is not None:
            if normalize(self.spec_text) == normalize(text):
                return
            await self.cancel_speculation()
        if self.gate is None:
            return
        self.spec_text = text
        self.gate.hold()
        self.s.note_llm_request(speculative=True)
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
        if not text:
            return
        self.s.note_user_speech()
        result = getattr(frame, "result", None)
        speech_final = bool(getattr(result, "speech_final", False))
        self._interim = ""
        if self.agent_audible() and not self._finals and not self._interrupts(text):
            # A backchannel (or too few words to interrupt) while the agent speaks: heard, not a turn.
            self.s.record_backchannel(text)
            return
        if self.agent_audible():
            await self.barge_in()
        self._finals.append(text)
        self._last_final_at = time.monotonic()
        self._final_event.set()
        self.s.note_final()
        self.s.on_user_words(self._pending_text())
        if self.vad is not None and self.turn.smart_endpointing:
            if not self.caller_speaking and (self._decide_task is None or self._decide_task.done()):
                self._start_decision()  # words the voice detector missed still get a decision
            return
        if speech_final:
            speech_end = self.speech_end_at or time.monotonic()
            if self._endpoint_task and not self._endpoint_task.done():
                self._endpoint_task.cancel()
            self._endpoint_task = self.create_task(self._end_when_due(speech_end), name="endpoint")  # pyright: ignore[reportUnknownMemberType] - Task[Unknown]
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
        current = asyncio.current_task()
        for task in (self._endpoint_task, self._decide_task):
            if task and not task.done() and current is not task:
                task.cancel()
        if not self._finals and not self._interim:
            return
        # No final in time (the STT did not answer Finalize): the newest interim stands in for it.
        text = " ".join(self._finals) if self._finals else self._interim
        self._finals, self._interim = [], ""
        self.turn_audio.clear()
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
        self.s.note_llm_request()
        await self.push_frame(LLMContextFrame(context=context))

    async def push(self, frame: Frame) -> None:
        await self.push_frame(frame)
