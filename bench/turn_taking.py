"""Turn-taking bench (issue 14, Measure): our media service vs a stock Pipecat Twilio bot, same fakes, same caller.

    .venv/bin/python bench/turn_taking.py            # 5 calls per pause length, v2v at 1 and 25 calls
    .venv/bin/python bench/turn_taking.py --quick    # 2 calls per pause length, one word each, v2v at 1 and 5
    .venv/bin/python bench/turn_taking.py --skip-stock
    .venv/bin/python bench/turn_taking.py --barge-only  # backchannels, wordless sound, barge-in (5 calls, 3 a word)

Both bots run against the fakes of ``bench/media_fakes.py`` with the ``reference`` timing profile
(``sandbox.profiles.REFERENCE``: Deepgram final 150 ms after the end condition the client asked for,
interims 300 ms behind the audio; LLM first token 300 ms then 10 ms a token; TTS first byte 100 ms). The
stock bot is ``bench/media_latency.py``'s: Pipecat's Twilio example defaults (Silero VAD + Smart Turn v3,
FastAPIWebsocketTransport + TwilioFrameSerializer, Deepgram, OpenAI, ElevenLabs), LLM greeting.

Scenarios run one call at a time with the simulated caller (``sandbox.measuring_caller``), on the wire:

* premature reply: the caller says a number with ``<pause N ms>`` inside it; premature when the first agent
  audio after the line began arrives before the caller's last voiced frame.
* false barge-in: 1 s into a long agent reply the caller says a backchannel word; false when a Twilio
  ``clear`` arrives after the word began. The gap it causes: the longest silence inside the agent's
  audio at the caller (its playback ran out, more arrived later) from the word's onset on.
* wordless sound: 1 s into a long agent reply the caller makes a 400 ms "ahh" (``<noise 400ms>``, voice
  with no words); resumed when no ``clear`` came and agent audio arrived after the sound, plus its gap.
* barge-in: 1 s into a long agent reply the caller says "Wait, wait, I need to change that."; reaction is
  speech onset (first voiced frame sent) -> the agent's audio stops at the caller (its playback ran out
  with nothing more sent, or the ``clear``, whichever is first) and onset -> the first ``clear``;
  answered when agent audio follows the interruption's end within 6 s.
* greeting: stream ``start`` -> first agent media, with no ring (inbound) and with a ring-time prepare request
  0.2 s / 3 s before the stream; each with the assistant's usual first message (synthesized before in this
  process: ours plays it from its greeting cache) and with a first message never seen before (``fresh``:
  ours streams it from the TTS as it arrives). Stock Pipecat has no ring hook and greets through its LLM:
  its figure is the same call without one.
* voice-to-voice p50/p95 at 1 and N concurrent calls: ``media_latency``'s levels (caller's last voiced
  frame -> first agent media), and LLM requests per caller turn from the OpenAI fake's count (stock's LLM
  greeting is one request a call, subtracted).

Printed, never asserted. Calls are written straight into the calls table (as ``media_latency`` does),
not placed through ``POST /calls``: the bench measures the media plane.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PAUSES_MS = (400, 700, 1000)
NUMBER = "My number is zero six, one two <pause {ms}ms> three four, five six seven eight."
BACKCHANNELS = ("mhm", "yeah", "okay", "mm-hmm")
INTERRUPTION = "Wait, wait, I need to change that."
SOUND = "<noise 400ms>"  # a wordless voiced sound (a cough, an "ahh"): the agent should go on
# The dev LLM fake echoes the caller: a long line makes a long agent reply to speak over.
LONG_ASK = ("Please tell me your opening hours on weekdays, on weekends and on public holidays, "
            "and whether I need an appointment for the service desk.")
RINGS_S = (None, 0.2, 3.0)  # None: no ring (inbound)
FIRST = "Hello, this is Acme support. How can I help?"
TIMEOUT_S = 20.0


def voiced_span(text: str) -> float:
    """Seconds from ``text``'s first voiced frame to its last: speech end minus this is the onset."""
    from sandbox import audio as sbaudio
    from sandbox.measuring_caller import line_for

    line = line_for(text)
    first = next((i for i, p in enumerate(line.payloads) if sbaudio.is_speech(base64.b64decode(p))), 0)
    return (line.last_voiced - first) * 0.02


