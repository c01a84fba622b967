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
from media.call.greeting import FIRST_AUDIO_WAIT_SECONDS, GreetingAudio
from media.call.keeper import CallKeeper
from media.call.lines import RESUME_APOLOGY
from media.call.prepared import Prepared, greeting_for, start_greeting, stored_greeting
from media.call.transcript import transcript
from media.call.webhook_relay import WebhookRelay
from media.controlplane import control_plane
from media.pipeline.build import Built, build_pipeline
from media.plan import CallPlan, UnsupportedConfig, build_plan
from media.providers.factory import build_services
from media.providers.greeting import greeting_fingerprint
from media.providers.greeting_cache import greeting_cache
from media.providers.keys import resolve_keys
from media.release import release_elsewhere

log = logging.getLogger("voice.media.session")

FIRST_CHUNK_WAIT_SECONDS = 0.3  # the most the pipeline build waits for a streaming greeting's first chunk
WARM_UP_WAIT_SECONDS = 2.0  # how long a stream waits for ring-time connections still opening
GOODBYE_PLAYOUT_SECONDS = 20.0
PIPELINE_STOP_SECONDS = 5.0
PENDING_AMD_MAX_AGE_SECONDS = 300
RELAY_FLUSH_SECONDS = 10.0


class CallSession(CallCore):
    """Starts the call (plan, pipeline, greeting), waits for its end, ends it and reports it."""

    _started_recorded = False
    _relay_task: asyncio.Task[None] | None = None
    _greeting_player: asyncio.Task[None] | None = None

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

    async def _plan(self, prepared: Prepared | None) -> tuple[CallPlan | None, GreetingAudio | None]:
        """The call's plan and ring-time greeting audio: this task's preparation, else the row and the
        greeting another task prepared and stored (read together, so no time is added)."""
        if prepared is not None:
            return prepared.plan, prepared.greeting
        setup, stored = await asyncio.gather(asyncio.to_thread(control_plane().load_call, self.org_id, self.call_id),
                                             stored_greeting(self.org_id, self.call_id))
        if setup is None:
            return None, None
        # Prepared at ring time by another task (or not at all): free that task's reservation now.
        release_elsewhere(setup.data.get("prepared_by"), self.control_url, self.org_id, self.call_id)
        plan = build_plan(self.org_id, self.call_id, setup.direction, setup.data)
        audio = greeting_for(plan, stored)
        if audio is None:
            return plan, None
        greeting_cache().put((plan.org_id, greeting_fingerprint(plan)), audio)  # this task's next call of it
        return plan, GreetingAudio.whole(audio)

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
        if greeting_audio is None and not plan.resumed:
            greeting_audio = start_greeting(plan, store=False)  # no ring: the synthesis starts at `start`
        spoken = greeting_audio is not None and not self.voicemail.deciding and not plan.resumed
        if spoken and greeting_audio is not None:
            # The greeting leaves as its audio arrives (at once from a ring-time preparation or the cache),
            # before and while anything else happens.
            greeting = self.audio.begin_greeting(plan.first_message or "")
            self._greeting_player = self.spawn(self.audio.play_greeting(greeting, greeting_audio), "greeting")
            if not greeting_audio.done:
                # Still being synthesized: let its request go out and its first chunk leave before the
                # pipeline build holds the event loop (tens of ms of CPU; it delayed the first chunk ~100 ms).
                await greeting_audio.first_audio(FIRST_CHUNK_WAIT_SECONDS)
                await asyncio.sleep(0)  # the player sends the chunk that just arrived
        started = asyncio.create_task(self._record_started())
        if plan.gdpr_mode:
            self.extra["gdpr_mode"] = True
        log.info("call %s started (%s, caller %s)", self.call_id, plan.direction, self.log_number(plan.caller_phone))
        try:
            keys = await asyncio.to_thread(resolve_keys, plan)  # DynamoDB/KMS: never on the event loop
            warm = await prepared.warmed(WARM_UP_WAIT_SECONDS) if prepared is not None else None
            services = build_services(plan, keys, warm)
            self.built = built = build_pipeline(self, self.transport.serializer(self.audio), self.ws, plan, services)
        except UnsupportedConfig as exc:
            await started
            await self._fail(exc)
            return
        self.voicemail.held_greeting = None if spoken else greeting_audio
        if self.voicemail.deciding:
            self.spawn(self.voicemail.timeout(), "vm-timeout")
        await started
        self._start_watchers(plan)
        self.spawn(CallKeeper(self.org_id, self.call_id, self._transcript, self._lost).run(), "keeper")
        runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
        await runner.add_workers(built.worker)
        run_task = asyncio.create_task(runner.run())
        await self._greet(built, playing=greeting_audio if spoken else None)
        await self._until_end(built, run_task)
        await self._close()

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

    async def _greet(self, built: Built, *, playing: GreetingAudio | None) -> None:
        """``playing``: the greeting's audio, already being played since the stream started."""
        if self.plan.resumed:
            await built.started.wait()
            await self._resume(built)
            return
        if playing is not None:
            await self._greeting_heard(built, playing)
            if built.realtime:
                # Greeted at ring time on the adopted session: give the service the call's context
                # (its conversation is set up, so this asks for no reply).
                await built.started.wait()
                await built.start_realtime()
            return
        await built.started.wait()
        if not self.voicemail.deciding:
            if built.realtime:
                await built.start_realtime()
            else:
                await self.speak_greeting(None)

    async def _greeting_heard(self, built: Built, audio: GreetingAudio) -> None:
        """The greeting playing from its audio goes into the conversation once its first audio is there;
        with none in time (the synthesis failed or stalls) its player stops and the pipeline's TTS says it."""
        greeting, player = self.audio.greeting, self._greeting_player
        if greeting is None or player is None:
            return
        if await audio.first_audio(FIRST_AUDIO_WAIT_SECONDS):
            greeting.record(built.context)
            self.flush_transcript()
            return
        player.cancel()
        await built.started.wait()
        if not built.realtime and self.plan.first_message:
            await self.say(self.plan.first_message)

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
