"""One live call: Twilio stream <-> Pipecat pipeline, tools, control commands, end handling."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.timeutil import now_iso
from media import control_plane, recording, telephony
from media.plan import CallPlan, ToolSpec, UnsupportedConfig, build_plan, mask_number
from media.processors import looks_like_voicemail

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from media.server import MediaServer

log = logging.getLogger("voice.media.session")

FILLERS = ("One moment please.", "Let me check that for you.", "Just a second.", "Bear with me a moment.",
           "Give me a moment while I look into that.")
GOODBYE = "Thank you for calling. Goodbye!"
STILL_THERE = ("Are you still there?", "Hello, are you still with me?", "Can you hear me?")
MAX_DURATION_MESSAGE = "I'm sorry, but we've reached the time limit for this call. Goodbye!"
SILENCE_PROMPTS = 3
VOICE_RMS = 300  # linear16 RMS of a voiced 20 ms frame (digital silence is ~0)
GREETING_CHUNK = 800  # bytes = 100 ms of mu-law per media message (one mark each)


@dataclass
class Turn:
    index: int
    speech_end: float | None = None
    stt_final: float | None = None
    turn_end: float | None = None
    llm_first_token: float | None = None
    tts_first_audio: float | None = None
    first_audio_out: float | None = None
    interrupted: bool = False
    speculative: bool = False

    def figures(self) -> dict[str, Any]:
        def ms(a: float | None, b: float | None) -> int | None:
            return None if a is None or b is None else max(0, round((b - a) * 1000))

        return {"turn": self.index, "endpointing_ms": ms(self.stt_final, self.turn_end),
                "stt_ms": ms(self.speech_end, self.stt_final),
                "llm_first_token_ms": ms(self.turn_end, self.llm_first_token),
                "tts_first_audio_ms": ms(self.llm_first_token, self.tts_first_audio),
                "voice_to_voice_ms": ms(self.speech_end, self.first_audio_out),
                "interrupted": self.interrupted, "speculative": self.speculative}


@dataclass
class Prepared:
    """Ring-time warm-up result for one call (/prepare)."""

    plan: CallPlan
    greeting_audio: bytes | None
    warm: Any = None  # provider connections opened at ring time (media.services)
    created: float = field(default_factory=time.monotonic)
    expiry: Any = None  # the TTL timer: cancelled when a call takes this, or it would pin the call's memory


async def synthesize_ulaw(plan: CallPlan, text: str) -> bytes | None:
    """The first message as mu-law 8 kHz through ElevenLabs' HTTP stream endpoint (None if unavailable)."""
    tts = plan.tts or {}
    if tts.get("provider") != "elevenlabs" or not text:
        return None
    from chalicelib.settings import get_settings
    from media.services import cached_provider_key
    from media.warm import shared_http_client

    key, _ = await asyncio.to_thread(cached_provider_key, plan.org_id, "elevenlabs")
    base = (get_settings().elevenlabs_url or "https://api.elevenlabs.io").rstrip("/")
    base = base.replace("wss://", "https://").replace("ws://", "http://")
    url = f"{base}/v1/text-to-speech/{tts.get('voice_id')}/stream?output_format=ulaw_8000"
    voice_settings = {k: tts[k] for k in ("stability", "similarity_boost", "use_speaker_boost", "speed", "style")
                      if tts.get(k) is not None}
    body: dict[str, Any] = {"text": text, "model_id": tts.get("model") or "eleven_flash_v2_5"}
    if voice_settings:
        body["voice_settings"] = voice_settings
    try:
        # The process's kept-alive pool: after the first call, no TCP/TLS setup per greeting.
        resp = await shared_http_client().post(url, json=body, headers={"xi-api-key": key}, timeout=10.0)
        if resp.status_code != 200:
            log.warning("greeting synthesis failed: HTTP %s", resp.status_code)
            return None
        return resp.content
    except Exception as exc:  # the pipeline's TTS speaks the greeting instead
        log.warning("greeting synthesis failed: %s", type(exc).__name__)
        return None


