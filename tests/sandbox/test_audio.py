import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sandbox import audio

ROOT = Path(__file__).resolve().parents[2]


def test_speak_is_mulaw_speech_and_cached():
    data = audio.speak("Hello, thanks for calling.")
    assert 4000 < len(data) < 24000  # ~0.5 to 3 s of 8 kHz mu-law
    assert audio.speech_ms(data) > 500
    assert audio.rms(data) > 500
    assert audio.speak("Hello, thanks for calling.") == data
    assert list(audio.cache_dir().glob("*.ul"))


def test_synthesis_gives_the_same_bytes_every_time():
    # sox dithers with an unseeded generator unless told not to: two runs then differ in a few samples.
    assert audio.synthesize("The same line, twice.") == audio.synthesize("The same line, twice.")


def test_two_processes_with_fresh_caches_speak_identical_bytes(tmp_path):
    """What a fresh clone does: separate processes, each synthesizing into its own empty cache."""
    script = "import sys; from sandbox import audio; sys.stdout.buffer.write(audio.speak(sys.argv[1]))"
    outputs = []
    for name in ("a", "b"):
        env = {"PATH": os.environ["PATH"], "SANDBOX_AUDIO_CACHE": str(tmp_path / name)}
        outputs.append(subprocess.run([sys.executable, "-c", script, "Hello there, I can help."], cwd=ROOT, env=env,
                                      check=True, capture_output=True).stdout)
        assert [p.suffix for p in (tmp_path / name).iterdir()] == [".ul"]  # published whole, no temp file left
    assert outputs[0] and outputs[0] == outputs[1]


def test_concurrent_first_synthesis_agrees(tmp_path, monkeypatch):
    """A fake's worker thread and the test both rendering a line the cache has never seen."""
    monkeypatch.setenv("SANDBOX_AUDIO_CACHE", str(tmp_path))
    text = f"Nobody said this before {tmp_path.name}."
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: audio.synthesize(text), range(4))) + [audio.speak(text)]
    assert len(set(results)) == 1
    assert next(tmp_path.glob("*.ul")).read_bytes() == results[0]


def test_codec_roundtrip_and_framing():
    data = audio.speak("one two three")
    assert audio.pcm16_to_ulaw(audio.ulaw_to_pcm16(data)) == data
    frames = audio.frames(data)
    assert all(len(f) == audio.FRAME_BYTES for f in frames)
    assert audio.silence(20) == b"\xff" * 160
    assert audio.duration_ms(audio.silence(500)) == 500
    assert audio.rms(audio.silence(100)) == 0
    pcm = audio.ulaw_to_pcm_bytes(data, 16000)
    assert abs(len(pcm) - len(data) * 4) <= 4


def test_speech_detector_finds_one_utterance_per_line():
    line = audio.speak("Hi, I would like to book a table, for two people.")
    det = audio.SpeechDetector(hangover_ms=100)
    events = []
    for i, frame in enumerate(audio.frames(audio.silence(300) + line + audio.silence(500))):
        ev = det.feed(frame)
        if ev:
            events.append((ev, i * 20))
    assert [e for e, _ in events] == ["start", "end"]
    assert 280 <= events[0][1] <= 360
    assert abs(det.last_voice_end_ms - (300 + audio.duration_ms(line))) <= 40
