"""Media plane benchmark: our media service vs a stock Pipecat Twilio bot, same fakes, same callers.

    .venv/bin/python bench/media_latency.py                 # levels 1,50 for ours; 1,5 for stock
    .venv/bin/python bench/media_latency.py --levels 1,50,200 --stock-levels 1,5,10 --turns 3

Reference fake profile (design.md): Deepgram final 150 ms after speech end, OpenAI first token 300 ms
then 10 ms a token, ElevenLabs first byte 100 ms. The bot under test runs in its own process pinned
to core 0; fakes and simulated callers run in this process pinned to core 1. Printed per level:
voice-to-voice p50/p95 (caller's last voiced frame -> first agent media frame, on the wire), platform
added p50 (voice-to-voice minus the fakes' 550 ms), first greeting p50 (stream start -> first media),
outbound starvation p99 (how late frames arrive against a real-time playout clock: 0 = never a gap),
CPU seconds per call-minute, RSS per call. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAKE_DELAYS_MS = 150 + 300 + 100  # STT final + LLM first token + TTS first byte
LINES = ["What are your opening hours?", "Can I change my booking?", "Thank you very much."]
ORG = "11111111-1111-4111-8111-111111111111"
CLK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------------------------------ stock bot
def serve_stock(port: int) -> None:
    """A stock Pipecat Twilio bot as in Pipecat's Twilio example (Silero VAD, Smart Turn, LLM greeting)."""
    import uvicorn
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.frames.frames import LLMRunFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.services.deepgram.stt import DeepgramSTTService
    from pipecat.services.elevenlabs.tts import ElevenLabsTTSService
    from pipecat.services.openai.llm import OpenAILLMService
    from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
    from pipecat.workers.runner import WorkerRunner
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    async def stream(ws):
        await ws.accept()
        start = None
        while start is None:
            msg = json.loads(await ws.receive_text())
            if msg.get("event") == "start":
                start = msg["start"]
        serializer = TwilioFrameSerializer(stream_sid=start["streamSid"], call_sid=start["callSid"],
                                           params=TwilioFrameSerializer.InputParams(auto_hang_up=False))
        transport = FastAPIWebsocketTransport(ws, FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False, serializer=serializer))
        stt = DeepgramSTTService(api_key="k", base_url=os.environ["DEEPGRAM_URL"])
        llm = OpenAILLMService(api_key="k", base_url=os.environ["OPENAI_BASE_URL"],
                               settings=OpenAILLMService.Settings(model="gpt-4o-mini"))
        tts = ElevenLabsTTSService(api_key="k", url=os.environ["ELEVENLABS_URL"].replace("http", "ws"),
                                   settings=ElevenLabsTTSService.Settings(voice="voice-1", model="eleven_flash_v2_5"))
        context = LLMContext([{"role": "system", "content": "You are a helpful phone agent."}])
        pair = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer()))
        worker = PipelineWorker(Pipeline([transport.input(), stt, pair.user(), llm, tts, transport.output(),
                                          pair.assistant()]),
                                params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000,
                                                      enable_metrics=True, enable_usage_metrics=True))

        @transport.event_handler("on_client_connected")
        async def _connected(_t, _c):
            await worker.queue_frames([LLMRunFrame()])

        @transport.event_handler("on_client_disconnected")
        async def _gone(_t, _c):
            await worker.cancel()

        await WorkerRunner(handle_sigint=False).run(worker)

    app = Starlette(routes=[WebSocketRoute("/twilio/stream", stream)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets")


# ------------------------------------------------------------------------------------------ harness
class Bench:
    def __init__(self, args):
        self.args = args
        self.env = dict(os.environ)
        self.procs: list[subprocess.Popen] = []

    def start_fakes(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        from sandbox.deepgram import FakeDeepgram
        from sandbox.elevenlabs_tts import FakeElevenLabsStream
        from sandbox.openai_llm import FakeOpenAI
        from sandbox.twilio import FakeTwilio

        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        moto_url = f"http://127.0.0.1:{self.moto.get_host_and_port()[1]}"
        self.dg = FakeDeepgram(final_delay_ms=150).start()
        self.oa = FakeOpenAI(first_token_delay_ms=300, token_delay_ms=10).start()
        self.tts = FakeElevenLabsStream(first_byte_delay_ms=100).start()
        self.tw = FakeTwilio().start()
        shared = {
            "AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "TABLE_PREFIX": "bench-",
            "DEEPGRAM_URL": self.dg.ws_url, "OPENAI_BASE_URL": self.oa.url + "/v1", "ELEVENLABS_URL": self.tts.url,
            "TWILIO_API_URL": self.tw.base_url, "TWILIO_ACCOUNT_SID": self.tw.account_sid,
            "TWILIO_AUTH_TOKEN": self.tw.auth_token, "CALL_TOKEN_SECRET": "bench-secret",
            "MEDIA_CONTROL_SECRET": "bench-control", "LOG_LEVEL": "ERROR", "LOGURU_LEVEL": "ERROR",
            "PYTHONPATH": str(ROOT),
        }
        os.environ.update(shared)
        self.env.update(shared)
        from chalicelib.settings import reset_settings
        from chalicelib.storage.tables import create_tables

        reset_settings()
        create_tables()

    def spawn(self, argv: list[str], port: int) -> subprocess.Popen:
        env = dict(self.env, MEDIA_PORT=str(port), MEDIA_HOST="127.0.0.1")
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=lambda: os.sched_setaffinity(0, {0}))
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return proc
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{argv} did not start")

    def new_call(self, marker: str) -> tuple[str, str, str]:
        from chalicelib.security import make_call_token
        from chalicelib.settings import get_settings
        from chalicelib.storage.calls import Call, CallRepository
        from chalicelib.timeutil import now_iso

        call_id = str(uuid.uuid4())
        sid = "CA" + uuid.uuid4().hex
        config = {"first_message": "Hello, this is Acme support. How can I help?",
                  "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
                  "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                                 "messages": [{"role": "system", "content": f"You are Acme's agent. {marker}"}]},
                  "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"}}
        now = now_iso()
        CallRepository().create(Call(ORG, call_id, "queued", "outbound", now, now, sid, data={"config": config}))
        with self.tw.lock:
            self.tw.calls[sid] = {"sid": sid, "status": "in-progress", "account_sid": self.tw.account_sid}
        return call_id, make_call_token(get_settings().call_token_secret, call_id, ORG), sid

    def level(self, url: str, port: int, pid: int, n: int, ours: bool) -> dict:
        """Run n concurrent calls from a caller process (own GIL, pinned to the fakes' core)."""
        specs = []
        for _ in range(n):
            if ours:
                specs.append(self.new_call(uuid.uuid4().hex[:8]))
            else:
                specs.append((str(uuid.uuid4()), "x", "CA" + uuid.uuid4().hex))
        job = {"url": url, "port": port, "ours": ours, "prepare": self.args.prepare and ours,
               "turns": self.args.turns, "registry": self.dg.url, "calls": specs}
        cpu0, rss0 = proc_cpu(pid), proc_rss_mb(pid)
        peak = rss0
        proc = subprocess.Popen([sys.executable, str(Path(__file__)), "--run-callers"], env=self.env, cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=open(os.environ.get("BENCH_CALLER_LOG", os.devnull), "a"),  # noqa: SIM115
                                text=True, preexec_fn=lambda: os.sched_setaffinity(0, {1}))
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
        while proc.poll() is None:
            peak = max(peak, proc_rss_mb(pid))
            time.sleep(0.25)
        results = json.loads(proc.stdout.read())
        time.sleep(1.0)
        cpu = proc_cpu(pid) - cpu0
        minutes = results["call_seconds"] / 60
        v2v = results["v2v"]
        return {
            "n": n, "v2v_p50": pct(v2v, 0.5), "v2v_p95": pct(v2v, 0.95),
            "added_p50": (pct(v2v, 0.5) - FAKE_DELAYS_MS) if v2v else None,
            "greet_p50": pct(results["greeting"], 0.5), "late_p99": pct(results["late"], 0.99),
            "cpu_per_call_min": cpu / minutes if minutes else None,
            "rss_per_call": max(0.0, peak - rss0) / n, "missed": results["missed"] + results.get("unfinished", 0),
            "turns": len(v2v),
        }


async def run_callers(job: dict) -> dict:
    from media.testcaller import TestCaller
    from sandbox.registry import RemoteRegistry

    registry = RemoteRegistry(job["registry"])
    results = {"greeting": [], "v2v": [], "late": [], "missed": 0, "call_seconds": 0.0}
    lines = LINES[: job["turns"]]

    async def one(call_id: str, token: str, sid: str) -> None:
        await asyncio.to_thread(registry.register, call_id, lines)
        if job["prepare"]:
            await prepare(job["port"], call_id)
            await asyncio.sleep(1.0)  # ring time
        c = TestCaller(job["url"], call_id=call_id, org_id=ORG, token=token)
        await c.connect(call_sid=sid)
        greet = await c.wait_agent_turn(c.log.started_at, timeout=30, quiet=0.8)
        if greet:
            results["greeting"].append((greet - c.log.started_at) * 1000)
        for line in lines:
            end = await c.speak(line)
            first = await c.wait_agent_turn(end, timeout=30, quiet=0.8)
            if first:
                results["v2v"].append((first - end) * 1000)
            else:
                results["missed"] += 1
        results["late"].extend(starvation(c.log.media))
        results["call_seconds"] += time.monotonic() - c.log.started_at
        await c.hang_up()

    tasks = []
    n = len(job["calls"])
    for call_id, token, sid in job["calls"]:
        tasks.append(asyncio.create_task(one(call_id, token, sid)))
        await asyncio.sleep(min(1.0 / max(n, 1), 0.05))  # stagger so calls do not speak in lockstep
    # A call that stalls (saturated box) must not hold the table hostage: report what finished.
    _, pending = await asyncio.wait(tasks, timeout=30 + 40 * job["turns"])
    for task in list(pending)[:3]:
        task.print_stack(limit=6, file=sys.stderr)
    for task in pending:
        task.cancel()
    results["unfinished"] = len(pending)
    return results


async def prepare(port: int, call_id: str) -> None:
    import aiohttp

    from chalicelib.security import sign_control

    body = json.dumps({"call_id": call_id, "org_id": ORG}).encode()
    ts = str(int(time.time()))
    headers = {"X-Control-Timestamp": ts, "X-Control-Signature": sign_control("bench-control", ts, body),
               "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        await http.post(f"http://127.0.0.1:{port}/calls/{call_id}/prepare", data=body, headers=headers)


def starvation(media) -> list[float]:
    """Per outbound frame: ms it arrived after a real-time playout clock needed it (0 if in time)."""
    out: list[float] = []
    clock_end = None  # when the audio received so far finishes playing
    for r in media:
        dur = r.nbytes / 8.0 / 1000
        if clock_end is None or r.at > clock_end + 0.5:  # a new utterance (after a pause)
            clock_end = r.at + dur
            out.append(0.0)
            continue
        late = max(0.0, r.at - clock_end)
        out.append(late * 1000)
        clock_end = max(clock_end, r.at) + dur
    return out


def fmt(v, unit="") -> str:
    return "-" if v is None else f"{v:.0f}{unit}" if abs(v) >= 10 else f"{v:.1f}{unit}"


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print("| calls | v2v p50 / p95 ms | platform-added p50 ms | greeting p50 ms | starvation p99 ms "
          "| CPU s per call-min | RSS MB per call | turns (missed) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {fmt(r['v2v_p50'])} / {fmt(r['v2v_p95'])} | {fmt(r['added_p50'])} | "
              f"{fmt(r['greet_p50'])} | {fmt(r['late_p99'])} | {fmt(r['cpu_per_call_min'])} | "
              f"{fmt(r['rss_per_call'])} | {r['turns']} ({r['missed']}) |")


async def run(args) -> None:
    os.sched_setaffinity(0, {1})
    bench = Bench(args)
    bench.start_fakes()
    ours_rows, stock_rows = [], []
    try:
        port = free_port()
        proc = bench.spawn([sys.executable, "-m", "media.server"], port)
        url = f"ws://127.0.0.1:{port}/twilio/stream"
        bench.level(url, port, proc.pid, 1, True)  # warm caches (espeak, imports)
        for n in args.levels:
            ours_rows.append(bench.level(url, port, proc.pid, n, True))
            print_table("ours (so far)", ours_rows)
        proc.terminate()
        if not args.skip_stock:
            sport = free_port()
            sproc = bench.spawn([sys.executable, str(Path(__file__)), "--serve-stock", str(sport)], sport)
            surl = f"ws://127.0.0.1:{sport}/twilio/stream"
            bench.level(surl, sport, sproc.pid, 1, False)
            for n in args.stock_levels:
                stock_rows.append(bench.level(surl, sport, sproc.pid, n, False))
                print_table("stock (so far)", stock_rows)
            sproc.terminate()
    finally:
        for p in bench.procs:
            if p.poll() is None:
                p.terminate()
        for fake in (bench.dg, bench.oa, bench.tts):
            fake.stop()
        bench.tw.stop()
        bench.moto.stop()
    print_table(f"Our media service (prepare={args.prepare})", ours_rows)
    if stock_rows:
        print_table("Stock Pipecat Twilio bot (Silero VAD + Smart Turn v3, LLM greeting)", stock_rows)
        base = stock_rows[0]
        ours1 = ours_rows[0]
        if base["v2v_p50"] and ours1["v2v_p50"]:
            print(f"\nours/stock at 1 call: v2v p50 {ours1['v2v_p50'] / base['v2v_p50']:.2f}x, "
                  f"greeting p50 {(ours1['greet_p50'] or 0) / (base['greet_p50'] or 1):.2f}x, "
                  f"CPU per call-minute {(ours1['cpu_per_call_min'] or 0) / (base['cpu_per_call_min'] or 1):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="1,50")
    parser.add_argument("--stock-levels", default="1,5")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--skip-stock", action="store_true")
    parser.add_argument("--no-prepare", dest="prepare", action="store_false")
    parser.add_argument("--serve-stock", type=int, default=None)
    parser.add_argument("--run-callers", action="store_true")
    args = parser.parse_args()
    if args.run_callers:
        print(json.dumps(asyncio.run(run_callers(json.loads(sys.stdin.read())))))
        return
    if args.serve_stock:
        serve_stock(args.serve_stock)
        return
    args.levels = [int(x) for x in args.levels.split(",") if x]
    args.stock_levels = [int(x) for x in args.stock_levels.split(",") if x]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