class CallSession:
    def __init__(self, server: MediaServer, websocket: WebSocket, *, call_id: str, org_id: str,
                 stream_sid: str, call_sid: str | None, account_sid: str | None):
        self.server = server
        self.ws = websocket
        self.call_id = call_id
        self.org_id = org_id
        self.stream_sid = stream_sid
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.plan: CallPlan | None = None
        self.started_at = time.time()
        self.t0 = time.monotonic()
        self.last_voice_at: float | None = None
        self.playout_until = 0.0
        self._spec_first_token: float | None = None
        self.turns: list[Turn] = []
        self.current: Turn | None = None
        self.ended = asyncio.Event()
        self.ready = asyncio.Event()
        self._ending = False
        self.end_reason: str | None = None
        self.error: str | None = None
        self.twilio_stopped = False
        self.transferred_to: str | None = None
        self.extra: dict[str, Any] = {}
        self.worker = None
        self.brain = None
        self.context = None
        self.llm = None
        self._tasks: list[asyncio.Task] = []
        self._marks: dict[str, asyncio.Future] = {}
        self._mark_seq = 0
        self._greeting: dict[str, Any] | None = None
        self.voicemail_state = "off"  # off | deciding | human | voicemail
        self._held_turns: list[str] = []
        self.silence_prompts = 0
        self.tools_running = 0
        self.backchannels: list[str] = []
        self.first_audio_at: float | None = None
        self.greeting_latency_ms: int | None = None
        self.bot_speaking = False
        self._uninterruptible = False
        self.recorder: recording.Recorder | None = None
        import os

        self.speculate = os.environ.get("MEDIA_SPECULATIVE_REPLIES", "true").lower() in ("1", "true", "yes", "on")

    # --- small helpers ---------------------------------------------------------------------
    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=f"{name}-{self.call_id[:8]}")
        self._tasks.append(task)
        return task

    def log_number(self, number: str | None) -> str:
        return mask_number(number) if (self.plan and self.plan.gdpr_mode) else (number or "")

    async def send_json(self, message: dict[str, Any]) -> None:
        try:
            await self.ws.send_text(json.dumps(message))
        except Exception:  # the caller hung up: a lost send is harmless, the stop/close path ends the call
            pass

    async def send_mark(self, name: str | None = None) -> asyncio.Future:
        self._mark_seq += 1
        name = name or f"m{self._mark_seq}"
        fut = asyncio.get_running_loop().create_future()
        self._marks[name] = fut
        await self.send_json({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})
        return fut

    # --- callbacks from the serializer and the brain ---------------------------------------
    def note_audio_in(self, level: int) -> None:
        # The end of caller speech as the platform sees it: the last voiced frame's arrival.
        if level >= VOICE_RMS:
            self.last_voice_at = time.monotonic()

    def maybe_playing(self) -> bool:
        """Could Twilio still be playing something we sent? (Its buffer drains in real time.)"""
        return time.monotonic() < self.playout_until + 0.3

    def note_audio_out(self, nbytes: int) -> None:
        now = time.monotonic()
        self.playout_until = max(self.playout_until, now) + nbytes / 8000
        if self.first_audio_at is None:
            self.first_audio_at = now
            self.greeting_latency_ms = round((now - self.t0) * 1000)
        if self.current and self.current.turn_end and self.current.first_audio_out is None:
            self.current.first_audio_out = now
        self.server.stats.note_frame(self.call_id, now, nbytes)

    def note_clear(self) -> None:
        # Marks echoed after a clear mean "discarded", not "played".
        if self._greeting is not None and self._greeting.get("cleared_at") is None:
            self._greeting["cleared_at"] = time.monotonic()

    def on_mark(self, name: str) -> None:
        g = self._greeting
        if g is not None and name.startswith("greet-") and g.get("cleared_at") is None:
            g["played_chunks"] = max(g["played_chunks"], int(name.split("-")[1]) + 1)
        fut = self._marks.pop(name, None)
        if fut and not fut.done():
            fut.set_result(True)

    def on_twilio_stop(self) -> None:
        self.twilio_stopped = True
        if not self._ending:
            self._spawn(self.end("customer_hangup"), "end")

    def greeting_playing(self) -> bool:
        g = self._greeting
        return bool(g and g.get("cleared_at") is None and g["played_chunks"] < g["chunks"])

    def interruptible(self) -> bool:
        return not self._uninterruptible and not self._ending

    def on_bot_started(self) -> None:
        self.bot_speaking = True

    def on_bot_stopped(self) -> None:
        self.bot_speaking = False
        self.silence_prompts_reset_ok = True

    def note_user_speech(self) -> None:
        self.silence_prompts = 0

    def record_backchannel(self, text: str) -> None:
        self.backchannels.append(text)

    def note_final(self, result: Any) -> None:
        now = time.monotonic()
        if self.current is None or self.current.turn_end is not None:
            self.current = Turn(index=len(self.turns) + 1)
            self.turns.append(self.current)
        self.current.stt_final = now
        voiced = self.last_voice_at
        self.current.speech_end = voiced if voiced is not None and now - voiced < 5.0 else now

    def on_realtime_user(self, text: str) -> None:
        now = time.monotonic()
        voiced = self.last_voice_at
        turn = Turn(index=len(self.turns) + 1, speech_end=voiced if voiced and now - voiced < 5 else now,
                    stt_final=now, turn_end=now)
        self.turns.append(turn)
        self.current = turn

    def on_barge_in(self) -> None:
        if self.current and self.current.turn_end and not self.current.interrupted:
            self.current.interrupted = True
        self._truncate_greeting()

    def on_probe(self, name: str, frame: Any) -> None:
        from pipecat.frames.frames import LLMTextFrame, TTSAudioRawFrame

        t = self.current
        now = time.monotonic()
        if isinstance(frame, LLMTextFrame) and self.brain is not None and self.brain.spec_text is not None:
            self._spec_first_token = self._spec_first_token or now
        if t is None or t.turn_end is None:
            return
        if name == "llm" and isinstance(frame, LLMTextFrame) and t.llm_first_token is None:
            t.llm_first_token = now
        elif name == "tts" and isinstance(frame, TTSAudioRawFrame) and t.tts_first_audio is None:
            t.tts_first_audio = now

    # --- greeting ------------------------------------------------------------------------------
    async def speak_greeting(self, audio: bytes | None) -> None:
        plan = self.plan
        if not plan or not plan.first_message:
            return
        if not audio:
            if plan.realtime:
                await self.brain.run_llm(self.context)  # the model opens with the first message
            else:
                await self.say(plan.first_message)
            return
        # Straight onto the socket, 100 ms per media message, each followed by a mark: the echoed
        # marks tell exactly how much of the greeting the caller heard if they barge in.
        chunks = [audio[i:i + GREETING_CHUNK] for i in range(0, len(audio), GREETING_CHUNK)]
        self._greeting = {"text": plan.first_message, "heard": plan.first_message, "chunks": len(chunks),
                          "played_chunks": 0, "cleared_at": None, "index": None}
        for i, chunk in enumerate(chunks):
            self.note_audio_out(len(chunk))
            if self.recorder is not None:
                self.recorder.agent(chunk)
            await self.send_json({"event": "media", "streamSid": self.stream_sid,
                                  "media": {"payload": base64.b64encode(chunk).decode()}})
            await self.send_json({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": f"greet-{i}"}})
        if self.context is not None:
            self._record_greeting()

    def _record_greeting(self) -> None:
        g = self._greeting
        if g is None or g["index"] is not None or not g["heard"]:
            return
        self.context.add_message({"role": "assistant", "content": g["heard"]})
        g["index"] = len(self.context.get_messages()) - 1

    def _truncate_greeting(self) -> None:
        g = self._greeting
        if not g or g.get("truncated") or g["played_chunks"] >= g["chunks"]:
            return
        g["truncated"] = True
        if g.get("cleared_at") is None:
            g["cleared_at"] = time.monotonic()
        words = g["text"].split()
        g["heard"] = " ".join(words[: int(len(words) * g["played_chunks"] / max(1, g["chunks"]))])
        idx = g.get("index")
        if idx is not None and self.context is not None:
            msgs = self.context.get_messages()
            if idx < len(msgs):
                if g["heard"]:
                    msgs[idx]["content"] = g["heard"]
                else:
                    msgs.pop(idx)
                self.context.set_messages(msgs)
        # The greeting audio went out on the socket directly: clear it at Twilio.
        if self.recorder is not None:
            self.recorder.clear()
        self._spawn(self.send_json({"event": "clear", "streamSid": self.stream_sid}), "clear")

    # --- conversation ------------------------------------------------------------------------
    def may_speculate(self) -> bool:
        return (self.speculate and not self._ending and self.voicemail_state != "deciding"
                and not self.tools_running and not self.bot_speaking)

    def speculative_context(self, text: str):
        """A copy of the context with the interim as the user's turn (the real one is untouched)."""
        from pipecat.processors.aggregators.llm_context import LLMContext

        messages = [dict(m) for m in self.context.get_messages()] + [{"role": "user", "content": text}]
        tools = self.context.tools
        self._spec_started = time.monotonic()
        self._spec_first_token = None
        return LLMContext(messages, tools=tools) if tools else LLMContext(messages)

    async def on_user_turn(self, text: str, dtmf: str | None = None, speculated: bool = False) -> None:
        if self._ending:
            return
        if self.voicemail_state == "deciding":
            if dtmf is None and looks_like_voicemail(text):
                await self.voicemail_detected(source="transcript")
                return
            if self.plan.first_message:
                # The caller's "hello?" is answered by the greeting.
                self.context.add_message({"role": "user", "content": text})
                await self.human_detected(source="transcript")
                return
            await self.human_detected(source="transcript")
        if self.current is None or self.current.turn_end is not None:
            self.current = Turn(index=len(self.turns) + 1, speech_end=time.monotonic())
            self.turns.append(self.current)
        self.current.turn_end = time.monotonic()
        if self.current.stt_final is None:
            self.current.stt_final = self.current.turn_end
        self.context.add_message({"role": "user", "content": text})
        if speculated:
            # The reply started on the interim transcript; its output is released now.
            self.current.speculative = True
            self.current.llm_first_token = self._spec_first_token
            return
        await self.brain.run_llm(self.context)

    async def say(self, text: str, *, uninterruptible: bool = False, append: bool = True) -> None:
        from pipecat.frames.frames import TTSSpeakFrame

        if self.worker is None:
            return
        if self.plan is not None and self.plan.realtime:
            # No TTS stage in speech-to-speech: the realtime model says the exact text.
            await self.llm.say_exact(text, self.context, append=append, uninterruptible=uninterruptible)
            return
        frame = TTSSpeakFrame(text, append_to_context=append)
        if uninterruptible:
            frame.interruptible = False
        await self.worker.queue_frame(frame)

    async def wait_playout(self, timeout: float = 15.0) -> None:
        """Wait until the agent has finished speaking what is queued, then until Twilio played it."""
        deadline = time.monotonic() + timeout
        await asyncio.sleep(0.05)
        # Wait for the TTS (or the realtime model) to start (or give up quickly if nothing is coming).
        start_wait = time.monotonic() + (8.0 if self.plan is not None and self.plan.realtime else 3.0)
        while not self.bot_speaking and time.monotonic() < min(start_wait, deadline):
            if self.twilio_stopped:
                return
            await asyncio.sleep(0.02)
        while self.bot_speaking and time.monotonic() < deadline:
            if self.twilio_stopped:
                return
            await asyncio.sleep(0.02)
        while self.greeting_playing() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self.twilio_stopped:
            return
        fut = await self.send_mark("drain")
        try:
            await asyncio.wait_for(fut, max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            pass

    # --- voicemail -----------------------------------------------------------------------------
    async def human_detected(self, source: str) -> None:
        if self.voicemail_state != "deciding":
            return
        self.voicemail_state = "human"
        self.extra["answered_by"] = "human"
        self.extra["amd_source"] = source
        await self.speak_greeting(self._held_greeting)

    async def voicemail_detected(self, source: str) -> None:
        if self.voicemail_state not in ("deciding", "human") or self._ending:
            return
        self.voicemail_state = "voicemail"
        self.extra["voicemail"] = True
        self.extra["amd_source"] = source
        msg = self.plan.voicemail_message
        if msg:
            self.extra["voicemail_message"] = msg
            self.context.add_message({"role": "assistant", "content": msg})
        # Spawned: this runs inside the brain's frame handling, which must keep flowing while we speak.
        self._spawn(self.end("voicemail", message=msg, append=False), "end")

    async def on_amd(self, answered_by: str) -> None:
        self.extra["answered_by"] = answered_by
        if answered_by.startswith("machine") or answered_by == "fax":
            if self.voicemail_state in ("deciding", "human") and self.plan.voicemail_detection:
                await self.voicemail_detected(source="amd")
        elif answered_by == "human":
            await self.human_detected(source="amd")

    async def _amd_from_row(self) -> None:
        # Without sticky routing Twilio's early verdict may have reached another media task, which kept it
        # in its own memory; the control plane also stored it on the row. Read after call_started set our
        # control_url, so a verdict arriving later is forwarded here instead: none is missed.
        call = await asyncio.to_thread(control_plane.load_call, self.org_id, self.call_id)
        answered_by = call.data.get("answered_by") if call is not None else None
        if answered_by:
            await self.on_amd(str(answered_by))

    async def _voicemail_timeout(self) -> None:
        await asyncio.sleep(4.0)
        await self.human_detected(source="timeout")

    # --- timers ---------------------------------------------------------------------------------
    async def _max_duration(self) -> None:
        await asyncio.sleep(self.plan.max_duration_seconds)
        await self.end("max_duration", message=MAX_DURATION_MESSAGE)

    async def _silence_watch(self) -> None:
        timeout = self.plan.silence_timeout_seconds
        while not self._ending:
            await asyncio.sleep(0.25)
            brain = self.brain
            if brain is None or self.bot_speaking or self.greeting_playing() or self.tools_running:
                continue
            if self.voicemail_state == "deciding":
                continue
            if time.monotonic() - brain.last_activity < timeout:
                continue
            self.silence_prompts += 1
            brain.last_activity = time.monotonic()
            if self.silence_prompts > SILENCE_PROMPTS:
                await self.end("silence_timeout", message=GOODBYE)
                return
            await self.say(STILL_THERE[(self.silence_prompts - 1) % len(STILL_THERE)])

    # --- tools ------------------------------------------------------------------------------------
    def _webhook_call_object(self) -> dict[str, Any]:
        plan = self.plan
        return {"id": self.call_id, "type": f"{plan.direction}_phone_call", "status": "in-progress"}

    def tool_payload(self, spec: ToolSpec, tool_call_id: str, args: dict[str, Any]) -> dict[str, Any]:
        plan = self.plan
        assistant = {k: v for k, v in plan.config.items() if k != "webhook_secret"}
        assistant["metadata"] = plan.metadata
        calls = [{"id": tool_call_id, "type": "function", "function": {"name": spec.name, "arguments": args}}]
        return {"message": {
            "type": "tool-calls", "timestamp": now_iso(), "call": self._webhook_call_object(),
            "phone_number": {"number": plan.assistant_phone}, "customer": {"number": plan.caller_phone},
            "assistant": assistant, "tool_call_list": calls, "tool_calls": calls}}

    async def run_function_tool(self, spec: ToolSpec, tool_call_id: str, args: dict[str, Any]) -> Any:
        plan = self.plan
        url = spec.url or plan.webhook_url
        if not url:
            return {"error": f"Tool {spec.name} has no URL configured."}
        secret = await asyncio.to_thread(control_plane.tool_secret, plan.org_id, plan.call_id,
                                         plan.assistant_id, spec.name, bool(spec.url))
        payload = self.tool_payload(spec, tool_call_id, args)
        try:
            out = await asyncio.to_thread(control_plane.call_tool_webhook, url, secret, payload, 10.0)
        except Exception as exc:  # any tool failure becomes an error result the LLM can speak; the call goes on
            log.warning("tool %s failed: %s", spec.name, type(exc).__name__)
            return {"error": "The tool could not be reached."}
        if isinstance(out, dict) and out.get("error"):
            return {"error": out["error"]}
        return out.get("result") if isinstance(out, dict) else out

    async def handle_function_call(self, params: Any) -> None:
        from pipecat.frames.frames import FunctionCallResultProperties

        # A tool call from a speculative reply runs only once the final transcript confirmed it
        # (a withdrawn speculation cancels this handler through the interruption).
        while self.brain is not None and self.brain.spec_text is not None:
            await asyncio.sleep(0.01)
        spec = self.plan.tool(params.function_name)
        args = dict(params.arguments or {})
        if spec is None:
            await params.result_callback({"error": f"Unknown tool {params.function_name}"})
            return
        if spec.kind == "endCall":
            await params.result_callback({"ok": True}, properties=FunctionCallResultProperties(run_llm=False))
            self._spawn(self.end("assistant_hangup", message=spec.message or GOODBYE), "end")
            return
        if spec.kind == "transferCall":
            dest = args.get("destination") or ""
            match = next((d for d in spec.destinations if dest in (d.get("number"), d.get("sip_uri"))), None)
            if match is None and spec.destinations:
                match = spec.destinations[0]
                dest = match.get("number") or match.get("sip_uri")
            await params.result_callback({"ok": True, "transferring_to": dest},
                                         properties=FunctionCallResultProperties(run_llm=False))
            self._spawn(self.transfer(dest, (match or {}).get("message")), "transfer")
            return
        if spec.is_async:
            await params.result_callback({"status": "accepted"}, properties=FunctionCallResultProperties(run_llm=False))
            if spec.async_response:
                await self.say(spec.async_response)
            else:
                await self.brain.run_llm(self.context)
            self._spawn(self.run_function_tool(spec, params.tool_call_id, args), f"tool-{spec.name}")
            return
        self.tools_running += 1
        filler = self._spawn(self._filler_after(1.0), "filler")
        try:
            result = await self.run_function_tool(spec, params.tool_call_id, args)
        finally:
            self.tools_running -= 1
            filler.cancel()
        await params.result_callback(result)

    async def _filler_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        text = random.choice(FILLERS)
        self.extra.setdefault("fillers", []).append(text)
        # Not in the context: it would land after the tool result and confuse the next reply.
        await self.say(text, append=False)

    # --- control commands -------------------------------------------------------------------------
    async def control(self, cmd: dict[str, Any]) -> dict[str, Any]:
        kind = cmd.get("type")
        if kind == "inject-context":
            content = str(cmd.get("content") or "")
            self.context.add_message({"role": "system", "content": content})
            if cmd.get("trigger_response"):
                if self.bot_speaking or self.greeting_playing():
                    await self.brain.barge_in()
                await self.brain.run_llm(self.context)
            return {"success": True}
        if kind == "say":
            content = str(cmd.get("content") or "")
            if cmd.get("end_after"):
                self._spawn(self.end("control_end_call", message=content), "end")
            else:
                await self.say(content)
            return {"success": True}
        if kind == "end-call":
            self._spawn(self.end("control_end_call", message=cmd.get("message") or None), "end")
            return {"success": True}
        if kind == "transfer":
            self._spawn(self.transfer(str(cmd.get("destination") or ""), cmd.get("message")), "transfer")
            return {"success": True}
        if kind == "amd":
            await self.on_amd(str(cmd.get("answered_by") or "unknown"))
            return {"success": True}
        return {"success": False, "error": f"unknown command type {kind!r}"}

    async def transfer(self, destination: str, message: str | None) -> None:
        if self._ending or not destination:
            return
        trunk = None
        if not destination.startswith("sip:"):
            trunk = await asyncio.to_thread(control_plane.transfer_trunk, self.org_id, self.plan.number_id)
        caller_id = self.plan.assistant_phone if self.plan.direction == "outbound" else self.plan.caller_phone
        twiml = telephony.transfer_twiml(destination, caller_id=caller_id if not trunk else None, trunk=trunk)
        if message:
            await self.say(message, uninterruptible=True)
            await self.wait_playout()
        self.transferred_to = destination
        self.extra["transferred_to"] = destination
        ok = await telephony.redirect(self.account_sid, self.call_sid, twiml)
        if not ok:
            self.extra["transfer_error"] = "twilio update failed"
        await self.end("transferred", hang_up=False)

    # --- ending -------------------------------------------------------------------------------------
    async def end(self, reason: str, *, message: str | None = None, error: str | None = None,
                  hang_up: bool = True, append: bool = True) -> None:
        if self._ending:
            return
        self._ending = True
        self.end_reason = reason
        self.error = error
        try:
            if message and not self.twilio_stopped and self.worker is not None:
                if self.brain and (self.bot_speaking or self.greeting_playing()):
                    await self.brain.barge_in()
                await self.say(message, uninterruptible=True, append=append)
                await self.wait_playout(timeout=20.0)
            if hang_up and not self.twilio_stopped:
                await telephony.hang_up(self.account_sid, self.call_sid)
        finally:
            self.ended.set()

    def transcript(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.context is None:
            return out
        for m in self.context.get_messages():
            role = m.get("role")
            content = m.get("content")
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            if role == "system":
                continue
            if role == "assistant" and m.get("tool_calls"):
                for tc in m["tool_calls"]:
                    fn = tc.get("function") or {}
                    out.append({"role": "tool_call", "name": fn.get("name"), "arguments": fn.get("arguments"),
                                "tool_call_id": tc.get("id")})
                if content:
                    out.append({"role": "assistant", "content": content})
                continue
            if role == "tool":
                out.append({"role": "tool", "tool_call_id": m.get("tool_call_id"), "content": content})
                continue
            if role in ("user", "assistant") and content:
                out.append({"role": role, "content": content})
        return out

    def latency(self) -> dict[str, Any]:
        turns = [t.figures() for t in self.turns if t.turn_end is not None]

        def summary(key: str) -> dict[str, Any] | None:
            vals = [t[key] for t in turns if t.get(key) is not None]
            if not vals:
                return None
            vals.sort()
            return {"avg": round(statistics.fmean(vals)), "p50": vals[len(vals) // 2],
                    "max": vals[-1], "min": vals[0]}

        return {"turns": turns, "greeting_ms": self.greeting_latency_ms,
                "summary": {k: summary(k) for k in ("endpointing_ms", "stt_ms", "llm_first_token_ms",
                                                    "tts_first_audio_ms", "voice_to_voice_ms")}}

    # --- main ---------------------------------------------------------------------------------------
    async def run(self, prepared: Prepared | None) -> None:
        try:
            await self._run(prepared)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a pipeline crash must still end the call cleanly with a reason
            log.exception("call %s failed", self.call_id)
            if not self._ending:
                self.end_reason, self.error = "error", f"media service error: {type(exc).__name__}"
        finally:
            self.ready.set()
            for task in self._tasks:
                if not task.done() and task is not asyncio.current_task():
                    task.cancel()
            await self._finish()

    async def _run(self, prepared: Prepared | None) -> None:
        call = None
        if prepared is None:
            call = await asyncio.to_thread(control_plane.load_call, self.org_id, self.call_id)
            if call is None:
                self.end_reason = None  # nothing to record on
                await self._close()
                return
        try:
            self.plan = prepared.plan if prepared else build_plan(self.org_id, self.call_id, call.direction, call.data)
        except UnsupportedConfig as exc:
            await self._record_started()
            self.end_reason, self.error = "error", str(exc)
            await telephony.hang_up(self.account_sid, self.call_sid)
            return
        plan = self.plan
        self.recorder = recording.start(plan)
        if plan.voicemail_detection:
            self.voicemail_state = "deciding"
        greeting_audio = prepared.greeting_audio if prepared else None
        if greeting_audio and self.voicemail_state != "deciding":
            # Warmed at ring time: the greeting leaves before anything else happens.
            await self.speak_greeting(greeting_audio)
            greeting_audio = None
            spoken = True
        else:
            spoken = False
        started = asyncio.create_task(self._record_started())
        if plan.gdpr_mode:
            self.extra["gdpr_mode"] = True
        log.info("call %s started (%s, caller %s)", self.call_id, plan.direction, self.log_number(plan.caller_phone))

        greeting_task: asyncio.Task | None = None
        if not spoken and greeting_audio is None and plan.first_message and not plan.realtime:
            greeting_task = asyncio.create_task(synthesize_ulaw(plan, plan.first_message))

        from media.pipeline import build_pipeline
        from media.services import resolve_keys

        try:
            keys = await asyncio.to_thread(resolve_keys, plan)  # DynamoDB/KMS: never on the event loop
            built = build_pipeline(self, plan, keys, warm=prepared.warm if prepared else None)
        except UnsupportedConfig as exc:
            await started
            self.end_reason, self.error = "error", str(exc)
            await telephony.hang_up(self.account_sid, self.call_sid)
            return
        self.worker, self.brain, self.context, self.llm = built.worker, built.brain, built.context, built.llm
        self._record_greeting()

        if greeting_task is not None:
            try:
                greeting_audio = await asyncio.wait_for(greeting_task, 3.0)
            except (TimeoutError, Exception):
                greeting_audio = None
        self._held_greeting = greeting_audio
        if plan.voicemail_detection:
            self._spawn(self._voicemail_timeout(), "vm-timeout")
        await started

        pending = self.server.pending_amd.pop(self.call_id, None)
        self.ready.set()
        if pending and time.monotonic() - pending[1] < 300:
            self._spawn(self.on_amd(pending[0]), "amd")
        elif plan.voicemail_detection:
            self._spawn(self._amd_from_row(), "amd-row")
        self._spawn(self._max_duration(), "max-duration")
        if plan.silence_handling:
            self._spawn(self._silence_watch(), "silence")

        from pipecat.workers.runner import WorkerRunner

        runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
        await runner.add_workers(self.worker)
        run_task = asyncio.create_task(runner.run())
        if spoken:
            if plan.realtime:
                # Greeted at ring time on the adopted session: give the service the call's context
                # (its conversation is set up, so this asks for no reply).
                await built.started.wait()
                await built.start_realtime()
        elif not plan.realtime and self.voicemail_state != "deciding" and greeting_audio:
            await self.speak_greeting(greeting_audio)
        else:
            await built.started.wait()
            if self.voicemail_state != "deciding":
                if plan.realtime:
                    await built.start_realtime()
                else:
                    await self.speak_greeting(None)
        ended_wait = asyncio.create_task(self.ended.wait())
        done, _ = await asyncio.wait({run_task, ended_wait}, return_when=asyncio.FIRST_COMPLETED)
        if ended_wait in done:
            await self.worker.cancel()
            try:
                await asyncio.wait_for(run_task, 5.0)
            except (TimeoutError, Exception):
                run_task.cancel()
        else:
            ended_wait.cancel()
            if not self._ending:
                self.end_reason = self.end_reason or ("customer_hangup" if self.twilio_stopped or built.disconnected
                                                      else "error")
                if self.end_reason == "error" and not self.error:
                    self.error = built.error or "pipeline stopped"
        await self._close()

    async def _record_started(self) -> None:
        await asyncio.to_thread(control_plane.call_started, self.org_id, self.call_id, self.server.control_base_url)
        self._started_recorded = True

    async def _close(self) -> None:
        try:
            await self.ws.close()
        except Exception:  # the socket may already be closed by Twilio
            pass

    async def _finish(self) -> None:
        if not getattr(self, "_started_recorded", False):
            return
        reason = self.end_reason or "customer_hangup"
        duration = int(round(time.time() - self.started_at))  # whole seconds (contract)
        extra = dict(self.extra)
        if self.backchannels:
            extra["backchannels"] = self.backchannels
        if self.recorder is not None:
            try:
                extra.update(await recording.store(self))
            except Exception:  # a lost recording must not lose the transcript and end-of-call report
                log.exception("recording upload failed for %s", self.call_id)
        if reason == "voicemail":
            msg = self.plan.voicemail_message if self.plan else None
            extra["summary"] = f"Voicemail detected. Left message: {msg}" if msg else "Voicemail detected."
        try:
            await asyncio.to_thread(
                control_plane.call_ended, self.org_id, self.call_id, end_reason=reason,
                messages=self.transcript(), latency=self.latency(), duration_seconds=duration,
                error=self.error, extra=extra)
        except Exception:  # the delayed check after Twilio's completed callback still ends the row
            log.exception("call_ended failed for %s", self.call_id)
        log.info("call %s ended: %s", self.call_id, reason)
