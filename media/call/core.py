"""The call's parts and state, and the routing of pipeline events to them (``CallCore``).

Parts with one job each: ``CallAudio`` (stream, greeting, recording), ``TurnLog`` (latency),
``Voicemail``, ``ToolRunner``, ``Controller`` (control commands, transfer), ``Timers`` (max duration,
silence). ``media.call.session.CallSession`` adds the lifecycle (start, greeting, end, final report).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, cast

from pipecat.frames.frames import Frame, TTSSpeakFrame
from pipecat.processors.aggregators.llm_context import (
    LLMContext,
    LLMContextMessage,
    LLMSpecificMessage,
    LLMStandardMessage,
)
from pipecat.services.llm_service import FunctionCallParams
from starlette.websockets import WebSocket

from chalicelib.models.media import CommandResult, MediaCommand
from media.call.audio import CallAudio
from media.call.control import Controller
from media.call.events import CallEvents, Sink
from media.call.greeting import FIRST_AUDIO_WAIT_SECONDS, GreetingAudio
from media.call.lines import PROVIDER_APOLOGY
from media.call.timers import Timers
from media.call.tools import ToolRunner
from media.call.transcript import transcript
from media.call.turns import TurnLog
from media.call.voicemail import Voicemail
from media.call.webhook_relay import WebhookRelay
from media.pipeline.brain import CallBrain
from media.pipeline.build import Built
from media.plan import CallPlan, mask_number
from media.settings import get_media_settings
from media.stats import Stats
from media.transports.twilio import StreamStart, TwilioTransport
from media.transports.wire import CallTransport

SAY_START_WAIT_SECONDS = 3.0  # how long a fixed line may take to start (TTS first audio)
REALTIME_SAY_START_WAIT_SECONDS = 8.0  # the realtime model may first have to finish a response
POLL_SECONDS = 0.02


def speculation_enabled() -> bool:
    """Speculative replies on stable interim transcripts (``MEDIA_SPECULATIVE_REPLIES``, default on)."""
    return get_media_settings().media_speculative_replies


class CallCore:
    """One call's parts and state; what its parts and its pipeline see of it."""

    def __init__(self, ws: WebSocket, start: StreamStart, *, control_url: str, stats: Stats,
                 pending_amd: str | None = None, transport: CallTransport | None = None) -> None:
        self.ws = ws
        self.call_id, self.org_id = start.call_id, start.org_id
        self.stream_sid, self.call_sid, self.account_sid = start.stream_sid, start.call_sid, start.account_sid
        self.control_url = control_url
        self.pending_amd = pending_amd
        self.started_at = time.time()
        self.turns = TurnLog(time.monotonic())
        self.transport: CallTransport = transport or TwilioTransport(self.stream_sid)
        self.events = CallEvents(peer=Sink() if self.transport.events_to_peer else None)
        self.audio = CallAudio(ws, self.transport.wire, self.turns, stats, self.on_twilio_stop, self.events)
        self.voicemail = Voicemail(self)
        self.tools = ToolRunner(self)
        self.controller = Controller(self, self.voicemail)
        self.timers = Timers(self, self.voicemail)
        self.built: Built | None = None
        self.plan_or_none: CallPlan | None = None
        self.ended = asyncio.Event()
        self.ready = asyncio.Event()
        self.end_reason: str | None = None
        self.error: str | None = None
        self.twilio_stopped = False
        self.extra: dict[str, Any] = {}
        self.backchannels: list[str] = []
        self.bot_speaking = False
        self.speculate = speculation_enabled()
        self._ending = False
        self._tasks: list[asyncio.Task[Any]] = []
        self.webhooks: WebhookRelay | None = None
        self._user_speaking = False
        self._messages_sent = 0  # transcript messages already sent as final transcript events
        self._interim_sent = ""  # the caller's words last sent as an interim transcript event

    # --- what the parts see (CallPort) ---------------------------------------------------------
    @property
    def plan(self) -> CallPlan:
        assert self.plan_or_none is not None, "the call has no plan yet"  # noqa: S101 - an invariant, not input checking
        return self.plan_or_none

    @property
    def context(self) -> LLMContext:
        assert self.built is not None, "the call has no pipeline yet"  # noqa: S101 - an invariant, not input checking
        return self.built.context

    @property
    def brain(self) -> CallBrain:
        assert self.built is not None, "the call has no pipeline yet"  # noqa: S101 - an invariant, not input checking
        return self.built.brain

    @property
    def ending(self) -> bool:
        return self._ending

    @property
    def tools_running(self) -> int:
        return self.tools.running

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"{name}-{self.call_id[:8]}")
        self._tasks.append(task)
        return task

    def log_number(self, number: str | None) -> str:
        """A phone number for the logs (masked in GDPR mode)."""
        gdpr = self.plan_or_none is not None and self.plan_or_none.gdpr_mode
        return mask_number(number) if gdpr else (number or "")

    def greeting_playing(self) -> bool:
        return self.audio.greeting_playing()

    async def speak_greeting(self, audio: GreetingAudio | None) -> None:
        plan = self.plan
        if not plan.first_message:
            return
        if audio is None or not await audio.first_audio(FIRST_AUDIO_WAIT_SECONDS):
            if plan.realtime:
                await self.brain.run_llm(self.context)  # the model opens with the first message
            else:
                await self.say(plan.first_message)
            return
        greeting = self.audio.begin_greeting(plan.first_message)
        if self.built is not None:
            greeting.record(self.context)
            self.flush_transcript()
        await self.audio.play_greeting(greeting, audio)

    async def say(self, text: str, *, uninterruptible: bool = False, append: bool = True) -> None:
        built = self.built
        if built is None:
            return
        if built.realtime:
            # No TTS stage in speech-to-speech: the realtime model says the exact text.
            await built.llm.say_exact(text, built.context, append=append, uninterruptible=uninterruptible)
            return
        frame = TTSSpeakFrame(text, append_to_context=append)
        if uninterruptible:
            frame.interruptible = False
        await built.worker.queue_frame(frame)

    async def wait_playout(self, timeout: float = 15.0) -> None:  # noqa: ASYNC109 - one deadline shared by several waits (CallPort API)
        """Wait until the agent has finished speaking what is queued, then until Twilio played it."""
        deadline = time.monotonic() + timeout
        await asyncio.sleep(0.05)
        # Wait for the TTS (or the realtime model) to start (or give up quickly if nothing is coming).
        start_wait = REALTIME_SAY_START_WAIT_SECONDS if self.built and self.built.realtime else SAY_START_WAIT_SECONDS
        until = min(time.monotonic() + start_wait, deadline)
        while not self.bot_speaking and time.monotonic() < until and not self.twilio_stopped:  # noqa: ASYNC110 - polls state set by Pipecat frames; no event to await
            await asyncio.sleep(POLL_SECONDS)
        while self.bot_speaking and time.monotonic() < deadline and not self.twilio_stopped:  # noqa: ASYNC110 - polls state set by Pipecat frames; no event to await
            await asyncio.sleep(POLL_SECONDS)
        while self.greeting_playing() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls state set by Pipecat frames; no event to await
            await asyncio.sleep(POLL_SECONDS)
        if not self.twilio_stopped:
            await self.audio.playout.drained(deadline - time.monotonic())

    async def transfer(self, destination: str, message: str | None) -> None:
        await self.controller.transfer(destination, message)

    async def end(self, reason: str, *, message: str | None = None, error: str | None = None,
                  hang_up: bool = True, append: bool = True) -> None:
        raise NotImplementedError  # the lifecycle's (CallSession)

    # --- events from the pipeline (PipelineHost) ------------------------------------------------
    @property
    def last_voice_at(self) -> float | None:
        return self.turns.last_voice_at

    def on_bot_started(self) -> None:
        self.bot_speaking = True
        self.events.emit({"type": "speech-update", "role": "assistant", "status": "started"})

    def on_bot_stopped(self) -> None:
        self.bot_speaking = False
        self.events.emit({"type": "speech-update", "role": "assistant", "status": "stopped"})
        self.flush_transcript()

    def note_user_speech(self) -> None:
        self.timers.note_user_speech()
        if not self._user_speaking:
            self._user_speaking = True
            self.events.emit({"type": "speech-update", "role": "user", "status": "started"})

    def flush_transcript(self) -> None:
        """Send the conversation's new user and assistant lines as final transcript events."""
        if self.built is None:
            return
        lines = [m for m in transcript(self.built.context) if m["role"] in ("user", "assistant")]
        new = lines[self._messages_sent:]
        for line in new:
            self.events.emit({"type": "transcript", "role": line["role"], "text": line["content"], "final": True})
        if any(line["role"] == "user" for line in new):
            self._interim_sent = ""
        self._messages_sent = max(self._messages_sent, len(lines))
        if new and self.webhooks is not None:
            self.webhooks.offer("conversation-update", {"messages": transcript(self.built.context)})

    def relay_webhook(self, event: dict[str, Any]) -> None:
        """A live event for the assistant's webhook (the contract's snake_case fields)."""
        if self.webhooks is None:
            return
        if event["type"] == "transcript":
            self.webhooks.offer("transcript", {"role": event["role"], "transcript": event["text"],
                                               "transcript_type": "final"})
        elif event["type"] == "speech-update":
            self.webhooks.offer("speech-update", {"role": event["role"], "status": event["status"]})

    def interruptible(self) -> bool:
        return not self._ending

    def may_speculate(self) -> bool:
        return (self.speculate and not self._ending and not self.voicemail.deciding
                and not self.tools.running and not self.bot_speaking)

    def speculative_context(self, text: str) -> LLMContext:
        """A copy of the context with the interim as the user's turn (the real one is untouched)."""
        # Shallow copies, so the speculative turn never lands in the real context; a service's own
        # message (not a dict) is passed on as it is.
        messages: list[LLMContextMessage] = [
            m if isinstance(m, LLMSpecificMessage) else cast("LLMStandardMessage", dict(m))
            for m in self.context.get_messages()]
        messages.append({"role": "user", "content": text})
        self.turns.speculation_started()
        tools = self.context.tools
        return LLMContext(messages, tools=tools) if tools else LLMContext(messages)

    def on_barge_in(self) -> None:
        self.turns.barge_in()
        if self.bot_speaking:
            self.audio.playout.cut_reply()
        if self.audio.cut_greeting(self.built.context if self.built else None):
            self.spawn(self.audio.send_clear(), "clear")

    def record_backchannel(self, text: str) -> None:
        self.backchannels.append(text)

    def note_final(self) -> None:
        self.turns.note_final()

    def on_user_words(self, text: str) -> None:
        # Interim lines go to the browser and listeners only; webhooks get final transcripts (docs/webhooks.md).
        if text and text != self._interim_sent:
            self._interim_sent = text
            self.events.emit({"type": "transcript", "role": "user", "text": text, "final": False}, relay=False)

    def note_llm_request(self, *, speculative: bool = False) -> None:
        self.turns.note_llm_request(speculative=speculative)

    async def on_user_turn(self, text: str, dtmf: str | None = None, speculated: bool = False) -> None:
        if self._user_speaking:
            self._user_speaking = False
            self.events.emit({"type": "speech-update", "role": "user", "status": "stopped"})
        if self._ending:
            return
        if self.voicemail.deciding and await self.voicemail.on_transcript(text, dtmf=dtmf is not None):
            return
        self.turns.end_user_turn(speculated=speculated)
        self.context.add_message({"role": "user", "content": text})
        self.flush_transcript()
        if not speculated:  # else the reply started on the interim transcript; its output is released now
            await self.brain.run_llm(self.context)

    async def handle_function_call(self, params: FunctionCallParams) -> None:
        await self.tools.handle(params)

    def on_probe(self, name: str, frame: Frame) -> None:
        self.turns.on_probe(name, frame, speculating=self.built is not None and self.brain.spec_text is not None)

    def on_realtime_user(self, text: str) -> None:
        self.turns.realtime_user()

    def on_pipeline_error(self, error: str, *, tts_broken: bool) -> None:
        # A provider's retries are spent: the caller would only hear silence from here on, so apologise
        # (when TTS still works) and end with the reason.
        if not self._ending:
            self.spawn(self.end("provider_error", error=error, message=None if tts_broken else PROVIDER_APOLOGY),
                       "end")

    def on_disconnected(self) -> None:
        if not self._ending:
            self.twilio_stopped = True
            self.spawn(self.end("customer_hangup"), "end")

    def on_twilio_stop(self) -> None:
        self.twilio_stopped = True
        if not self._ending:
            self.spawn(self.end("customer_hangup"), "end")

    # --- from the server --------------------------------------------------------------------------
    async def control(self, command: MediaCommand) -> CommandResult:
        """Apply a live control command."""
        return await self.controller.apply(command)

    def begin_ending(self, reason: str, error: str | None) -> bool:
        """Mark the call as ending (once); False when it already was."""
        if self._ending:
            return False
        self._ending, self.end_reason, self.error = True, reason, error
        return True

    def cancel_tasks(self) -> None:
        """Cancel every task the call spawned (but not the caller's own)."""
        for task in self._tasks:
            if not task.done() and task is not asyncio.current_task():
                task.cancel()
