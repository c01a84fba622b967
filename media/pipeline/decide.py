"""When the caller's turn is over: the decision after speech stops, and the speculative reply it may start.

Silero (``media.pipeline.listen``) says when speech stops; Smart Turn v3 says whether the turn sounds
finished; the STT is asked to ``Finalize`` for a fast final; the transcript's ending (punctuation, a
number being dictated) sets how long to wait (``media.pipeline.endpoint``). Speech that resumes cancels
everything, so the agent never answers into a pause. ``CallBrain`` feeds it frames and events.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pipecat.frames.frames import LLMContextFrame, VADUserStoppedSpeakingFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from media.pipeline.endpoint import words_wait
from media.pipeline.gate import SpeculationGate
from media.pipeline.host import TurnHost
from media.pipeline.listen import STOP_SECONDS, TurnAudio, turn_complete_probability
from media.plan import TurnSettings
from media.utterances import normalize

FINAL_WAIT_SECONDS = 1.0  # after Finalize: how long the final may take before the interim stands in
SPECULATE_MAX_WAIT_SECONDS = 0.3  # speculate only when the reply would be released this soon anyway


class TurnDecision:
    """One call's caller turn: the words so far, the decision when speech stops, the speculative reply."""

    def __init__(self, proc: FrameProcessor, host: TurnHost, settings: TurnSettings, *,
                 gate: SpeculationGate | None, listening: bool, agent_audible: Callable[[], bool],
                 endpoint_fallback_secs: float = 0.8) -> None:
        self._proc = proc  # the brain: pushes the frames and owns the tasks
        self._agent_audible = agent_audible
        self.s = host
        self.turn = settings
        self.gate = gate
        self._listening = listening  # local VAD runs (cascade); speech-to-speech has none
        self.audio = TurnAudio()
        self.caller_speaking = False
        self.speech_end_at: float | None = None
        self.interim = ""
        self.finals: list[str] = []
        self._last_final_at = 0.0
        self._final_event = asyncio.Event()
        self._decide_task: asyncio.Task[None] | None = None
        self._endpoint_task: asyncio.Task[None] | None = None
        self._endpoint_fallback = endpoint_fallback_secs
        self.spec_text: str | None = None  # the transcript a speculative reply is running for
        self.spec_hits = 0
        self.spec_misses = 0

    def cancel(self) -> None:
        for task in (self._endpoint_task, self._decide_task):
            if task and not task.done():
                task.cancel()

    async def speech_started(self) -> None:
        self.caller_speaking = True
        # The caller goes on: whatever was being decided (or guessed) for the words so far waits for the rest.
        if self._decide_task and not self._decide_task.done():
            self._decide_task.cancel()
        await self.cancel_speculation()

    def speech_stopped(self) -> None:
        self.caller_speaking = False
        self.speech_end_at = time.monotonic() - STOP_SECONDS
        self._start_decision()

    def _start_decision(self) -> None:
        if self._decide_task and not self._decide_task.done():
            self._decide_task.cancel()
        self._decide_task = self._proc.create_task(self._decide(), name="turn-decision")  # pyright: ignore[reportUnknownMemberType] - Task[Unknown]

    def pending_text(self) -> str:
        """The caller's words of the turn so far (finals, then the newest interim)."""
        return " ".join([*self.finals, self.interim]).strip()

    async def _sleep_until(self, at: float) -> None:
        wait = at - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _decide(self) -> None:
        """After speech stopped: is the turn over? Cancelled when the caller speaks again."""
        t = self.turn
        speech_end = self.speech_end_at or time.monotonic()
        if not t.smart_endpointing:
            return  # the STT's own endpoint (speech_final) ends the turn: see add_final
        complete = await turn_complete_probability(self.audio.snapshot()) > 0.5
        if not complete:
            # Sounds unfinished: keep listening, up to the maximum wait.
            await self._sleep_until(speech_end + t.max_wait_seconds)
        text = self.pending_text()
        if (complete and text and self.gate is not None and not self._agent_audible() and self.s.may_speculate()
                and words_wait(text, t) <= SPECULATE_MAX_WAIT_SECONDS):
            # Speculation where it pays: the reply starts now on the words so far and is released if the
            # final transcript says the same; the final is only a Finalize round trip away.
            await self._speculate(text)
        finalize_at = time.monotonic()
        await self._proc.push_frame(VADUserStoppedSpeakingFrame(stop_secs=STOP_SECONDS), FrameDirection.UPSTREAM)
        await self._await_final(speech_end, finalize_at)
        await self._end_when_due(speech_end)

    async def _await_final(self, speech_end: float, since: float) -> None:
        if self.finals and self._last_final_at >= speech_end:
            return  # the STT already finalized what was said
        deadline = since + FINAL_WAIT_SECONDS
        while self._last_final_at < since and time.monotonic() < deadline:
            self._final_event.clear()
            try:
                await asyncio.wait_for(self._final_event.wait(), deadline - time.monotonic())
            except TimeoutError:
                break

    async def _end_when_due(self, speech_end: float) -> None:
        text = self.pending_text()
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
        await self._proc.push_frame(LLMContextFrame(context=self.s.speculative_context(text)))

    async def cancel_speculation(self) -> None:
        if self.spec_text is None:
            return
        self.spec_text = None
        self.spec_misses += 1
        if self.gate is not None:
            self.gate.drop()
        await self._proc.broadcast_interruption()

    def add_final(self, text: str, *, speech_final: bool) -> None:
        """A final transcript that belongs to the caller's turn."""
        self.interim = ""
        self.finals.append(text)
        self._last_final_at = time.monotonic()
        self._final_event.set()
        if self._listening and self.turn.smart_endpointing:
            if not self.caller_speaking and (self._decide_task is None or self._decide_task.done()):
                self._start_decision()  # words the voice detector missed still get a decision
            return
        if self._endpoint_task and not self._endpoint_task.done():
            self._endpoint_task.cancel()
        if speech_final:
            speech_end = self.speech_end_at or time.monotonic()
            self._endpoint_task = self._proc.create_task(self._end_when_due(speech_end), name="endpoint")  # pyright: ignore[reportUnknownMemberType] - Task[Unknown]
        else:
            self._endpoint_task = self._proc.create_task(self._endpoint_after(), name="endpoint-fallback")  # pyright: ignore[reportUnknownMemberType] - Task[Unknown]

    async def _endpoint_after(self) -> None:
        await asyncio.sleep(self._endpoint_fallback)
        await self.end_turn()

    async def end_turn(self) -> None:
        current = asyncio.current_task()
        for task in (self._endpoint_task, self._decide_task):
            if task and not task.done() and current is not task:
                task.cancel()
        if not self.finals and not self.interim:
            return
        # No final in time (the STT did not answer Finalize): the newest interim stands in for it.
        text = " ".join(self.finals) if self.finals else self.interim
        self.finals, self.interim = [], ""
        self.audio.clear()
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
