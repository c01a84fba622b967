"""One simulated caller on one web call: connect, then scripted lines or the persona's turns, then hang up.

Turn-taking as a person on the phone: wait until the agent has spoken and gone quiet, think
(``pause_ms``), speak. A scripted line with ``barge_in_after_ms`` is spoken that long after the agent's
audio starts, over it. DTMF cannot travel over a web call: a line's digits are skipped (logged).
The persona speaks first when the agent says nothing within ``FIRST_WORDS_WAIT_S``; it stops after
``max_turns`` replies, when it calls ``end_call``, or when the call ends. Whatever happens, the socket
is closed at the end (the platform records ``customer_hangup`` unless the agent ended it first).

A caller that fails (its socket refused, its TTS, LLM or STT down, the socket closed without
``call-ended``) reports the end itself, with the reason, before it hangs up: otherwise the web call
would end as a plain ``customer_hangup``, or wait for its token to expire when it never connected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from chalicelib.models.media import CallEnded, CallerTurn, RunCaller
from media.controlplane import control_plane
from media.evalcaller.peer import WebCallPeer
from media.evalcaller.persona import Persona
from media.evalcaller.pipecaller import (
    FIRST_WORDS_WAIT_S,
    TURN_TIMEOUT_S,
    CallerFailed,
    PersonaCall,
)
from media.evalcaller.speech import CallerVoice, Registrar, SpeechFailed
from media.settings import get_media_settings

log = logging.getLogger("voice.media.evalcaller")

MAX_CALL_S = 900.0
HTTP_FORBIDDEN = 403  # a caller never outlives EVAL_CALL_TIMEOUT_SECONDS' default


def failure(exc: BaseException, connected: bool) -> CallerFailed | None:
    """How a caller's exception ends its call: a provider of the caller's own down is ``provider_error``,
    a socket that never opened ``failed_to_connect``, anything else ``error``. None: not the caller's
    to end (its token was refused: another socket holds the call, or the token expired and the
    control plane's expiry check ends it)."""
    if isinstance(exc, CallerFailed):
        return exc
    if isinstance(exc, SpeechFailed):
        return CallerFailed("provider_error", str(exc))
    if connected:
        return CallerFailed("error", f"{type(exc).__name__}: {exc}")
    if getattr(getattr(exc, "response", None), "status_code", None) == HTTP_FORBIDDEN:  # websockets.InvalidStatus
        return None
    return CallerFailed("failed_to_connect", f"the call socket could not be opened: {type(exc).__name__}: {exc}")


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
    peer: WebCallPeer  # the scripted lines' socket
    outcome: CallerOutcome = field(default_factory=CallerOutcome)
    pipecall: PersonaCall | None = None  # the persona's pipeline, once started

    @classmethod
    def for_message(cls, message: RunCaller) -> EvalCaller:
        return cls(message, CallerVoice(message.org_id, message.voice, message.language, message.pace),
                   Registrar.from_settings(), WebCallPeer(message.websocket_url))

    async def run(self) -> CallerOutcome:
        failed: CallerFailed | None = None
        error: str | None = None
        try:
            await asyncio.wait_for(self._run(), MAX_CALL_S)
        except TimeoutError:
            if not self._connected():  # the socket's open timed out; else MAX_CALL_S passed: just hang up
                failed = failure(TimeoutError("no answer"), connected=False)
        except Exception as exc:  # noqa: BLE001 - websockets, httpx and openai raise their own types; every one ends the call
            failed = failure(exc, connected=self._connected())
            error = f"{type(exc).__name__}: {exc}"
        try:
            if failed is not None or error is not None:
                self.outcome.end = f"error: {failed or error}"
            if failed is not None:
                await self._report(failed)  # before the hang-up, so the row gets this reason, not customer_hangup
            elif self._end_reason() is not None and self.outcome.end == "hung_up":
                self.outcome.end = "agent_ended"
        finally:
            if self.pipecall is not None:
                await self.pipecall.close()
            await self.peer.close()
        log.info("eval caller on call %s: %s after %d lines", self.message.call_id, self.outcome.end,
                 len(self.outcome.said))
        return self.outcome

    def _connected(self) -> bool:
        return self.pipecall.state.connected if self.pipecall is not None else self.peer.ws is not None

    def _end_reason(self) -> str | None:
        return self.pipecall.state.end_reason if self.pipecall is not None else self.peer.end_reason

    async def _report(self, failed: CallerFailed) -> None:
        """End the call on the control plane with the caller's reason (nothing happens if it already ended)."""
        log.warning("eval caller on call %s failed: %s", self.message.call_id, failed)
        event = CallEnded(org_id=self.message.org_id, call_id=self.message.call_id, end_reason=failed.end_reason,
                          error=f"simulated caller: {failed}")
        try:
            await asyncio.to_thread(control_plane().call_ended, event)
        except Exception:  # noqa: BLE001 - the hang-up still ends the call (customer_hangup) or the token expires
            log.exception("call %s: reporting the caller's failure failed", self.message.call_id)

    async def _run(self) -> None:
        m = self.message
        if m.instructions:
            self.pipecall = PersonaCall(m, self.registrar, self.outcome,
                                        hearing=get_media_settings().eval_caller_hearing,
                                        tts_base_url=self.voice.base_url)
            await self.pipecall.run(Persona(m.instructions, m.language).system_prompt())
            return
        await self.peer.connect()
        await self.peer.wait_agent_turn_end(time.monotonic(), FIRST_WORDS_WAIT_S)
        await self._lines(m.lines or [])
        if self.peer.closed.is_set() and self.peer.end_reason is None:
            # The media service dropped the socket without ending the call (refused at capacity, crashed).
            raise CallerFailed("failed_to_connect" if not self.peer.agent_audio_at else "media_failure",
                               f"the call socket closed without call-ended (code {self.peer.close_code})")

    async def _speak(self, text: str) -> float:
        """Say ``text``; when its last frame was sent."""
        pcm, words = await self.voice.render(text)
        await self.registrar.register(self.message.call_id, words)
        _, end = await self.peer.say(pcm)
        self.outcome.said.append(" ".join(words))
        return end

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
