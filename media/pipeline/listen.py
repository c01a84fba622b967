"""Listening to the caller locally: voice activity (Silero) and the end-of-turn model (Smart Turn v3).

Both models ship inside ``pipecat-ai`` (no download at run time) and run on CPU with ONNX Runtime. The
model sessions are loaded once per process (``load_models``, called at process start by
``media.pipeline.build.preload``; lazily otherwise) and shared by every call: a call keeps only its own
small state (Silero's recurrent state, the last seconds of its audio). Stock Pipecat loads both models
per call (most of its ~58 MB per call) and starts two threads per call; here Silero runs inline (about
0.1 ms per 32 ms window) and Smart Turn on one process-wide thread (ONNX releases the GIL while it runs).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

SAMPLE_RATE = 8000
WINDOW_SAMPLES = 256  # Silero at 8 kHz: 32 ms windows
WINDOW_SECONDS = WINDOW_SAMPLES / SAMPLE_RATE
VOICE_CONFIDENCE = 0.6  # Silero probability above which a window counts as voiced
START_SECONDS = 0.064  # voiced time before "speech started" (two windows)
STOP_SECONDS = 0.2  # unvoiced time before "speech stopped" (the field's usual VAD stop)
RESET_QUIET_SECONDS = 2.0  # Silero's state drifts in long silence at 8 kHz: reset it when quiet this long
TURN_AUDIO_SECONDS = 8.0  # Smart Turn looks at most at the last 8 s


@dataclass
class _Models:
    silero: Any  # onnxruntime.InferenceSession
    smart_turn: Any  # LocalSmartTurnAnalyzerV3 (its session; stateless per prediction)
    executor: ThreadPoolExecutor


_models: _Models | None = None
_lock = threading.Lock()


def load_models() -> None:
    """Load the two model sessions for the whole process (idempotent)."""
    global _models  # noqa: PLW0603 - one set of sessions per process, built on first use, never at import
    with _lock:
        if _models is not None:
            return
        from importlib import resources

        from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
        from pipecat.audio.vad.silero import SileroOnnxModel

        # Pipecat's wrapper opens the session (CPU, one thread); each call keeps its own state (VoiceActivity).
        path = str(resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx"))
        silero: Any = SileroOnnxModel(path, force_onnx_cpu=True).session
        smart_turn = LocalSmartTurnAnalyzerV3(sample_rate=SAMPLE_RATE)  # the bundled smart-turn-v3.2-cpu model
        smart_turn.set_sample_rate(SAMPLE_RATE)
        _models = _Models(silero, smart_turn, ThreadPoolExecutor(max_workers=1, thread_name_prefix="smart-turn"))


def _loaded() -> _Models:
    if _models is None:
        load_models()
    assert _models is not None  # noqa: S101 - invariant: load_models set it
    return _models


class VoiceActivity:
    """One call's voice activity detector: feed linear16 8 kHz audio, get "start" / "stop" events."""

    def __init__(self, *, start_seconds: float = START_SECONDS, stop_seconds: float = STOP_SECONDS) -> None:
        self._session = _loaded().silero
        self._start_windows = max(1, round(start_seconds / WINDOW_SECONDS))
        self._stop_windows = max(1, round(stop_seconds / WINDOW_SECONDS))
        self._pending = np.zeros(0, dtype=np.float32)
        self._reset()
        self.speaking = False
        self._voiced_run = 0
        self._quiet_run = 0
        self.voiced_seconds = 0.0  # voiced time in the current speech (since "start")

    def _reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, 32), dtype=np.float32)

    def _confidence(self, window: np.ndarray) -> float:
        x = np.concatenate((self._context, window.reshape(1, -1)), axis=1)
        out, self._state = self._session.run(None, {"input": x, "state": self._state,
                                                    "sr": np.array(SAMPLE_RATE, dtype=np.int64)})
        self._context = x[:, -32:]
        return float(out[0][0])

    def feed(self, pcm: bytes) -> list[str]:
        """Events ("start", "stop") for this audio, in order."""
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        self._pending = np.concatenate((self._pending, samples))
        events: list[str] = []
        while len(self._pending) >= WINDOW_SAMPLES:
            window, self._pending = self._pending[:WINDOW_SAMPLES], self._pending[WINDOW_SAMPLES:]
            voiced = self._confidence(window) >= VOICE_CONFIDENCE
            if voiced:
                self._voiced_run += 1
                self._quiet_run = 0
                if self.speaking:
                    self.voiced_seconds += WINDOW_SECONDS
                elif self._voiced_run >= self._start_windows:
                    self.speaking = True
                    self.voiced_seconds = self._voiced_run * WINDOW_SECONDS
                    events.append("start")
            else:
                self._voiced_run = 0
                self._quiet_run += 1
                if self.speaking and self._quiet_run >= self._stop_windows:
                    self.speaking = False
                    events.append("stop")
                elif not self.speaking and self._quiet_run * WINDOW_SECONDS >= RESET_QUIET_SECONDS:
                    self._reset()
                    self._quiet_run = 0
        return events


class TurnAudio:
    """The caller's recent audio (at most the last 8 s), what the end-of-turn model listens to."""

    def __init__(self) -> None:
        self._max = int(TURN_AUDIO_SECONDS * SAMPLE_RATE * 2)
        self._buf = bytearray()

    def add(self, pcm: bytes) -> None:
        self._buf += pcm
        if len(self._buf) > self._max:
            del self._buf[: len(self._buf) - self._max]

    def clear(self) -> None:
        self._buf.clear()

    def snapshot(self) -> bytes:
        return bytes(self._buf)


def _predict(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    # The analyzer's public API keeps a per-stream buffer (one analyzer per call); the prediction itself
    # is stateless, so all calls share one analyzer and each call keeps its own audio.
    result = _loaded().smart_turn._predict_endpoint(samples)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
    return float(result["probability"])


async def turn_complete_probability(pcm: bytes) -> float:
    """Smart Turn v3's probability that the speech in ``pcm`` (linear16 8 kHz) is a finished turn."""
    if not pcm:
        return 0.0
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_loaded().executor, _predict, pcm)
