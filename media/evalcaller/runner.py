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
from dataclasses import dataclass, field

from chalicelib.models.media import CallEnded, RunCaller
from media.controlplane import control_plane
from media.evalcaller.persona import Persona
from media.evalcaller.pipecaller import FORBIDDEN, CallerFailed, PipelineCaller
from media.evalcaller.speech import Registrar
from media.settings import get_media_settings

log = logging.getLogger("voice.media.evalcaller")

MAX_CALL_S = 900.0  # a caller never outlives EVAL_CALL_TIMEOUT_SECONDS' default


def failure(exc: BaseException, connected: bool) -> CallerFailed | None:
    """How a caller's exception ends its call: a provider of the caller's own down is ``provider_error``,
    a socket that never opened ``failed_to_connect``, anything else ``error``. None: not the caller's
    to end (its token was refused: another socket holds the call, or the token expired and the
    control plane's expiry check ends it)."""
    if isinstance(exc, CallerFailed):
        return exc
    if connected:
        return CallerFailed("error", f"{type(exc).__name__}: {exc}")
    if getattr(getattr(exc, "response", None), "status_code", None) == FORBIDDEN:  # websockets.InvalidStatus
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
    caller: PipelineCaller
    outcome: CallerOutcome

    @classmethod
    def for_message(cls, message: RunCaller) -> EvalCaller:
        outcome = CallerOutcome()
        caller = PipelineCaller(message, Registrar.from_settings(), outcome,
                                hearing=get_media_settings().eval_caller_hearing)
        return cls(message, caller, outcome)

    async def run(self) -> CallerOutcome:
        failed: CallerFailed | None = None
        error: str | None = None
        state = self.caller.state
        try:
            await asyncio.wait_for(self._run(), MAX_CALL_S)
        except TimeoutError:
            if not state.connected:  # the socket's open timed out; else MAX_CALL_S passed: just hang up
                failed = failure(TimeoutError("no answer"), connected=False)
        except Exception as exc:  # noqa: BLE001 - websockets, aiohttp and openai raise their own types; every one ends the call
            failed = failure(exc, connected=state.connected)
            error = f"{type(exc).__name__}: {exc}"
        try:
            if failed is not None or error is not None:
                self.outcome.end = f"error: {failed or error}"
            if failed is not None:
                await self._report(failed)  # before the hang-up, so the row gets this reason, not customer_hangup
            elif state.end_reason is not None and self.outcome.end == "hung_up":
                self.outcome.end = "agent_ended"
        finally:
            await self.caller.close()
        log.info("eval caller on call %s: %s after %d lines", self.message.call_id, self.outcome.end,
                 len(self.outcome.said))
        return self.outcome

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
        await self.caller.run(Persona(m.instructions, m.language).system_prompt() if m.instructions else None)
