"""Caller speech over the agent: hold on voice, confirm with words, resume when it was no interruption.

Voice comes first (Silero, at once), words later (the STT lags the audio by a few hundred ms). So:
1. After ``voice_seconds`` of the caller's voiced audio while the agent speaks, the agent's audio is
   *held*: we stop sending it (``media.pipeline.playback``), nothing is discarded, no ``clear`` is sent.
2. Words that interrupt (not a backchannel, at least ``num_words``) confirm it: Pipecat's
   ``InterruptionFrame`` cancels the reply and becomes Twilio's ``clear`` (the web call's flush event).
3. A backchannel ("mhm", "yeah", the assistant's ``acknowledgement_phrases``) resumes the held audio where
   it stopped; so does silence: no words within ``backoff_seconds`` of the hold (a cough, a door, noise)
   is LiveKit's "false interruption", and the agent goes on instead of going quiet.
Words with no hold before them (the greeting, which is already queued at Twilio and cannot be held; a
voice too short for ``voice_seconds``) interrupt as soon as they arrive, as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from pipecat.processors.frame_processor import FrameProcessor

from media.pipeline.host import TurnHost
from media.plan import TurnSettings
from media.utterances import is_backchannel

log = logging.getLogger("voice.media.interrupt")


class Holdable(Protocol):
    """The output that can stop sending agent audio and go on later (``HoldableOutput``)."""

    @property
    def held(self) -> bool: ...

    def hold(self) -> None: ...

    async def resume(self) -> None: ...


class Interruptions:
    """One call's barge-in: hold on voice, confirm on words, resume on backchannels and silence."""

    def __init__(self, proc: FrameProcessor, host: TurnHost, settings: TurnSettings,
                 playback: Holdable | None) -> None:
        self._proc = proc  # the brain: broadcasts the interruption and owns the tasks
        self.s = host
        self.turn = settings
        self._playback = playback
        self._backoff: asyncio.Task[None] | None = None
        self.holds = 0
        self.resumed_silent = 0  # holds that got no words in time (false interruptions)
        self.resumed_backchannel = 0
        self.cuts = 0  # confirmed interruptions (held or not)

    @property
    def holding(self) -> bool:
        return self._playback is not None and self._playback.held

    def interrupts(self, text: str) -> bool:
        """Words that stop the agent: not a backchannel, at least ``num_words`` of them."""
        if not self.s.interruptible() or is_backchannel(text, extra=self.turn.acknowledgement_phrases):
            return False
        return len(text.split()) >= max(1, self.turn.num_words)

    def on_voice(self, voiced_seconds: float, *, agent_speaking: bool) -> None:
        """The caller's current speech has this much voiced audio: hold the agent once it is enough."""
        if (self._playback is None or self._playback.held or not agent_speaking or not self.s.interruptible()
                or voiced_seconds < self.turn.voice_seconds):
            return
        self._playback.hold()
        self.holds += 1
        log.debug("agent audio held after %.0f ms of caller voice", voiced_seconds * 1000)
        self._cancel_backoff()
        self._backoff = self._proc.create_task(self._resume_unless_words(), name="barge-in-backoff")  # pyright: ignore[reportUnknownMemberType] - Task[Unknown]

    async def on_words(self, text: str, *, agent_audible: bool) -> bool:
        """Words while the agent may be audible; True when they interrupted it."""
        if not agent_audible:
            return False
        if self.interrupts(text):
            await self.confirm()
            return True
        if is_backchannel(text, extra=self.turn.acknowledgement_phrases) and self.holding:
            self.resumed_backchannel += 1
            await self._resume()
        return False  # too few words to interrupt: a hold waits for more, up to its backoff

    async def confirm(self) -> None:
        """A real interruption: cancel the reply (Twilio ``clear``; the held audio is dropped)."""
        self._cancel_backoff()
        self.cuts += 1
        self.s.on_barge_in()
        await self._proc.broadcast_interruption()

    async def _resume_unless_words(self) -> None:
        started = time.monotonic()
        await asyncio.sleep(self.turn.backoff_seconds)
        if self.holding:
            self.resumed_silent += 1
            log.debug("no words %.1f s after the hold: agent audio resumes", time.monotonic() - started)
            await self._resume()

    async def _resume(self) -> None:
        self._cancel_backoff()
        if self._playback is not None:
            await self._playback.resume()

    def _cancel_backoff(self) -> None:
        current = asyncio.current_task()
        if self._backoff and not self._backoff.done() and self._backoff is not current:
            self._backoff.cancel()
        self._backoff = None

    def cancel(self) -> None:
        self._cancel_backoff()

    def figures(self) -> dict[str, int]:
        """The call's counts, for its latency report."""
        return {"held": self.holds, "resumed_after_backchannel": self.resumed_backchannel,
                "resumed_without_words": self.resumed_silent, "cut": self.cuts}
