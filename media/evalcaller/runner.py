"""One simulated caller on one web call: connect, then scripted lines or the persona's turns, then hang up.

Turn-taking as a person on the phone: wait until the agent has spoken and gone quiet, think
(``pause_ms``), speak. A scripted line with ``barge_in_after_ms`` is spoken that long after the agent's
audio starts, over it. DTMF cannot travel over a web call: a line's digits are skipped (logged).
The persona speaks first when the agent says nothing within ``FIRST_WORDS_WAIT_S``; it stops after
``max_turns`` replies, when it calls ``end_call``, or when the call ends. Whatever happens, the socket
is closed at the end (the platform records ``customer_hangup`` unless the agent ended it first).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from chalicelib.models.media import CallerTurn, RunCaller
from media.evalcaller.hearing import DeepgramHearing, Hearing, HearingFailed, TranscriptHearing
from media.evalcaller.peer import WebCallPeer
from media.evalcaller.persona import Persona, PersonaFailed
from media.evalcaller.speech import CallerVoice, Registrar, SpeechFailed
from media.settings import get_media_settings

log = logging.getLogger("voice.media.evalcaller")

FIRST_WORDS_WAIT_S = 8.0  # the agent's greeting (or silence: then the caller starts)
TURN_TIMEOUT_S = 30.0  # longest wait for the agent's reply before the caller goes on
HANG_UP_AFTER_S = 1.0
MAX_CALL_S = 900.0  # a caller never outlives EVAL_CALL_TIMEOUT_SECONDS' default


@dataclass
class CallerOutcome:
    """What the caller did (logged; the call row is the record the eval reads)."""

    said: list[str] = field(default_factory=list)
    end: str = "hung_up"  # "hung_up" | "agent_ended" | "end_call" | "error: ..."


@dataclass
class EvalCaller:
    message: RunCaller
    voice: CallerVoice
    registrar: Registrar
    peer: WebCallPeer
    hearing: Hearing
    outcome: CallerOutcome = field(default_factory=CallerOutcome)

    @classmethod
    def for_message(cls, message: RunCaller) -> EvalCaller:
        peer = WebCallPeer(message.websocket_url)
        hearing: Hearing = TranscriptHearing(peer)
        if get_media_settings().eval_caller_hearing == "deepgram":
            hearing = DeepgramHearing(peer, message.org_id, message.call_id, message.language)
        return cls(message, CallerVoice(message.org_id, message.voice, message.language, message.pace),
                   Registrar.from_settings(), peer, hearing)

    async def run(self) -> CallerOutcome:
        try:
            await asyncio.wait_for(self._run(), MAX_CALL_S)
        except (SpeechFailed, PersonaFailed, HearingFailed, OSError, TimeoutError) as exc:
            self.outcome.end = f"error: {exc}"
        except Exception as exc:  # noqa: BLE001 - the websockets handshake raises its own types; the call still ends
            self.outcome.end = f"error: {type(exc).__name__}: {exc}"
        finally:
            if self.peer.end_reason is not None and self.outcome.end == "hung_up":
                self.outcome.end = "agent_ended"
            await self.hearing.close()
            await self.peer.close()
        log.info("eval caller on call %s: %s after %d lines", self.message.call_id, self.outcome.end,
                 len(self.outcome.said))
        return self.outcome

    async def _run(self) -> None:
        if self.message.instructions:  # only the persona listens to what the agent says
            await self.hearing.start()
        await self.peer.connect()
        since = time.monotonic()
        await self.peer.wait_agent_turn_end(since, FIRST_WORDS_WAIT_S)
        if self.message.instructions:
            await self._persona(self.message.instructions)
        else:
            await self._lines(self.message.lines or [])

    async def _speak(self, text: str) -> float:
        """Say ``text``; when its last frame was sent."""
        pcm, words = await self.voice.render(text)
        await self.registrar.register(self.message.call_id, words)
        _, end = await self.peer.say(pcm)
        self.outcome.said.append(" ".join(words))
        return end

    async def _persona(self, instructions: str) -> None:
        persona = Persona(self.message.org_id, instructions, self.message.language)
        for _ in range(self.message.max_turns):
            if self.peer.closed.is_set():
                return
            reply = await persona.reply(await self.hearing.heard())
            if reply.text:
                end = await self._speak(reply.text)
                if not reply.hang_up:
                    await self.peer.wait_agent_turn_end(end, TURN_TIMEOUT_S)
            if reply.hang_up:
                if reply.text:  # let the goodbye be heard to its end (its trailing silence) before hanging up
                    await asyncio.sleep(HANG_UP_AFTER_S)
                self.outcome.end = "end_call"
                return
            if not reply.text:
                return

    async def _lines(self, lines: list[CallerTurn]) -> None:
        since = time.monotonic()
        for line in lines[:self.message.max_turns]:
            if self.peer.closed.is_set():
                return
            if line.barge_in_after_ms is not None:
                first = await self.peer.wait_agent_audio(since, TURN_TIMEOUT_S)
                if first is not None:
                    await asyncio.sleep(max(0.0, first + line.barge_in_after_ms / 1000 - time.monotonic()))
            elif self.outcome.said:
                await self.peer.wait_agent_turn_end(since, TURN_TIMEOUT_S)
            await asyncio.sleep(line.pause_ms / 1000)
            if line.dtmf:
                log.info("call %s: DTMF %r skipped (a web call carries no DTMF)", self.message.call_id, line.dtmf)
            if line.text.strip():
                since = await self._speak(line.text)
        if not self.peer.closed.is_set() and self.outcome.said:
            await self.peer.wait_agent_turn_end(since, TURN_TIMEOUT_S)
