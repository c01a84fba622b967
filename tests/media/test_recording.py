"""Call recording: the recorder's time alignment, and recorded calls end to end (moto S3, the API's URL)."""

from __future__ import annotations

import asyncio
import audioop
import io
import time
import uuid
import wave
from urllib.parse import parse_qs, urlparse

import pytest

from media.call.recording import RATE, Recorder, to_wav
from tests.media.conftest import ORG

BUCKET = "test-recordings"
VOICED = 200  # linear16 RMS of speech; silence decodes to exactly 0


# ---------------------------------------------------------------- recorder (deterministic clock)
class Clock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def tone(ms: int, level: int = 8000) -> bytes:
    """mu-law square wave (loud, never silence)."""
    pcm = b"".join((level if (i // 10) % 2 else -level).to_bytes(2, "little", signed=True)
                   for i in range(ms * 8))
    return audioop.lin2ulaw(pcm, 2)


def silence(ms: int) -> bytes:
    return b"\xff" * (ms * 8)


def voiced_ms(track: bytes) -> list[int]:
    """Start (ms) of every voiced 10 ms block of a mu-law track."""
    out = []
    for i in range(0, len(track) - 79, 80):
        if audioop.rms(audioop.ulaw2lin(track[i:i + 80], 2), 2) > VOICED:
            out.append(i // 8)
    return out


def test_caller_frames_go_where_twilio_timestamps_say_even_when_read_late():
    clock = Clock()
    rec = Recorder(60, clock=clock)
    clock.t = 100.5  # the pipeline reads the first second of frames late, in one burst
    for n in range(50):
        rec.caller(tone(20) if 10 <= n < 20 else silence(20), n * 20)
    for n in range(50, 100):
        clock.t = 100.0 + (n + 1) * 0.02  # then in real time
        rec.caller(silence(20), n * 20)
    caller, agent = rec.tracks()
    assert len(caller) == len(agent) == 2 * RATE
    voiced = voiced_ms(caller)
    assert voiced[0] == 200 and voiced[-1] == 390


def test_caller_frames_without_timestamp_in_arrival_order():
    clock = Clock()
    rec = Recorder(60, clock=clock)
    for n in range(10):
        clock.t += 0.02
        rec.caller(tone(20) if n == 5 else silence(20), None)
    voiced = voiced_ms(rec.tracks()[0])
    assert voiced == [100, 110]


def test_agent_audio_on_the_playout_clock_and_clear_drops_what_was_not_played():
    clock = Clock()
    rec = Recorder(60, clock=clock)
    rec.caller(silence(20), 0)  # stream start == recorder creation
    clock.t += 1.0
    rec.agent(tone(3000))  # 3 s of speech sent at once at t=1 s: Twilio plays 1 s .. 4 s
    clock.t += 0.5
    rec.agent(tone(1000))  # queued behind it: 4 s .. 5 s
    clock.t += 1.0  # t = 2.5 s: the caller barges in
    rec.clear()
    clock.t += 3.0  # t = 5.5 s: the next reply starts now, not behind the dropped audio
    rec.agent(tone(500))
    _, agent = rec.tracks()
    voiced = voiced_ms(agent)
    assert voiced[0] == 1000
    assert max(v for v in voiced if v < 5000) == 2490  # cut at the clear
    assert [v for v in voiced if v >= 2500][0] == 5500 and voiced[-1] == 5990
    assert rec.cleared_bytes == int(2.5 * RATE)


def test_agent_track_joins_the_stream_clock_through_caller_timestamps():
    clock = Clock(100.3)  # Twilio's stream started at 100.0; the recorder is made 300 ms later
    rec = Recorder(60, clock=clock)
    rec.agent(tone(100))
    for n in range(15, 45):
        clock.t = 100.0 + n * 0.02 + 0.005  # 5 ms network delay
        rec.caller(silence(20), n * 20)
    _, agent = rec.tracks()
    assert voiced_ms(agent)[0] in (290, 300)


def test_memory_is_capped_at_max_duration():
    clock = Clock()
    rec = Recorder(10, clock=clock)
    for n in range(3000):  # 60 s of caller audio against a 10 s (+30 s margin) limit
        rec.caller(silence(20), n * 20)
    clock.t += 100
    rec.agent(tone(1000))
    caller, agent = rec.tracks()
    assert len(caller) == len(agent) == rec.cap == 40 * RATE
    assert rec.dropped_bytes == 20 * RATE + RATE


def test_a_bogus_timestamp_neither_allocates_nor_moves_the_stream_start():
    clock = Clock()
    rec = Recorder(10, clock=clock)
    rec.caller(silence(20), 0)
    rec.caller(tone(20), 10**12)  # 31 years into the call
    clock.t += 0.02
    rec.agent(tone(100))
    caller, agent = rec.tracks()
    assert len(caller) == len(agent) == (20 + 100) * 8  # the agent's 100 ms after the first 20 ms frame
    assert voiced_ms(agent)[0] == 20 and voiced_ms(caller) == [] and rec.dropped_bytes == 160


def test_wav_is_stereo_8khz_16bit_caller_left_agent_right():
    data = to_wav(tone(100) + silence(100), silence(100) + tone(100))
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, 8000, 1600)
        frames = w.readframes(1600)
    left, right = audioop.tomono(frames, 2, 1, 0), audioop.tomono(frames, 2, 0, 1)
    assert audioop.rms(left[:1600], 2) > VOICED and audioop.rms(left[1600:], 2) == 0
    assert audioop.rms(right[:1600], 2) == 0 and audioop.rms(right[1600:], 2) > VOICED


def test_start_respects_gdpr_the_assistant_switch_and_the_bucket(monkeypatch):
    from chalicelib.settings import reset_settings
    from media.call import recording
    from media.plan import build_plan

    base = {"llm_config": {"provider": "openai"}, "max_duration_seconds": 120}

    def plan(**config):
        return build_plan(ORG, str(uuid.uuid4()), "outbound", {"config": {**base, **config}})

    monkeypatch.delenv("RECORDINGS_BUCKET", raising=False)
    reset_settings()
    assert recording.start(plan()) is None  # no bucket: recording off
    monkeypatch.setenv("RECORDINGS_BUCKET", BUCKET)
    reset_settings()
    try:
        rec = recording.start(plan())
        assert rec is not None and rec.cap == (120 + 30) * RATE
        assert recording.start(plan(gdpr_mode=True)) is None
        assert recording.start(plan(recording_enabled=False)) is None
        assert recording.start(plan(recording_enabled=True, gdpr_mode=True)) is None
    finally:
        reset_settings()


# ---------------------------------------------------------------- end to end
ASSISTANT = {
    "first_message": "Hello, this is Acme support.",
    "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                   "messages": [{"role": "system", "content": "You are Acme's phone agent. ref rec"}]},
    "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"},
}
LONG = ("Our store opens at nine in the morning and closes at six in the evening on weekdays, "
        "on Saturdays we open at ten and close at four, and on Sundays we are closed all day.")


@pytest.fixture
def recordings(aws, monkeypatch):
    """The recordings bucket in the in-process moto S3; RECORDINGS_BUCKET set for the media server and API."""
    import boto3

    from chalicelib.services import recordings as svc
    from chalicelib.settings import reset_settings

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("RECORDINGS_BUCKET", BUCKET)
    reset_settings()
    svc.reset_client()
    yield boto3.client("s3", region_name="us-east-1")
    svc.reset_client()


def read_wav(data: bytes) -> tuple[int, int, int, bytes, bytes]:
    with wave.open(io.BytesIO(data)) as w:
        channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        frames = w.readframes(n)
    return channels, width, rate, audioop.tomono(frames, 2, 1, 0), audioop.tomono(frames, 2, 0, 1)


def voiced_windows(pcm: bytes, ms: int = 50) -> list[float]:
    """Start (s) of every voiced window of a linear16 8 kHz channel."""
    step = ms * 16
    return [i / 16000 for i in range(0, len(pcm) - step + 1, step) if audioop.rms(pcm[i:i + step], 2) > VOICED]


def has_voice(windows: list[float], start: float, end: float) -> bool:
    return any(start <= w < end for w in windows)


def test_recorded_call_is_aligned_stereo_in_s3_and_the_api_presigns_it(stack, recordings, org, api, other_api):
    import requests

    stack.openai.add_rule(call_id="ref rec", contains="order", text="Sure, your order ships tomorrow.")
    org_id = org[0].id
    call_id, token = stack.call(ASSISTANT, org_id=org_id)

    async def scenario():
        c = stack.caller(call_id, token, org_id=org_id)
        await c.connect()
        greet = await c.wait_agent_turn(c.log.started_at, timeout=10)
        await asyncio.sleep(0.3)
        end = await c.speak("Where is my order?")
        first = await c.wait_agent_turn(end)
        await asyncio.sleep(0.5)
        hung = time.monotonic()
        await c.hang_up()
        return c, greet, end, first, hung

    c, greet, end, first, hung = asyncio.run(scenario())
    row = stack.wait_ended(call_id, org_id=org_id)
    key = f"recordings/{org_id}/{call_id}.wav"
    assert row.data["recording_key"] == key
    assert "recording_url" not in row.data or row.data["recording_url"] is None  # never stored
    obj = recordings.get_object(Bucket=BUCKET, Key=key)
    assert obj["ContentType"] == "audio/wav" and obj["ServerSideEncryption"] == "AES256"
    data = obj["Body"].read()

    channels, width, rate, left, right = read_wav(data)
    assert (channels, width, rate) == (2, 2, 8000)
    duration = len(left) / 16000
    call_seconds = hung - c.log.started_at
    assert abs(duration - call_seconds) < 0.5, (duration, call_seconds)

    t0 = c.log.started_at  # the caller's first frame (timestamp 20 ms): the stream clock on this process
    lw, rw = voiced_windows(left), voiced_windows(right)
    assert has_voice(rw, greet - t0 - 0.1, greet - t0 + 1.0), "greeting on the right channel"
    assert not has_voice(lw, 0, end - t0 - 2.5), "no caller speech during the greeting"
    assert has_voice(lw, end - t0 - 1.0, end - t0 + 0.05), "caller speech on the left channel"
    assert has_voice(rw, first - t0 - 0.1, first - t0 + 1.0), "agent reply on the right channel"
    caller_end = max(w for w in lw) + 0.05
    assert abs(caller_end - (end - t0)) < 0.25, (caller_end, end - t0)
    reply_start = min(w for w in rw if w > caller_end)
    assert abs(reply_start - (first - t0)) < 0.25, (reply_start, first - t0)
    overlap = set(lw) & set(rw)
    assert len(overlap) <= 1, sorted(overlap)  # a normal turn: nobody talks over the other

    resp = api.get(f"/calls/{call_id}")
    assert resp.status_code == 200
    url = resp.data["recording_url"]
    assert url and "recording_key" not in resp.data
    parsed = urlparse(url)
    params = parse_qs(parsed.query)
    assert parsed.path.endswith(f"/{key}") and BUCKET in (parsed.netloc + parsed.path)
    assert params["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and params["X-Amz-Expires"] == ["3600"]
    assert params["X-Amz-Signature"][0]
    downloaded = requests.get(url, timeout=10)  # moto answers the presigned GET in process
    assert downloaded.status_code == 200 and downloaded.content == data

    listed = api.get("/calls")
    mine = [x for x in listed.data["calls"] if x["id"] == call_id]
    assert mine and urlparse(mine[0]["recording_url"]).path == parsed.path

    assert other_api.get(f"/calls/{call_id}").status_code == 404


def test_gdpr_mode_and_recording_disabled_store_nothing(stack, recordings, org, api):
    org_id = org[0].id
    gdpr_id, gdpr_token = stack.call({**ASSISTANT, "gdpr_mode": True}, org_id=org_id)
    off_id, off_token = stack.call({**ASSISTANT, "recording_enabled": False}, org_id=org_id)

    async def one(call_id, token):
        c = stack.caller(call_id, token, org_id=org_id)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        await c.hang_up()

    async def both():
        await asyncio.gather(one(gdpr_id, gdpr_token), one(off_id, off_token))

    asyncio.run(both())
    for call_id in (gdpr_id, off_id):
        row = stack.wait_ended(call_id, org_id=org_id)
        assert row.data["messages"] or call_id == gdpr_id
        assert "recording_key" not in row.data
        assert api.get(f"/calls/{call_id}").data["recording_url"] is None
    assert recordings.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_barge_in_cuts_the_agent_track_at_the_clear(stack, recordings):
    # The greeting goes onto the socket all at once (seconds ahead of playout): the clear must drop
    # what the caller never heard, or the agent track would run on over the caller's question.
    stack.openai.add_rule(call_id="ref rec", contains="question", text="Sure, what do you need?")
    call_id, token = stack.call({**ASSISTANT, "first_message": LONG})

    async def scenario():
        c = stack.caller(call_id, token)
        await c.connect()
        while c.first_audio_after(c.log.started_at) is None:
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.5)
        cut = await c.speak("Stop, stop, I have another question.")
        await c.wait_agent_turn(cut)
        await c.hang_up()
        return c, cut

    c, cut = asyncio.run(scenario())
    row = stack.wait_ended(call_id)
    assert c.log.clears, "Twilio clear was sent on barge-in"
    sent = sum(r.nbytes for r in c.log.media if r.at < c.log.clears[0]) / RATE
    data = recordings.get_object(Bucket=BUCKET, Key=row.data["recording_key"])["Body"].read()
    _, _, _, left, right = read_wav(data)
    t0 = c.log.started_at
    clear = c.log.clears[0] - t0
    reply = c.first_audio_after(cut) - t0
    rw = voiced_windows(right)
    assert sent > clear + 2, "the greeting was sent well ahead of playout"
    assert has_voice(rw, clear - 1.0, clear), "the greeting played until the barge-in"
    assert not has_voice(rw, clear + 0.15, reply - 0.1), (clear, reply, [w for w in rw if clear < w < reply])
    assert has_voice(rw, reply - 0.1, reply + 1.0), "the next reply is recorded"
    assert has_voice(voiced_windows(left), clear - 0.5, clear + 0.5), "the caller's barge-in is on the left"


def test_xai_realtime_call_is_recorded_too(stack, recordings, monkeypatch):
    from chalicelib.settings import reset_settings
    from sandbox.registry import REGISTRY
    from sandbox.xai_realtime import FakeXAIRealtime

    REGISTRY.clear()  # the realtime fake pairs a connection with the oldest unclaimed registration
    fake = FakeXAIRealtime(first_audio_delay_ms=300).start()
    monkeypatch.setenv("XAI_URL", fake.url)
    reset_settings()
    cfg = {"first_message": "Hello from Grok.",
           "llm_config": {"provider": "xai_realtime", "voice": "ara",
                          "messages": [{"role": "system", "content": "Grok agent. ref rtrec"}]}}
    call_id, token = stack.call(cfg)

    async def scenario():
        c = stack.caller(call_id, token)
        await c.connect()
        greet = await c.wait_agent_turn(c.log.started_at, timeout=10)
        end = await c.speak("What can you do?")
        first = await c.wait_agent_turn(end)
        await c.hang_up()
        return c, greet, end, first

    try:
        c, greet, end, first = asyncio.run(scenario())
    finally:
        fake.stop()
    row = stack.wait_ended(call_id)
    data = recordings.get_object(Bucket=BUCKET, Key=row.data["recording_key"])["Body"].read()
    channels, _, rate, left, right = read_wav(data)
    assert (channels, rate) == (2, 8000)
    t0 = c.log.started_at
    lw, rw = voiced_windows(left), voiced_windows(right)
    assert has_voice(rw, greet - t0 - 0.1, greet - t0 + 1.0)
    assert has_voice(lw, end - t0 - 1.0, end - t0 + 0.05)
    assert first is not None and has_voice(rw, first - t0 - 0.1, first - t0 + 1.0)
