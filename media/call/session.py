"""One live call from Twilio's ``start`` to the final report: its lifecycle around the call's parts."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pipecat.workers.runner import WorkerRunner

from chalicelib.models.media import CallEnded, CallStarted
from media.call import recording
from media.call.core import CallCore
from media.call.keeper import CallKeeper
from media.call.lines import RESUME_APOLOGY
from media.call.prepared import Prepared, greeting_for, stored_greeting
from media.call.transcript import transcript
from media.call.webhook_relay import WebhookRelay
from media.controlplane import control_plane
from media.pipeline.build import Built, build_pipeline
from media.plan import CallPlan, UnsupportedConfig, build_plan
from media.providers.factory import build_services
from media.providers.greeting import synthesize_greeting
from media.providers.keys import resolve_keys

log = logging.getLogger("voice.media.session")

GREETING_SYNTHESIS_WAIT_SECONDS = 3.0
GOODBYE_PLAYOUT_SECONDS = 20.0
PIPELINE_STOP_SECONDS = 5.0
PENDING_AMD_MAX_AGE_SECONDS = 300
RELAY_FLUSH_SECONDS = 10.0


class CallSession(CallCore):
    """Starts the call (plan, pipeline, greeting), waits for its end, ends it and reports it."""

    _started_recorded = False
    _relay_task: asyncio.Task[None] | None = None

    async def run(self, prepared: Prepared | None) -> None:
        """Run the call to its end; a crash still ends it cleanly with a reason."""
        try:
            await self._run(prepared)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a pipeline crash must still end the call with a reason
            log.exception("call %s failed", self.call_id)
            if not self.ending:
                self.end_reason, self.error = "error", f"media service error: {type(exc).__name__}"
        finally:
            self.ready.set()
            self.cancel_tasks()
            await self._end_events()
            await self._finish()

    async def _plan(self, prepared: Prepared | None) -> tuple[CallPlan | None, bytes | None]:
        """The call's plan and ring-time greeting audio: this task's preparation, else the row and the
        greeting another task prepared and stored (read together, so no time is added)."""
        if prepared is not None:
            return prepared.plan, prepared.greeting_audio
        setup, stored = await asyncio.gather(asyncio.to_thread(control_plane().load_call, self.org_id, self.call_id),
                                             stored_greeting(self.org_id, self.call_id))
        if setup is None:
            return None, None
        plan = build_plan(self.org_id, self.call_id, setup.direction, setup.data)
        return plan, greeting_for(plan, stored)

    async def _fail(self, exc: UnsupportedConfig) -> None:
        self.end_reason, self.error = "error", str(exc)
        await asyncio.to_thread(control_plane().hang_up, self.call_sid)

    async def _run(self, prepared: Prepared | None) -> None:
        try:
            plan, greeting_audio = await self._plan(prepared)
        except UnsupportedConfig as exc:
            await self._record_started()
            await self._fail(exc)
            return
        if plan is None:  # no such call: nothing to record on
            await self._close()
            return
        self.plan_or_none = plan
        self.audio.recorder = recording.start(plan)
        relay = WebhookRelay(plan)
        if relay.events:
            self.webhooks = relay
            self.events.relay = self.relay_webhook
            self._relay_task = asyncio.create_task(relay.run())
        if plan.voicemail_detection:
            self.voicemail.arm()
        spoken = bool(greeting_audio) and not self.voicemail.deciding
        if spoken and greeting_audio:
            # Warmed at ring time: the greeting leaves before anything else happens.
            await self.speak_greeting(greeting_audio)
            greeting_audio = None
        started = asyncio.create_task(self._record_started())
        if plan.gdpr_mode:
            self.extra["gdpr_mode"] = True
        log.info("call %s started (%s, caller %s)", self.call_id, plan.direction, self.log_number(plan.caller_phone))
        synthesis: asyncio.Task[bytes | None] | None = None
        if not spoken and greeting_audio is None and plan.first_message and not plan.realtime:
            synthesis = asyncio.create_task(synthesize_greeting(plan, plan.first_message))
        try:
            keys = await asyncio.to_thread(resolve_keys, plan)  # DynamoDB/KMS: never on the event loop
            services = build_services(plan, keys, prepared.warm if prepared else None)
            self.built = built = build_pipeline(self, self.transport.serializer(self.audio), self.ws, plan, services)
        except UnsupportedConfig as exc:
            await started
            await self._fail(exc)
            return
        if self.audio.greeting is not None:
            self.audio.greeting.record(built.context)
        if synthesis is not None:
            greeting_audio = await self._greeting_audio(synthesis)
        self.voicemail.held_greeting = greeting_audio
        if self.voicemail.deciding:
            self.spawn(self.voicemail.timeout(), "vm-timeout")
        await started
        self._start_watchers(plan)
        self.spawn(CallKeeper(self.org_id, self.call_id, self._transcript, self._lost).run(), "keeper")
        runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
        await runner.add_workers(built.worker)
        run_task = asyncio.create_task(runner.run())
        await self._greet(built, spoken=spoken, audio=greeting_audio)
        await self._until_end(built, run_task)
        await self._close()

    @staticmethod
    async def _greeting_audio(synthesis: asyncio.Task[bytes | None]) -> bytes | None:
        try:
            return await asyncio.wait_for(synthesis, GREETING_SYNTHESIS_WAIT_SECONDS)
        except Exception:  # noqa: BLE001 - slow or failed synthesis: the pipeline's TTS says the greeting
            return None

    def _start_watchers(self, plan: CallPlan) -> None:
        pending, self.pending_amd = self.pending_amd, None
        self.ready.set()
        if pending:
            self.spawn(self.voicemail.on_amd(pending), "amd")
        elif plan.voicemail_detection:
            self.spawn(self.voicemail.amd_from_row(), "amd-row")
        self.spawn(self.timers.max_duration(), "max-duration")
        if plan.silence_handling:
            self.spawn(self.timers.silence_watch(), "silence")

    async def _greet(self, built: Built, *, spoken: bool, audio: bytes | None) -> None:
        if self.plan.resumed:
            await built.started.wait()
            await self._resume(built)
            return
        if spoken:
            if built.realtime:
                # Greeted at ring time on the adopted session: give the service the call's context
                # (its conversation is set up, so this asks for no reply).
                await built.started.wait()
                await built.start_realtime()
        elif not built.realtime and not self.voicemail.deciding and audio:
            await self.speak_greeting(audio)
        else:
            await built.started.wait()
            if not self.voicemail.deciding:
                if built.realtime:
                    await built.start_realtime()
                else:
                    await self.speak_greeting(None)

    async def _resume(self, built: Built) -> None:
        """Take over a call whose earlier stream was cut: a short apology, then answer the caller's
        last turn if the task that died never did."""
        log.info("call %s resumed from %d persisted messages", self.call_id, len(self.plan.history))
        if built.realtime:
            await built.start_realtime()
        await self.say(RESUME_APOLOGY)
        if not built.realtime and self.plan.history and self.plan.history[-1].get("role") == "user":
            await self.brain.run_llm(self.context)

    async def _until_end(self, built: Built, run_task: asyncio.Task[Any]) -> None:
        ended_wait = asyncio.create_task(self.ended.wait())
        done, _ = await asyncio.wait({run_task, ended_wait}, return_when=asyncio.FIRST_COMPLETED)
        if ended_wait in done:
            await built.worker.cancel()
            try:
                await asyncio.wait_for(run_task, PIPELINE_STOP_SECONDS)
            except Exception:  # noqa: BLE001 - a pipeline that will not stop is cancelled
                run_task.cancel()
            return
        ended_wait.cancel()
        if not self.ending:
            self.end_reason = self.end_reason or ("customer_hangup" if self.twilio_stopped or built.disconnected
                                                  else "error")
            if self.end_reason == "error" and not self.error:
                self.error = built.error or "pipeline stopped"

    async def end(self, reason: str, *, message: str | None = None, error: str | None = None,
                  hang_up: bool = True, append: bool = True) -> None:
        """End the call once: an optional last line (played out), then hang up at Twilio."""
        if not self.begin_ending(reason, error):
            return
        try:
            if message and not self.twilio_stopped and self.built is not None:
                if self.bot_speaking or self.greeting_playing():
                    await self.brain.barge_in()
                await self.say(message, uninterruptible=True, append=append)
                await self.wait_playout(timeout=GOODBYE_PLAYOUT_SECONDS)
            if hang_up and not self.twilio_stopped:
                await asyncio.to_thread(control_plane().hang_up, self.call_sid)
        finally:
            # Before the pipeline stops: its transport closes the socket a browser hears call-ended on.
            await self._end_events()
            self.ended.set()

    def _transcript(self) -> list[dict[str, Any]]:
        return transcript(self.built.context if self.built else None)

    async def _lost(self) -> None:
        await self.end("media_failure", error="The call row was ended while this task held the call.")

    async def _record_started(self) -> None:
        event = CallStarted(org_id=self.org_id, call_id=self.call_id, control_url=self.control_url)
        await asyncio.to_thread(control_plane().call_started, event)
        self._started_recorded = True

    async def _end_events(self) -> None:
        self.flush_transcript()
        await self.events.end(self.end_reason or "customer_hangup")
        if self.webhooks is not None and self._relay_task is not None:
            self.webhooks.close()
            try:  # what is queued goes out before the end-of-call webhooks
                await asyncio.wait_for(asyncio.shield(self._relay_task), RELAY_FLUSH_SECONDS)
            except TimeoutError:
                pass
            self._relay_task = None

    async def _close(self) -> None:
        await self._end_events()
        try:
            await self.ws.close()
        except Exception:  # noqa: BLE001, S110 - the socket may already be closed by Twilio
            pass

    async def _finish(self) -> None:
        if not self._started_recorded:
            return
        reason = self.end_reason or "customer_hangup"
        extra = dict(self.extra)
        if self.backchannels:
            extra["backchannels"] = self.backchannels
        recorder = self.audio.recorder
        if recorder is not None:
            try:
                extra.update(await recording.store(recorder, self.org_id, self.call_id,
                                                   twilio_stopped=self.twilio_stopped))
            except Exception:  # noqa: BLE001 - a lost recording must not lose the transcript and report
                log.exception("recording upload failed for %s", self.call_id)
        if reason == "voicemail":
            msg = self.plan_or_none.voicemail_message if self.plan_or_none else None
            extra["summary"] = f"Voicemail detected. Left message: {msg}" if msg else "Voicemail detected."
        latency = self.turns.latency()
        if self.built is not None:
            latency["interruptions"] = self.built.brain.interruptions.figures()
        event = CallEnded(org_id=self.org_id, call_id=self.call_id, end_reason=reason,
                          messages=transcript(self.built.context if self.built else None),
                          latency=latency,
                          duration_seconds=int(round(time.time() - self.started_at)),  # whole seconds
                          error=self.error, extra=extra)
        try:
            await asyncio.to_thread(control_plane().call_ended, event)
        except Exception:  # noqa: BLE001 - the delayed check after Twilio's completed callback still ends the row
            log.exception("call_ended failed for %s", self.call_id)
        log.info("call %s ended: %s", self.call_id, reason)
