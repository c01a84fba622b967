from sandbox import audio


def test_speak_is_mulaw_speech_and_cached():
    data = audio.speak("Hello, thanks for calling.")
    assert 4000 < len(data) < 24000  # ~0.5 to 3 s of 8 kHz mu-law
    assert audio.speech_ms(data) > 500
    assert audio.rms(data) > 500
    assert audio.speak("Hello, thanks for calling.") == data
    assert list(audio.cache_dir().glob("*.ul"))


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
