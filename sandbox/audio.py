"""Real speech audio for the sandbox: espeak-ng + sox -> raw mu-law 8 kHz (Twilio's wire format).

Also the small audio toolkit the fakes and the simulated caller share: mu-law <-> PCM16 (numpy),
20 ms framing, silence, energy-based voice detection, durations.

Synthesis is deterministic (sox without dither: the same text gives the same bytes in every process)
and cached on disk, content-addressed: the file name is a hash of everything that decides the bytes
(text, voice, pause cap, the espeak-ng and sox versions and command lines, this module's source), and
each file is published atomically. Processes that share the directory can only ever read bytes they
would have produced themselves. ``SANDBOX_AUDIO_CACHE`` names the directory (the test suite gives each
session its own); the default is ``$TMPDIR/voice-sandbox-audio``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 8000
BYTES_PER_MS = 8  # mu-law 8 kHz mono: one byte per sample
FRAME_MS = 20
FRAME_BYTES = FRAME_MS * BYTES_PER_MS  # 160 bytes, what Twilio sends per media message
MULAW_SILENCE = 0xFF  # mu-law code for 0
DEFAULT_VOICE = "en-us"
DEFAULT_WPM = 175  # espeak-ng's default speaking rate (words per minute); ``speed`` scales it
# A 20 ms frame whose RMS (PCM16 scale) is at or above this counts as speech. espeak-ng voiced
# frames are 1,000-9,000; digital silence decodes to 0-8.
SPEECH_RMS = 200.0
# Internal pauses (commas) are shortened to this, so a voice detector with a ~100 ms hangover sees
# one utterance per line and the "speech end" instant is unambiguous.
MAX_PAUSE_MS = 60
_CACHE_VERSION = "v2"
# sox dithers by default with an unseeded generator: -D turns dither off (test speech needs no noise
# shaping), -R ("repeatable") seeds anything else random, so the same input gives the same bytes.
_SOX_FLAGS = ("-D", "-R")
_SOX_OUTPUT = ("-t", "raw", "-r", str(SAMPLE_RATE), "-e", "u-law", "-b", "8", "-c", "1", "-")


class AudioToolMissing(RuntimeError):
    """espeak-ng or sox is not installed (scripts/bootstrap.sh installs both)."""


def cache_dir() -> Path:
    """The synthesis cache directory (``SANDBOX_AUDIO_CACHE``, else ``$TMPDIR/voice-sandbox-audio``), created."""
    path = Path(os.environ.get("SANDBOX_AUDIO_CACHE") or Path(tempfile.gettempdir()) / "voice-sandbox-audio")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise AudioToolMissing(f"{tool} not found: apt-get install -y espeak-ng sox (see scripts/bootstrap.sh)")
    return found


# ---------------------------------------------------------------------------------------------
# mu-law codec (G.711, the same tables as audioop / Twilio)
# ---------------------------------------------------------------------------------------------

_BIAS = 0x84
_CLIP = 32635


@lru_cache(maxsize=1)
def _decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.uint8)
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = (u & 0x0F).astype(np.int32)
    magnitude = ((mantissa << 3) + _BIAS) << exponent
    return np.where(sign != 0, _BIAS - magnitude, magnitude - _BIAS).astype(np.int16)


def ulaw_to_pcm16(data: bytes) -> np.ndarray:
    """mu-law bytes -> int16 samples."""
    return _decode_table()[np.frombuffer(data, dtype=np.uint8)]


def pcm16_to_ulaw(samples: np.ndarray | bytes) -> bytes:
    """int16 samples (array or little-endian bytes) -> mu-law bytes."""
    if isinstance(samples, (bytes, bytearray, memoryview)):
        samples = np.frombuffer(samples, dtype="<i2")
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    x = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(x)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (x >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def resample_pcm16(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Linear-interpolation resampler (good enough for test audio)."""
    if src_rate == dst_rate or len(samples) == 0:
        return samples.astype(np.int16)
    n_out = int(round(len(samples) * dst_rate / src_rate))
    x_old = np.arange(len(samples)) / src_rate
    x_new = np.arange(n_out) / dst_rate
    return np.interp(x_new, x_old, samples.astype(np.float64)).round().astype(np.int16)