async def first_audio(c, after: float, within_s: float) -> float | None:
    """First agent audio after ``after`` (polls the caller's log, which has no public event for it)."""
    for _ in range(int(within_s / 0.01)):
        if (first := c.first_audio_after(after)) is not None or c.closed.is_set():
            return first
        await asyncio.sleep(0.01)
    return None


class Scenarios:
    """One bot under test: each scenario is one fresh call from the simulated caller."""

    def __init__(self, bench, url: str, port: int, ours: bool, config: dict | None = None):
        self.bench, self.url, self.port, self.ours = bench, url, port, ours
        self.config = config or {}  # assistant settings for our calls (e.g. a stop_speaking_plan)

    async def _call(self, ring_s: float | None = None, first_message: str = FIRST):
        from media_latency import ORG, prepare, stream_headers

        from sandbox.measuring_caller import TestCaller
        from sandbox.registry import RemoteRegistry

        if self.ours:
            cid, tok, sid = self.bench.new_call(uuid.uuid4().hex[:8], first_message, **self.config)
        else:
            cid, tok, sid = str(uuid.uuid4()), "x", "CA" + uuid.uuid4().hex
        if ring_s is not None and self.ours:
            import aiohttp

            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
                await prepare(http, self.port, cid)
            await asyncio.sleep(ring_s)
        c = TestCaller(self.url, call_id=cid, org_id=ORG, token=tok, registry=RemoteRegistry(self.bench.dg_url),
                       headers=stream_headers(self.url))
        await c.connect(call_sid=sid, open_timeout=15)
        greet = await c.wait_agent_turn(c.log.started_at, timeout=TIMEOUT_S, quiet=0.8)
        if greet is None:
            await c.close(timeout=2)
            raise RuntimeError("no greeting")
        return c, (greet - c.log.started_at) * 1000

    async def _end(self, c) -> None:
        try:
            await asyncio.wait_for(c.hang_up(), 5)
        except Exception:  # noqa: BLE001 - hang-up failed for any reason: close the socket instead
            await c.close(timeout=1)
        await asyncio.sleep(0.3)  # the bot ends its call before the next one starts

    async def premature(self, pause_ms: int) -> bool | None:
        c, _ = await self._call()
        try:
            began = time.monotonic()
            end = await c.speak(NUMBER.format(ms=pause_ms))
            first = c.first_audio_after(began)
            await c.wait_agent_turn(began, timeout=TIMEOUT_S, quiet=0.8)
            return first is not None and first < end
        finally:
            await self._end(c)

    async def _into_long_reply(self, c) -> float | None:
        """Ask for a long reply; returns its first audio time, once 1 s of it has arrived."""
        end = await c.speak(LONG_ASK)
        first = await first_audio(c, end, TIMEOUT_S)
        if first is None:
            return None
        await asyncio.sleep(max(0.0, first + 1.0 - time.monotonic()))
        return first

    async def backchannel_gap(self, word: str) -> tuple[bool, float] | None:
        """(false barge-in, longest gap in the agent's audio from the word's onset on, ms)."""
        c, _ = await self._call()
        try:
            if await self._into_long_reply(c) is None:
                return None
            # onset from the logged speech end: frames still queued before the word do not count
            onset = await c.speak(word) - voiced_span(word)
            await asyncio.sleep(2.5)  # past a hold's backoff (1 s) and the word's own recognition
            gaps = [(b - a) * 1000 for a, b in c.log.gaps if b > onset]
            return any(t >= onset for t in c.log.clears), max(gaps, default=0.0)
        finally:
            await self._end(c)

    async def barge_in(self) -> tuple[float | None, float | None, bool] | None:
        """(onset -> audio stops at the caller ms, onset -> clear ms, answered)."""
        c, _ = await self._call()
        try:
            if await self._into_long_reply(c) is None:
                return None
            end = await c.speak(INTERRUPTION)
            onset = end - voiced_span(INTERRUPTION)  # the first voiced frame's send time
            answered = await first_audio(c, end, 6.0) is not None
            i = next((i for i, t in enumerate(c.log.clears) if t >= onset), None)
            clear = c.log.clears[i] if i is not None else None
            stops = [a for a, _ in c.log.gaps if a >= onset] + ([c.log.heard_until[i]] if i is not None else [])
            stop = min(stops, default=None)
            return ((stop - onset) * 1000 if stop is not None else None,
                    (clear - onset) * 1000 if clear is not None else None, answered)
        finally:
            await self._end(c)

    async def greeting(self, ring_s: float | None, fresh: bool) -> float:
        first = f"Hello, this is Acme support, line {uuid.uuid4().hex[:6]}. How can I help?" if fresh else FIRST
        c, greet_ms = await self._call(ring_s, first)
        await self._end(c)
        return greet_ms


