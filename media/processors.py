"""Our Pipecat processors: the Twilio serializer with marks, the turn brain, and latency probes.

The brain replaces Pipecat's user aggregator: it ends the caller's turn on the STT's own endpoint
(Deepgram ``speech_final``) instead of waiting for a local VAD + turn model, filters backchannels,
fires barge-in on the first real word heard while the agent speaks, turns DTMF into text, holds
agent speech while voicemail detection decides, and drives silence handling.
"""

from __future__ import annotations

import asyncio
import audioop
import base64
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pipecat.frames.frames import (
    AudioRawFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor, FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer

if TYPE_CHECKING:
    from media.session import CallSession

BACKCHANNELS = {
    "mhm", "mm", "mmm", "hmm", "uh-huh", "uh", "huh", "um", "yeah", "yes", "yep", "yup", "ok", "okay",
    "right", "sure", "alright", "got", "it", "i", "see", "ah", "oh", "cool", "great", "nice", "ja", "oke",
}
WORD_RE = re.compile(r"[a-zA-Z\u00C0-\u024F'-]+")

VOICEMAIL_PATTERNS = (
    "leave a message", "leave your message", "after the tone", "after the beep", "not available",
    "can't take your call", "cannot take your call", "can't come to the phone", "voicemail", "voice mail",
    "record your message", "mailbox", "please leave", "at the tone", "beep", "unavailable right now",
    "spreek een bericht", "na de piep", "inspreken",
)


def is_backchannel(text: str, max_words: int = 3) -> bool:
    """Short acknowledgements that must not interrupt the agent."""
    words = [w.lower().strip("-'") for w in WORD_RE.findall(text)]
    return 0 < len(words) <= max_words and all(w in BACKCHANNELS for w in words)


def looks_like_voicemail(text: str) -> bool:
    low = text.lower()
    return any(p in low for p in VOICEMAIL_PATTERNS)


class TwilioSerializer(FrameSerializer):
    """Twilio Media Streams <-> 8 kHz linear16 frames, with marks and session callbacks.

    mu-law <-> linear16 at one rate is a lookup (no resampler); the TTS asks for ``ulaw_8000`` so the
    bytes we send are the provider's bytes. Marks are forwarded to the session (greeting playback,
    drain before hang-up); ``stop`` tells the session the caller hung up.
    """

    def __init__(self, session: CallSession):
        super().__init__()
        self._session = session
        self.stream_sid = session.stream_sid

    async def setup(self, setup: FrameProcessorSetup):
        return None

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, InterruptionFrame):
            if not self._session.maybe_playing():
                return None  # nothing queued at Twilio (e.g. a withdrawn speculative reply)
            self._session.note_clear()
            if self._session.recorder is not None:
                self._session.recorder.clear()
            return json.dumps({"event": "clear", "streamSid": self.stream_sid})
        if isinstance(frame, AudioRawFrame):
            if not frame.audio:
                return None
            ulaw = audioop.lin2ulaw(frame.audio, 2)
            self._session.note_audio_out(len(ulaw))
            if self._session.recorder is not None:
                self._session.recorder.agent(ulaw)
            return json.dumps({"event": "media", "streamSid": self.stream_sid,
                               "media": {"payload": base64.b64encode(ulaw).decode()}})
        if isinstance(frame, (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame)):
            return json.dumps(frame.message)
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        try:
            message = json.loads(data)
        except (json.JSONDecodeError, TypeError):
            return None
        event = message.get("event")
        if event == "media":
            payload = (message.get("media") or {}).get("payload")
            if not payload:
                return None
            ulaw = base64.b64decode(payload)
            pcm = audioop.ulaw2lin(ulaw, 2)
            self._session.note_audio_in(audioop.rms(pcm, 2))
            if self._session.recorder is not None:
                ts = (message.get("media") or {}).get("timestamp")
                self._session.recorder.caller(ulaw, int(ts) if str(ts or "").isdigit() else None)
            return InputAudioRawFrame(audio=pcm, num_channels=1, sample_rate=8000)
        if event == "dtmf":
            from pipecat.audio.dtmf.types import KeypadEntry

            try:
                return InputDTMFFrame(KeypadEntry((message.get("dtmf") or {}).get("digit")))
            except ValueError:
                return None
        if event == "mark":
            self._session.on_mark((message.get("mark") or {}).get("name", ""))
        elif event == "stop":
            self._session.on_twilio_stop()
        return None


class Probe(FrameProcessor):
    """Passes every frame on; reports the first frame of a kind to the session (latency marks)."""

    def __init__(self, name: str, on_frame: Callable[[str, Frame], None]):
        super().__init__(name=f"probe-{name}")
        self._probe = name
        self._on_frame = on_frame

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, (LLMTextFrame, TTSAudioRawFrame, LLMFullResponseEndFrame)):
            self._on_frame(self._probe, frame)
        await self.push_frame(frame, direction)


def normalize(text: str) -> str:
    return " ".join(w.lower() for w in WORD_RE.findall(text))


class SpeculationGate(FrameProcessor):
    """Between LLM and TTS: holds a speculative reply until the final transcript confirms it.

    ``hold()`` starts buffering downstream frames; ``release()`` lets them (and what follows) through;
    ``drop()`` discards them (the brain interrupts the speculative LLM run separately).
    """

    def __init__(self):
        super().__init__(name="speculation-gate")
        self.holding = False
        self._held: list[Frame] = []

    def hold(self) -> None:
        self.holding = True
        self._held = []

    async def release(self) -> None:
        self.holding = False
        held, self._held = self._held, []
        for frame in held:
            await self.push_frame(frame)

    def drop(self) -> None:
        self.holding = False
        self._held = []

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            self._held = []
        if (self.holding and direction == FrameDirection.DOWNSTREAM
                and not isinstance(frame, (InterruptionFrame, StartFrame, EndFrame, CancelFrame))
                and not frame.__class__.__name__.endswith("SystemFrame")):
            self._held.append(frame)
            return
        await self.push_frame(frame, direction)