def ulaw_to_pcm_bytes(data: bytes, rate: int = SAMPLE_RATE) -> bytes:
    """mu-law 8 kHz -> PCM16 little-endian at ``rate`` (ElevenLabs ``pcm_<rate>``)."""
    return resample_pcm16(ulaw_to_pcm16(data), SAMPLE_RATE, rate).astype("<i2").tobytes()


def pcm_bytes_to_ulaw(data: bytes, rate: int) -> bytes:
    return pcm16_to_ulaw(resample_pcm16(np.frombuffer(data, dtype="<i2"), rate, SAMPLE_RATE))


# ---------------------------------------------------------------------------------------------
# Synthesis
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _pipeline_fingerprint() -> str:
    """What, besides the text, decides the bytes: tool versions, command lines, this module's code."""
    espeak, sox = _require("espeak-ng"), _require("sox")
    versions = [subprocess.run([tool, "--version"], check=True, capture_output=True, text=True).stdout.strip()  # noqa: S603 - the resolved espeak-ng/sox paths with --version
                for tool in (espeak, sox)]
    parts = [_CACHE_VERSION, *versions, " ".join(_SOX_FLAGS + _SOX_OUTPUT),
             hashlib.sha256(Path(__file__).read_bytes()).hexdigest()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _cache_key(text: str, voice: str, max_pause_ms: int | None, speed: float = 1.0) -> str:
    raw = f"{_pipeline_fingerprint()}|{voice}|{max_pause_ms}|{speed}|{text}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def speak(text: str, voice: str = DEFAULT_VOICE, max_pause_ms: int | None = MAX_PAUSE_MS,
          speed: float = 1.0) -> bytes:
    """Raw mu-law 8 kHz mono speech for ``text``; leading/trailing silence trimmed.

    ``max_pause_ms`` shortens internal pauses (None keeps espeak-ng's own); ``speed`` scales espeak-ng's
    default rate (175 words per minute: 0.5 is half as fast). Empty text -> b"".
    """
    text = " ".join(text.split())
    if not text:
        return b""
    return _speak_cached(text, voice, max_pause_ms, speed)


def synthesize(text: str, voice: str = DEFAULT_VOICE, max_pause_ms: int | None = MAX_PAUSE_MS,
               speed: float = 1.0) -> bytes:
    """What ``speak`` returns, always computed afresh (no cache): espeak-ng, then sox, then trimming."""
    espeak, sox = _require("espeak-ng"), _require("sox")
    rate = ["-s", str(round(DEFAULT_WPM * speed))] if speed != 1.0 else []
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        # "--" so a line starting with "-" is never read as an option.
        subprocess.run([espeak, "-v", voice, *rate, "-w", str(wav), "--", text], check=True, capture_output=True)  # noqa: S603 - resolved espeak-ng path; the text follows --
        raw = subprocess.run([sox, *_SOX_FLAGS, str(wav), *_SOX_OUTPUT], check=True, capture_output=True).stdout  # noqa: S603 - resolved sox path on files this function made
    audio = trim_silence(raw)
    if max_pause_ms is not None:
        audio = shorten_pauses(audio, max_pause_ms)
    return audio


@lru_cache(maxsize=512)
def _speak_cached(text: str, voice: str, max_pause_ms: int | None, speed: float = 1.0) -> bytes:
    path = cache_dir() / f"{_cache_key(text, voice, max_pause_ms, speed)}.ul"
    if path.exists():
        return path.read_bytes()
    audio = synthesize(text, voice, max_pause_ms, speed)
    # Atomic publish under a name no other writer uses: a reader sees the whole file or none.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(audio)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return audio


def speak_pcm(text: str, rate: int, voice: str = DEFAULT_VOICE) -> bytes:
    """PCM16 little-endian mono at ``rate`` for ``text`` (derived from the mu-law rendering)."""
    return ulaw_to_pcm_bytes(speak(text, voice), rate)