def run_bot(bench, ours: bool, args) -> dict:
    from media_latency import free_port, pct, summarize

    port = free_port()
    argv = ([sys.executable, "-m", "media.server"] if ours
            else [sys.executable, str(ROOT / "bench" / "media_latency.py"), "--serve-stock", str(port)])
    proc = bench.spawn_bot(argv, port)
    url = f"ws://127.0.0.1:{port}/twilio/stream"
    plan = {"stop_speaking_plan": {"voice_seconds": args.voice_seconds}} if args.voice_seconds else {}
    sc = Scenarios(bench, url, port, ours, plan)
    row: dict = {}
    name = "ours" if ours else "stock"
    try:
        bench.level(url, port, proc.pid, 1, ours)  # warm caches (espeak, imports, models)

        def go(coro):
            try:
                return asyncio.run(coro)
            except Exception as exc:  # noqa: BLE001 - one failed call is reported, the bench goes on
                print(f"  {name}: call failed: {type(exc).__name__}: {exc}", flush=True)
                return None

        for ms in () if args.barge_only else PAUSES_MS:
            outs = [go(sc.premature(ms)) for _ in range(args.calls)]
            row[f"premature_{ms}"] = outs
            print(f"  {name}: pause {ms} ms premature {outs}", flush=True)
        for word in (*BACKCHANNELS, SOUND):
            outs = [go(sc.backchannel_gap(word)) for _ in range(args.words)]
            row[f"bc_{word}"] = [o[0] if o else None for o in outs]
            row[f"gap_{word}"] = [o[1] for o in outs if o]
            print(f"  {name}: {word!r} false barge-in / gap ms {outs}", flush=True)
        barges = [b for b in (go(sc.barge_in()) for _ in range(args.calls)) if b is not None]
        stops = [s for s, _, _ in barges if s is not None]
        reactions = [r for _, r, _ in barges if r is not None]
        row["barge"] = {"n": len(barges), "cleared": len(reactions), "p50": pct(reactions, 0.5),
                        "p95": pct(reactions, 0.95), "stop_p50": pct(stops, 0.5), "stop_p95": pct(stops, 0.95),
                        "answered": sum(1 for _, _, a in barges if a)}
        print(f"  {name}: barge-in {row['barge']}", flush=True)
        if args.barge_only:
            return row
        for ring in RINGS_S:
            for fresh in (False, True):
                greets = [g for g in (go(sc.greeting(ring, fresh)) for _ in range(args.greetings)) if g is not None]
                row[greet_key(ring, fresh)] = pct(greets, 0.5)
                print(f"  {name}: greeting ring {ring} s{' fresh' if fresh else ''}: {greets}", flush=True)
        for n in (1, args.level):
            raws = [bench.level_once(url, port, proc.pid, n, ours) for _ in range(3 if n == 1 else 1)]
            v2v = [x for raw in raws for x in raw["v2v"]]
            calls = sum(raw["ok"] + raw["failed"] for raw in raws)
            turns = sum(len(raw["v2v"]) + raw["missed"] for raw in raws)
            llm = sum(f.get("llm_requests", 0) for raw in raws for f in raw["fakes"]) - (0 if ours else calls)
            summary = summarize(n, raws[0])
            reasons = {k: v for raw in raws for k, v in dict(raw["reasons"]).items()}
            row[f"v2v_{n}"] = {"p50": pct(v2v, 0.5), "p95": pct(v2v, 0.95), "failed": sum(r["failed"] for r in raws),
                               "reasons": reasons,
                               "llm_per_turn": llm / turns if turns else None,
                               "gen_saturated": summary["gen_saturated"]}
            print(f"  {name}: v2v at {n} calls {row[f'v2v_{n}']}", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
    return row


def greet_key(ring: float | None, fresh: bool) -> str:
    return f"greet_{ring}" + ("_fresh" if fresh else "")


def ring_name(ring: float | None) -> str:
    return "no ring" if ring is None else f"{ring:g} s ring"


def count(outs: list) -> str:
    done = [o for o in outs if o is not None]
    failed = len(outs) - len(done)
    return f"{sum(1 for o in done if o)}/{len(done)}" + (f" ({failed} failed)" if failed else "")


def gap(values: list) -> str:
    return "-" if not values else "max " + ms(max(values))


def ms(v) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def cells(row: dict, level: int) -> list[tuple[str, str]]:
    out = [(f"premature reply, pause {p} ms", count(row[f"premature_{p}"])) for p in PAUSES_MS
           if f"premature_{p}" in row]
    out += [(f"false barge-in, {w!r} (longest gap in the agent's audio)",
             f"{count(row[f'bc_{w}'])} ({gap(row[f'gap_{w}'])})") for w in BACKCHANNELS]
    out.append((f"wordless sound {SOUND}: stopped the agent (longest gap)",
                f"{count(row[f'bc_{SOUND}'])} ({gap(row[f'gap_{SOUND}'])})"))
    b = row["barge"]
    out += [("barge-in onset -> agent audio stops at the caller p50 / p95",
             f"{ms(b['stop_p50'])} / {ms(b['stop_p95'])}"),
            ("barge-in onset -> clear p50 / p95", f"{ms(b['p50'])} / {ms(b['p95'])} ({b['cleared']}/{b['n']} cleared)"),
            ("agent answers the interruption", f"{b['answered']}/{b['n']}")]
    if "v2v_1" not in row:
        return out  # --barge-only
    for n in (1, level):
        v = row[f"v2v_{n}"]
        extra = f" ({v['failed']} calls failed)" if v["failed"] else ""
        extra += " (generators saturated)" if v["gen_saturated"] else ""
        out.append((f"voice-to-voice p50 / p95, {n} call(s)", f"{ms(v['p50'])} / {ms(v['p95'])}{extra}"))
    for r in RINGS_S:
        out += [(f"greeting after start, {ring_name(r)}, {kind} first message, p50", ms(row[greet_key(r, f)]))
                for f, kind in ((False, "usual (cached)"), (True, "new (streamed)"))]
    per_turn = [row[f"v2v_{n}"]["llm_per_turn"] for n in (1, level)]
    out.append((f"LLM requests per turn (1 / {level} calls)",
                " / ".join("-" if x is None else f"{x:.2f}" for x in per_turn)))
    return out


def print_table(ours: dict, stock: dict | None, level: int) -> None:
    left = cells(ours, level)
    right = cells(stock, level) if stock else [(k, "-") for k, _ in left]
    print("\n| scenario | ours | stock Pipecat 1.14.0 |\n|---|---|---|")
    for (k, a), (_, b) in zip(left, right, strict=True):
        print(f"| {k} | {a} | {b} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]))
    parser.add_argument("--quick", action="store_true", help="2 calls per pause, 1 per word, v2v at 1 and 5 calls")
    parser.add_argument("--skip-stock", action="store_true", help="do not run the stock Pipecat bot")
    parser.add_argument("--barge-only", action="store_true",
                        help="only the interruption cells: backchannels, the wordless sound, barge-in")
    parser.add_argument("--voice-seconds", type=float, default=None,
                        help="our assistant's stop_speaking_plan.voice_seconds (default: the assistant default, 0.2)")
    args = parser.parse_args()
    args.calls, args.words, args.greetings, args.level = (2, 1, 1, 5) if args.quick else (5, 3, 3, 25)

    import os

    from media_latency import GEN_CORES, Bench

    os.sched_setaffinity(0, GEN_CORES)
    # media_latency's level settings: 1 turn a call keeps 25 calls within a few minutes on 2 cores
    bench = Bench(SimpleNamespace(turns=1, ramp_rate=10.0, caller_procs=0, caller_deflate=False, prepare=True))
    stock = None
    try:
        bench.start_generators()
        ours = run_bot(bench, True, args)
        if not args.skip_stock:
            stock = run_bot(bench, False, args)
    finally:
        bench.stop()
    print_table(ours, stock, args.level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
