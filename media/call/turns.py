"""Turn and latency accounting: when each turn's milestones happened, and the call's latency report."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from pipecat.frames.frames import Frame, LLMTextFrame, TTSAudioRawFrame

VOICE_RMS = 300  # linear16 RMS of a voiced 20 ms frame (digital silence is ~0)
RECENT_VOICE_SECONDS = 5.0  # older voice cannot be the end of the speech a final belongs to
FIGURES = ("endpointing_ms", "stt_ms", "llm_first_token_ms", "tts_first_audio_ms", "voice_to_voice_ms",
           "llm_requests")


def _ms(a: float | None, b: float | None) -> int | None:
    return None if a is None or b is None else max(0, round((b - a) * 1000))


@dataclass
class Turn:
    """One caller turn and the agent's reply (monotonic times)."""

    index: int
    speech_end: float | None = None
    stt_final: float | None = None
    turn_end: float | None = None
    llm_first_token: float | None = None
    tts_first_audio: float | None = None
    first_audio_out: float | None = None
    interrupted: bool = False
    speculative: bool = False
    llm_requests: int = 0  # requests started for this turn, speculative guesses included

    def figures(self) -> dict[str, Any]:
        """The turn's latency figures in milliseconds."""
        return {"turn": self.index, "endpointing_ms": _ms(self.stt_final, self.turn_end),
                "stt_ms": _ms(self.speech_end, self.stt_final),
                "llm_first_token_ms": _ms(self.turn_end, self.llm_first_token),
                "tts_first_audio_ms": _ms(self.llm_first_token, self.tts_first_audio),
                "voice_to_voice_ms": _ms(self.speech_end, self.first_audio_out),
                "interrupted": self.interrupted, "speculative": self.speculative,
                "llm_requests": self.llm_requests}


class TurnLog:
    """The call's turns, fed by audio, transcripts and probes; reports per-turn and summary latency."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.turns: list[Turn] = []
        self.current: Turn | None = None
        self.last_voice_at: float | None = None
        self.first_audio_at: float | None = None
        self.greeting_latency_ms: int | None = None
        self._spec_first_token: float | None = None
        self._requests_before_turn = 0  # LLM requests started while the caller's turn was still open

    def _new_turn(self, speech_end: float | None = None, stt_final: float | None = None,
                  turn_end: float | None = None) -> Turn:
        self.current = Turn(index=len(self.turns) + 1, speech_end=speech_end, stt_final=stt_final, turn_end=turn_end)
        self.turns.append(self.current)
        return self.current

    def _speech_end(self, now: float) -> float:
        voiced = self.last_voice_at
        return voiced if voiced is not None and now - voiced < RECENT_VOICE_SECONDS else now

    def note_audio_in(self, level: int) -> None:
        """The end of caller speech as the platform sees it: the last voiced frame's arrival."""
        if level >= VOICE_RMS:
            self.last_voice_at = time.monotonic()

    def note_audio_out(self, now: float) -> None:
        """Agent audio left: the greeting's latency, or the current reply's first audio."""
        if self.first_audio_at is None:
            self.first_audio_at = now
            self.greeting_latency_ms = round((now - self.t0) * 1000)
        if self.current and self.current.turn_end and self.current.first_audio_out is None:
            self.current.first_audio_out = now

    def note_final(self) -> None:
        """A final transcript arrived (the turn may not have ended yet)."""
        now = time.monotonic()
        turn = self.current if self.current is not None and self.current.turn_end is None else self._new_turn()
        turn.stt_final = now
        turn.speech_end = self._speech_end(now)

    def realtime_user(self) -> None:
        """Speech-to-speech: the model's transcript of a finished caller turn."""
        now = time.monotonic()
        self._new_turn(speech_end=self._speech_end(now), stt_final=now, turn_end=now)

    def end_user_turn(self, *, speculated: bool) -> None:
        """The caller's turn ended; a speculative reply's first token counts as the LLM's."""
        if self.current is None or self.current.turn_end is not None:
            self._new_turn(speech_end=time.monotonic())
        turn = self.current
        assert turn is not None  # noqa: S101 - invariant: _new_turn just set it
        turn.turn_end = time.monotonic()
        if turn.stt_final is None:
            turn.stt_final = turn.turn_end
        if speculated:
            turn.speculative = True
            turn.llm_first_token = self._spec_first_token
        turn.llm_requests += self._requests_before_turn
        self._requests_before_turn = 0

    def note_llm_request(self, *, speculative: bool) -> None:
        """An LLM request starts: a guess for the caller's open turn, or for the reply being made."""
        t = self.current
        if speculative or t is None or t.turn_end is None:
            self._requests_before_turn += 1
        else:
            t.llm_requests += 1

    def speculation_started(self) -> None:
        """A speculative reply starts: its first token is timed afresh."""
        self._spec_first_token = None

    def barge_in(self) -> None:
        """The caller interrupted the current reply."""
        if self.current and self.current.turn_end and not self.current.interrupted:
            self.current.interrupted = True

    def on_probe(self, name: str, frame: Frame, *, speculating: bool) -> None:
        """First LLM token / first TTS audio of the current reply (from the pipeline's probes)."""
        now = time.monotonic()
        if isinstance(frame, LLMTextFrame) and speculating:
            self._spec_first_token = self._spec_first_token or now
        t = self.current
        if t is None or t.turn_end is None:
            return
        if name == "llm" and isinstance(frame, LLMTextFrame) and t.llm_first_token is None:
            t.llm_first_token = now
        elif name == "tts" and isinstance(frame, TTSAudioRawFrame) and t.tts_first_audio is None:
            t.tts_first_audio = now

    def latency(self) -> dict[str, Any]:
        """Per-turn figures and their summary (avg, p50, min, max), plus the greeting's latency."""
        turns = [t.figures() for t in self.turns if t.turn_end is not None]

        def summary(key: str) -> dict[str, Any] | None:
            vals = sorted(t[key] for t in turns if t.get(key) is not None)
            if not vals:
                return None
            return {"avg": round(statistics.fmean(vals)), "p50": vals[len(vals) // 2],
                    "max": vals[-1], "min": vals[0]}

        return {"turns": turns, "greeting_ms": self.greeting_latency_ms,
                "summary": {k: summary(k) for k in FIGURES}}