# ---------------------------------------------------------------------------------------------
# Framing, silence, energy
# ---------------------------------------------------------------------------------------------


def noise(ms: int, voice: str = DEFAULT_VOICE) -> bytes:
    """``ms`` milliseconds of a wordless voiced sound (an "ahh", as in a cough, a sigh or a hesitation).

    Silero hears it as voice (synthetic noise from sox is rejected as non-speech, like most real noise
    is), while a speech-to-text service hears no words in it: it is what a false interruption sounds like.
    """
    sound = speak("ahh", voice, max_pause_ms=None)
    n = max(0, int(ms)) * BYTES_PER_MS
    while sound and len(sound) < n:
        sound += sound
    return sound[:n]


def silence(ms: int) -> bytes:
    """``ms`` milliseconds of mu-law digital silence."""
    return bytes([MULAW_SILENCE]) * (max(0, int(ms)) * BYTES_PER_MS)


def frames(data: bytes, frame_bytes: int = FRAME_BYTES, pad: bool = True) -> list[bytes]:
    """Split into 20 ms frames; the last one is padded with silence when ``pad``."""
    out = [data[i:i + frame_bytes] for i in range(0, len(data), frame_bytes)]
    if pad and out and len(out[-1]) < frame_bytes:
        out[-1] = out[-1] + bytes([MULAW_SILENCE]) * (frame_bytes - len(out[-1]))
    return out


def duration_ms(data: bytes | int) -> float:
    """Duration of mu-law 8 kHz audio (bytes or a byte count) in ms."""
    n = data if isinstance(data, int) else len(data)
    return n / BYTES_PER_MS


@lru_cache(maxsize=1)
def _square_table() -> np.ndarray:
    t = _decode_table().astype(np.float64)
    return t * t


def rms(data: bytes) -> float:
    """RMS of mu-law audio on the PCM16 scale (0 for empty input)."""
    if not data:
        return 0.0
    return float(np.sqrt(_square_table()[np.frombuffer(data, dtype=np.uint8)].mean()))


def pcm16_rms(data: bytes) -> float:
    """RMS of little-endian PCM16 audio (any sample rate), on the same scale as ``rms``."""
    n = len(data) // 2
    if n == 0:
        return 0.0
    s = np.frombuffer(data[: n * 2], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.dot(s, s) / n))


def frame_rms(data: bytes, frame_bytes: int = FRAME_BYTES) -> np.ndarray:
    """Per-frame RMS of mu-law audio (a trailing partial frame is dropped)."""
    n = len(data) // frame_bytes
    if n == 0:
        return np.zeros(0)
    s = ulaw_to_pcm16(data[: n * frame_bytes]).astype(np.float64).reshape(n, frame_bytes)
    return np.sqrt(np.mean(s * s, axis=1))


def is_speech(frame: bytes, threshold: float = SPEECH_RMS) -> bool:
    return rms(frame) >= threshold


def speech_ms(data: bytes, threshold: float = SPEECH_RMS) -> float:
    """How many ms of ``data`` are voiced (20 ms frames above the threshold)."""
    return float(np.count_nonzero(frame_rms(data) >= threshold) * FRAME_MS)


def trim_silence(data: bytes, threshold: float = 30.0, window: int = 40) -> bytes:
    """Drop leading and trailing near-silence (5 ms windows below ``threshold``)."""
    n = len(data) // window
    if n == 0:
        return data
    levels = frame_rms(data, window)
    loud = np.flatnonzero(levels >= threshold)
    if len(loud) == 0:
        return b""
    return data[loud[0] * window:(loud[-1] + 1) * window]