class CallBrain(FrameProcessor):
    """Turn taking between STT and LLM (see module docstring)."""

    def __init__(self, session: CallSession, *, pass_audio: bool = False, endpoint_fallback_secs: float = 0.8,
                 dtmf_flush_secs: float = 1.2, gate: SpeculationGate | None = None, speculate_quiet: float = 0.12):
        super().__init__(name="call-brain")
        self.s = session
        self._pass_audio = pass_audio
        self.gate = gate
        self._speculate_quiet = speculate_quiet
        self._spec_task: asyncio.Task | None = None
        self.spec_text: str | None = None  # the interim a speculative reply is running for
        self.spec_hits = 0
        self.spec_misses = 0
        self._finals: list[str] = []
        self._endpoint_task: asyncio.Task | None = None
        self._dtmf: list[str] = []
        self._dtmf_task: asyncio.Task | None = None
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
            if self._spec_task and not self._spec_task.done():
                self._spec_task.cancel()
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
            # Cascade: STT consumed it already. Speech-to-speech: the model needs it.
            if self._pass_audio:
                await self.push_frame(frame, direction)
            return
        await self.push_frame(frame, direction)

    def _cancel_tasks(self) -> None:
        for task in (self._endpoint_task, self._dtmf_task):
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
        if self.agent_audible() and not is_backchannel(text) and self.s.interruptible():
            await self.barge_in()
            return
        if self.gate is not None and not self.agent_audible() and not self._finals and self.s.may_speculate():
            # Stable interim = no newer transcript for a moment: start the reply now, hold its output.
            if self._spec_task and not self._spec_task.done():
                self._spec_task.cancel()
            self._spec_task = self.create_task(self._speculate_later(text), name="speculate")

    async def _speculate_later(self, text: str) -> None:
        # Stable: this is still the newest interim (a newer one cancels this task) and the caller's
        # audio has been quiet for a moment, so the words are probably all in. The STT's final comes
        # later (its endpointing wait), which is the time this wins.
        while True:
            wait = (self.s.last_voice_at or 0.0) + self._speculate_quiet - time.monotonic()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        if self.spec_text is not None:
            if normalize(self.spec_text) == normalize(text):
                return
            await self.cancel_speculation()
        self.spec_text = text
        self.gate.hold()
        await self.push_frame(LLMContextFrame(context=self.s.speculative_context(text)))

    async def cancel_speculation(self) -> None:
        if self.spec_text is None:
            return
        self.spec_text = None
        self.spec_misses += 1
        self.gate.drop()
        await self.broadcast_interruption()

    async def barge_in(self) -> None:
        self.s.on_barge_in()
        await self.broadcast_interruption()

    async def _on_final(self, frame: TranscriptionFrame) -> None:
        text = frame.text.strip()
        self.last_activity = time.monotonic()
        if self._spec_task and not self._spec_task.done():
            self._spec_task.cancel()
        if not text:
            return
        self.s.note_user_speech()
        result = getattr(frame, "result", None)
        speech_final = bool(getattr(result, "speech_final", False))
        if self.agent_audible() and not self._finals and is_backchannel(text):
            # A backchannel while the agent speaks: heard, not a turn.
            self.s.record_backchannel(text)
            return
        if self.agent_audible() and self.s.interruptible():
            await self.barge_in()
        self._finals.append(text)
        self.s.note_final(result)
        if speech_final:
            await self.end_turn()
        else:
            self._arm_endpoint()

    def _arm_endpoint(self) -> None:
        if self._endpoint_task and not self._endpoint_task.done():
            self._endpoint_task.cancel()
        self._endpoint_task = self.create_task(self._endpoint_after(), name="endpoint-fallback")

    async def _endpoint_after(self) -> None:
        await asyncio.sleep(self._endpoint_fallback)
        await self.end_turn()

    async def end_turn(self) -> None:
        if self._endpoint_task and not self._endpoint_task.done() and asyncio.current_task() is not self._endpoint_task:
            self._endpoint_task.cancel()
        if not self._finals:
            return
        text = " ".join(self._finals)
        self._finals = []
        if self.spec_text is not None:
            if normalize(self.spec_text) == normalize(text):
                self.spec_text = None
                self.spec_hits += 1
                await self.s.on_user_turn(text, speculated=True)
                await self.gate.release()
                return
            await self.cancel_speculation()
        await self.s.on_user_turn(text)

    async def _on_dtmf(self, frame: InputDTMFFrame) -> None:
        self._dtmf.append(frame.button.value)
        self.last_activity = time.monotonic()
        if self._dtmf_task and not self._dtmf_task.done():
            self._dtmf_task.cancel()
        self._dtmf_task = self.create_task(self._flush_dtmf(), name="dtmf-flush")

    async def _flush_dtmf(self) -> None:
        await asyncio.sleep(self._dtmf_flush)
        digits = "".join(self._dtmf)
        self._dtmf = []
        if digits:
            await self.s.on_user_turn(f"[The caller pressed the keypad keys: {digits}]", dtmf=digits)

    async def run_llm(self, context: Any) -> None:
        await self.push_frame(LLMContextFrame(context=context))

    async def push(self, frame: Frame) -> None:
        await self.push_frame(frame)


Callback = Callable[..., Awaitable[None]]
