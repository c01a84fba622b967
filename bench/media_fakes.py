"""Provider fakes for bench/media_latency.py, in a process of their own (own GIL, off the bot's core).

    python bench/media_fakes.py deepgram            # or: openai elevenlabs (several fakes, one process)

Prints one JSON line with the fakes' URLs, then serves line commands on stdin, one JSON line answer each:
``stats`` (and reset) -> how late the fakes ran since the last ``stats``: each fake loop's lag (a 10 ms
probe timer), the Deepgram final against its due time (the client's endpointing + 150 ms), the LLM
first token against its 300 ms, in ms (p50/p99/max). EOF or ``quit`` stops the fakes. Reference fake
profile of the issue: Deepgram final 150 ms after the client's endpointing silence, OpenAI first token
300 ms then 10 ms a token, ElevenLabs first byte 100 ms.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STT_FINAL_MS, LLM_FIRST_TOKEN_MS, TTS_FIRST_BYTE_MS = 150, 300, 100
PROBE_S = 0.01


def pcts(values: list[float]) -> dict[str, float | int | None]:
    values = sorted(values)
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))], 1)

    return {"n": len(values), "p50": at(0.5), "p99": at(0.99), "max": round(values[-1], 1)}


async def _probe(lags: list[float]) -> None:
    # Timer lateness on the fake's own loop: what every fake delay suffers on top of its nominal value.
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + PROBE_S
        await asyncio.sleep(PROBE_S)
        lags.append(max(0.0, (loop.time() - due) * 1000))


def start(names: list[str]) -> dict:
    from sandbox.deepgram import FakeDeepgram
    from sandbox.elevenlabs_tts import FakeElevenLabsStream
    from sandbox.openai_llm import FakeOpenAI

    fakes: dict = {}
    for name in names:
        if name == "deepgram":
            fakes[name] = FakeDeepgram(final_delay_ms=STT_FINAL_MS).start()
        elif name == "openai":
            fakes[name] = FakeOpenAI(first_token_delay_ms=LLM_FIRST_TOKEN_MS, token_delay_ms=10).start()
        elif name == "elevenlabs":
            fakes[name] = FakeElevenLabsStream(first_byte_delay_ms=TTS_FIRST_BYTE_MS).start()
        else:
            raise SystemExit(f"unknown fake {name!r}")
    return fakes


def stats(fakes: dict, lags: dict[str, list[float]]) -> dict:
    out: dict = {}
    for name, values in lags.items():
        out[f"{name}_loop_lag"] = pcts(list(values))
        values.clear()
    dg = fakes.get("deepgram")
    if dg is not None:
        with dg.lock:
            sessions, dg.sessions = list(dg.sessions), [s for s in dg.sessions if s.closed_code is None]
        late = []
        for s in sessions:
            late += [(f - e) * 1000 - s.final_wait_ms for e, f in zip(s.speech_end_at, s.final_sent_at, strict=False)]
            s.speech_end_at.clear()
            s.final_sent_at.clear()
            s.sent.clear()  # every message is kept for assertions: drop them so long runs stay small
        out["stt_final_late"] = pcts(late)
    oa = fakes.get("openai")
    if oa is not None:
        with oa.lock:
            recs, oa.completions = list(oa.completions), []
        out["llm_requests"] = len(recs)  # every chat completion the bots asked for (turn_taking: per turn)
        out["llm_first_token_late"] = pcts([(r.first_token_at - r.received_at) * 1000 - LLM_FIRST_TOKEN_MS
                                            for r in recs if r.first_token_at])
    tts = fakes.get("elevenlabs")
    if tts is not None:
        with tts.lock:
            tts.sessions = [s for s in tts.sessions if s.close_code is None]
            tts.http_requests.clear()
    return out


def main() -> None:
    names = sys.argv[1:] or ["deepgram", "openai", "elevenlabs"]
    fakes = start(names)
    lags: dict[str, list[float]] = {}
    for name, fake in fakes.items():
        lags[name] = []
        asyncio.run_coroutine_threadsafe(_probe(lags[name]), fake.loop)
    urls = {name: {"url": fake.url, "ws_url": fake.ws_url} for name, fake in fakes.items()}
    print(json.dumps(urls), flush=True)
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "stats":
                print(json.dumps(stats(fakes, lags)), flush=True)
            elif cmd == "quit":
                break
            elif cmd == "ping":
                print(json.dumps({"pong": time.monotonic()}), flush=True)
    finally:
        for fake in fakes.values():
            fake.stop()


if __name__ == "__main__":
    main()