def shorten_pauses(data: bytes, max_pause_ms: int, threshold: float = 30.0, window: int = 40) -> bytes:
    """Cap every internal run of near-silence at ``max_pause_ms`` (5 ms windows)."""
    n = len(data) // window
    if n == 0:
        return data
    quiet = frame_rms(data, window) < threshold
    keep = max(1, (max_pause_ms * BYTES_PER_MS) // window)
    out = bytearray()
    run = 0
    for i in range(n):
        if quiet[i]:
            run += 1
            if run > keep:
                continue
        else:
            run = 0
        out += data[i * window:(i + 1) * window]
    out += data[n * window:]
    return bytes(out)


class SpeechDetector:
    """Streaming energy VAD over 20 ms mu-law frames, timed in audio ms.

    ``feed(frame)`` returns ``"start"`` on the first voiced frame of an utterance, ``"end"`` once
    ``hangover_ms`` of silence followed speech, else None. ``last_voice_end_ms`` is the audio time at
    the end of the last voiced frame; ``voiced_ms`` counts voiced audio of the current utterance.
    """

    def __init__(self, threshold: float = SPEECH_RMS, hangover_ms: int = 100, min_speech_ms: int = 40):
        self.threshold = threshold
        self.hangover_ms = hangover_ms
        self.min_speech_ms = min_speech_ms
        self.audio_ms = 0.0
        self.in_speech = False
        self.speech_start_ms = 0.0
        self.last_voice_end_ms = 0.0
        self.voiced_ms = 0.0
        self._pending_ms = 0.0  # voiced audio not yet long enough to count as a start

    def feed(self, frame: bytes) -> str | None:
        """Feed one mu-law 8 kHz frame."""
        return self.feed_level(duration_ms(frame), rms(frame))

    def feed_level(self, ms: float, level: float) -> str | None:
        """Feed ``ms`` of audio whose RMS (PCM16 scale) is ``level`` (any encoding or rate)."""
        start = self.audio_ms
        self.audio_ms += ms
        voiced = level >= self.threshold
        if voiced:
            self.last_voice_end_ms = self.audio_ms
            if not self.in_speech:
                if self._pending_ms == 0:
                    self.speech_start_ms = start
                self._pending_ms += ms
                if self._pending_ms >= self.min_speech_ms:
                    self.in_speech = True
                    self.voiced_ms = self._pending_ms
                    self._pending_ms = 0.0
                    return "start"
                return None
            self.voiced_ms += ms
            return None
        if not self.in_speech:
            self._pending_ms = 0.0
            return None
        if self.audio_ms - self.last_voice_end_ms >= self.hangover_ms:
            self.in_speech = False
            return "end"
        return None


@lru_cache(maxsize=1)
def _espeak_names() -> tuple[frozenset[str], frozenset[str]]:
    """espeak-ng's language codes and voice variants (lower case), from ``espeak-ng --voices``."""
    espeak = _require("espeak-ng")

    def column(args: list[str], index: int) -> frozenset[str]:
        out = subprocess.run([espeak, *args], check=True, capture_output=True, text=True).stdout  # noqa: S603 - the resolved espeak-ng path, fixed arguments
        rows = [line.split() for line in out.splitlines()[1:]]
        return frozenset(row[index].lower().rsplit("/", 1)[-1] for row in rows if len(row) > index)

    # A language answers to its code (fr-fr) and to its voice file's name (fr).
    return column(["--voices"], 1) | column(["--voices"], 4), column(["--voices=variant"], 4)


def espeak_voice(voice: str | None = None, language: str | None = None) -> str:
    """The espeak-ng voice for a caller's ``voice`` and ``language`` (BCP 47, e.g. ``de-DE``): ``voice``
    when espeak-ng knows it (``en-us``, ``de+f3``, or a bare variant ``f3`` on the language), else the
    language's voice, else ``DEFAULT_VOICE``."""
    languages, variants = _espeak_names()
    lang = DEFAULT_VOICE
    for candidate in ((language or "").lower(), (language or "").lower().split("-")[0]):
        if candidate in languages:
            lang = candidate
            break
    if voice:
        base, _, variant = voice.lower().partition("+")
        if base in languages and (not variant or variant in variants):
            return voice.lower()
        if not variant and base in variants:
            return f"{lang}+{base}"
    return lang
