"""Media plane benchmark: our media service vs a stock Pipecat Twilio bot, same fakes, same callers.

    .venv/bin/python bench/media_latency.py                                  # ours 1,50; stock 1,5
    .venv/bin/python bench/media_latency.py --levels 1,50,200 --stock-levels 1,5,10
    .venv/bin/python bench/media_latency.py --sweep 10,25,50,75,100,150,200 --skip-stock
    .venv/bin/python bench/media_latency.py --levels 50 --soak 5 --skip-stock       # memory across rounds

Reference fake profile (design.md): Deepgram final 150 ms after speech end, OpenAI first token 300 ms
then 10 ms a token, ElevenLabs first byte 100 ms.

Layout (2 cores): the bot under test is ONE process pinned alone to core 0: that is what is measured.
Everything that makes the load shares the other core: moto (its own process, only touched when a call
is prepared, starts and ends), the fakes (Deepgram in one process, OpenAI + ElevenLabs in another), the
simulated callers (``sandbox/measuring_caller.py``, one process per 50 calls, one shared 20 ms clock per process)
and this process. Caller audio is synthesized and framed once per line, not per call; call rows and STT
scripts are written before a level starts. Callers do not offer WebSocket permessage-deflate (like
Twilio; ``--caller-deflate`` to compare: the bot then deflates every outbound frame).

A level of N calls: calls ramp in at ``--ramp-rate`` calls/s (each with a ring-time prepare 1 s before it
connects, unless ``--no-prepare``), every call waits for its greeting, then, once all N are connected,
the calls start their ``--turns`` caller turns, staggered over 2 s so they do not speak in lockstep.
Voice-to-voice is therefore measured with all N calls live; the greeting is measured during the ramp.
Every wait has a timeout: a call that fails (no greeting, a turn unanswered, a socket closed, a caller
process that died or overran) is counted in ok/failed, never awaited forever. Level 1 runs
``--single-rounds`` calls one after the other (one concurrent call) so its p95 is not one sample.

Printed per level: ok/failed calls, voice-to-voice p50/p95 (caller's last voiced frame -> first agent
media frame, on the wire), platform-added p50 (voice-to-voice minus the fakes' 550 ms), first greeting
p50 (stream start -> first agent media), outbound starvation p99 (how late agent frames arrive against a
real-time playout clock; 0 = never a gap: the jitter a caller would hear), bot CPU seconds per
call-minute, bot RSS per call, and the bot core's busy share while the turns ran. A second table shows
whether the load generators kept up: callers' frame-send lateness against their 20 ms schedule, the
fakes' event-loop lag and the lateness of the STT final and LLM first token against their nominal
delays, and the generator core's busy share. When those are high, slow figures are the generators',
not the bot's. ``--sweep`` adds levels and reports calls per core: the largest level whose v2v p95
(and every smaller level's) stays within 10% of the 1-call p95 with no failed call. Printed, never asserted.

Environment: ``BENCH_JSON=path`` also writes every figure as JSON; ``BENCH_BOT_LOG`` / ``BENCH_CALLER_LOG``
append the bot's / the caller processes' output to a file (default: discarded, never a pipe).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.twilio import FakeTwilio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# STT processing + LLM first token + TTS first byte; the endpointing silence a bot asks Deepgram for
# is the bot's choice, so it counts as platform-added time
FAKE_DELAYS_MS = 150 + 300 + 100
LINES = ["What are your opening hours?", "Can I change my booking?", "Thank you very much."]
ORG = "11111111-1111-4111-8111-111111111111"
CLK = os.sysconf("SC_CLK_TCK")
BOT_CORE = 0
GEN_CORES = {1} if (os.cpu_count() or 1) >= 2 else {0}
RING_S = 1.0  # ring time between the prepare request and the stream
TURN_SPREAD_S = 2.0  # turn starts are spread over this so calls do not speak in lockstep
GREETING_SETTLE_S = 5.0  # after the last call connects: its greeting plays out before turns start
TURN_TIMEOUT_S = 20.0
CALLS_PER_PROC = 50
SATURATED_MS = 20.0  # generator lateness p99 above this: the load generators, not the bot, set the pace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def hist_pct(hist: dict, q: float) -> float | None:
    """Percentile of a {ms: count} histogram (1 ms buckets)."""
    total = sum(hist.values())
    if not total:
        return None
    rank = q * (total - 1)
    seen = 0
    for ms in sorted(hist, key=float):
        seen += hist[ms]
        if seen > rank:
            return float(ms)
    return float(max(hist, key=float))


def proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def core_times() -> dict[int, tuple[float, float]]:
    """Per core: (busy, total) seconds since boot, from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *vals = line.split()
        if name.startswith("cpu") and name != "cpu":
            v = [int(x) / CLK for x in vals[:8]]
            out[int(name[3:])] = (sum(v) - v[3] - v[4], sum(v))
    return out


def pinned(cores: set[int]):
    return lambda: os.sched_setaffinity(0, cores)


def read_line(proc: subprocess.Popen, timeout: float) -> str | None:
    """One stdout line from a helper process, or None after ``timeout`` (never blocks for ever)."""
    if proc.stdout is None:
        raise ValueError("the helper was started without stdout=PIPE")
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else None


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
            msg = json.loads(await asyncio.wait_for(ws.receive_text(), 10))
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


# ------------------------------------------------------------------------------------------ callers
async def run_callers(job: dict) -> dict:
    """One caller process: its share of a level's calls, each bounded in time; results as plain data."""
    import aiohttp

    from sandbox.measuring_caller import Pacer, TestCaller

    lines = job["lines"]
    res: dict = {"ok": 0, "failed": 0, "reasons": Counter(), "greeting": [], "v2v": [], "missed": 0,
                 "starvation": Counter(), "send_late": Counter(), "call_seconds": 0.0,
                 "turns_from": None, "turns_to": None, "prepare_failed": 0}
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) if job["prepare"] else None
    pacer = Pacer()  # one 20 ms clock for all of this process's callers

    async def until(t: float) -> None:
        await asyncio.sleep(max(0.0, t - time.monotonic()))

    async def one(spec: dict, state: dict) -> None:
        if http is not None:
            await until(spec["connect_at"] - RING_S)
            try:
                await prepare(http, job["port"], spec["call_id"])
            except Exception:  # noqa: BLE001 - the call still runs, on the cold path
                res["prepare_failed"] += 1
        await until(spec["connect_at"])
        c = state["caller"] = TestCaller(job["url"], call_id=spec["call_id"], org_id=ORG, token=spec["token"],
                                         pacer=pacer, compression="deflate" if job["deflate"] else None,
                                         headers=stream_headers(job["url"]))
        state["stage"] = "connect"
        await c.connect(call_sid=spec["sid"], open_timeout=15)
        state["stage"] = "greeting"
        greet = await c.wait_agent_turn(c.log.started_at, timeout=TURN_TIMEOUT_S, quiet=0.8)
        if greet is None:
            raise RuntimeError("closed before greeting" if c.closed.is_set() else "no greeting")
        res["greeting"].append((greet - c.log.started_at) * 1000)
        await until(spec["turns_at"])
        state["stage"] = "turns"
        start = time.monotonic()
        res["turns_from"] = min(res["turns_from"] or start, start)
        missed = 0
        for line in lines:
            if c.closed.is_set():
                missed += 1
                continue
            end = await c.speak(line)
            first = await c.wait_agent_turn(end, timeout=TURN_TIMEOUT_S, quiet=0.8)
            if first is None:
                missed += 1
            else:
                res["v2v"].append((first - end) * 1000)
        done = time.monotonic()
        res["turns_to"] = max(res["turns_to"] or done, done)
        res["missed"] += missed
        if missed:
            raise RuntimeError("closed by the bot" if c.closed.is_set() else "turn unanswered")

    async def guarded(spec: dict) -> None:
        state: dict = {"caller": None, "stage": "start"}
        try:
            await asyncio.wait_for(one(spec, state), max(1.0, job["deadline"] - time.monotonic()))
            res["ok"] += 1
        except TimeoutError:
            res["failed"] += 1
            res["reasons"][f"timeout in {state['stage']}"] += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported, never awaited for ever
            res["failed"] += 1
            reason = str(exc) if isinstance(exc, RuntimeError) else f"{state['stage']}: {type(exc).__name__}"
            res["reasons"][reason] += 1
        finally:
            c = state["caller"]
            if c is not None:
                for late in starvation(c.log.media):
                    res["starvation"][round(late)] += 1
                res["send_late"].update(round(x) for x in c.log.send_late_ms)
                if c.log.started_at:
                    res["call_seconds"] += time.monotonic() - c.log.started_at
                try:
                    await asyncio.wait_for(c.hang_up(), 5)
                except Exception:  # noqa: BLE001 - hang-up failed for any reason: close the socket instead
                    await c.close(timeout=1)

    tasks = [asyncio.create_task(guarded(spec)) for spec in job["calls"]]
    _, pending = await asyncio.wait(tasks, timeout=max(1.0, job["deadline"] + 10 - time.monotonic()))
    for task in pending:  # guarded() has its own deadline: this is the last resort
        task.cancel()
        res["failed"] += 1
        res["reasons"]["caller task overran"] += 1
    pacer.stop()
    if http is not None:
        await http.close()
    return res


async def prepare(http, port: int, call_id: str) -> None:
    from chalicelib.security import sign_control

    body = json.dumps({"call_id": call_id, "org_id": ORG}).encode()
    ts = str(int(time.time()))
    headers = {"X-Control-Timestamp": ts, "X-Control-Signature": sign_control("bench-control", ts, body),
               "Content-Type": "application/json"}
    async with http.post(f"http://127.0.0.1:{port}/calls/{call_id}/prepare", data=body, headers=headers) as resp:
        await resp.read()


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


def caller_main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    import aiohttp  # noqa: F401 - imported before the ready signal, not during the ramp
    import websockets  # noqa: F401

    import chalicelib.security  # noqa: F401
    from sandbox.measuring_caller import line_for

    for line in job["lines"]:
        line_for(line)  # espeak-ng + framing + base64 once per line, before any call starts
    cpu0 = time.process_time()
    Path(job["ready"]).write_text("ready")
    go, waited_until = Path(job["go"]), time.monotonic() + 120
    while not go.exists() and time.monotonic() < waited_until:
        time.sleep(0.02)
    if go.exists():
        t0 = float(go.read_text())
        for spec in job["calls"]:
            spec["connect_at"], spec["turns_at"] = t0 + spec["connect_in"], t0 + spec["turns_in"]
        job["deadline"] = t0 + job["deadline_in"]
        res = asyncio.run(run_callers(job))
    else:
        res = {"failed": len(job["calls"]), "reasons": {"no start signal from the bench": len(job["calls"])}}
    res["caller_cpu"] = time.process_time() - cpu0  # the callers' own CPU, imports excluded
    # Results go to a file, not a pipe: a large result on a pipe nobody reads yet blocks the writer for
    # ever (what stalled the 50- and 200-call runs before).
    tmp = Path(job["result"] + ".tmp")
    tmp.write_text(json.dumps(res))
    os.replace(tmp, job["result"])


# ------------------------------------------------------------------------------------------ harness
class Bench:
    def __init__(self, args):
        self.args = args
        self.env = dict(os.environ)
        self.procs: list[subprocess.Popen] = []
        self.fake_procs: list[subprocess.Popen] = []
        self.tw: FakeTwilio | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="media-bench-"))

    def helper(self, argv: list[str], env: dict | None = None, **kw) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=env or self.env, cwd=ROOT, preexec_fn=pinned(GEN_CORES), **kw)  # noqa: S603 - argv built here: this interpreter and repo modules
        self.procs.append(proc)
        return proc

    def start_generators(self) -> None:
        from sandbox.twilio import FakeTwilio

        moto_port = free_port()
        self.moto = self.helper([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        urls: dict = {}
        for names in (["deepgram"], ["openai", "elevenlabs"]):
            proc = self.helper([sys.executable, str(ROOT / "bench" / "media_fakes.py"), *names],
                               env=dict(self.env, PYTHONPATH=str(ROOT), LOGURU_LEVEL="ERROR"),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            line = read_line(proc, 60)
            if not line:
                raise RuntimeError(f"fakes {names} did not start")
            urls.update(json.loads(line))
            self.fake_procs.append(proc)
        self.dg_url = urls["deepgram"]["url"]
        self.tw = FakeTwilio().start()
        moto_url = f"http://127.0.0.1:{moto_port}"
        shared = {
            "AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "TABLE_PREFIX": "bench-",
            "DEEPGRAM_URL": urls["deepgram"]["ws_url"], "OPENAI_BASE_URL": urls["openai"]["url"] + "/v1",
            "ELEVENLABS_URL": urls["elevenlabs"]["url"],
            "TWILIO_API_URL": self.tw.base_url, "TWILIO_ACCOUNT_SID": self.tw.account_sid,
            "TWILIO_AUTH_TOKEN": self.tw.auth_token, "CALL_TOKEN_SECRET": "bench-secret",
            "MEDIA_CONTROL_SECRET": "bench-control", "LOG_LEVEL": "ERROR", "LOGURU_LEVEL": "ERROR",
            "PYTHONPATH": str(ROOT),
        }
        os.environ.update(shared)
        self.env.update(shared)
        wait_port(moto_port, 60)
        from chalicelib.settings import reset_settings
        from chalicelib.storage.tables import create_tables

        reset_settings()
        create_tables()

    def generator_cpu(self) -> dict[str, float]:
        """CPU seconds so far of each long-lived load generator process."""
        return {"stt_fake": proc_cpu(self.fake_procs[0].pid), "llm_tts_fakes": proc_cpu(self.fake_procs[1].pid),
                "moto": proc_cpu(self.moto.pid), "bench": time.process_time()}

    def fake_stats(self) -> dict:
        out: dict = {}
        for proc in self.fake_procs:
            if proc.stdin is None:
                continue
            try:
                proc.stdin.write("stats\n")
                proc.stdin.flush()
                line = read_line(proc, 10)
                out.update(json.loads(line) if line else {})
            except (OSError, ValueError):
                pass
        return out

    def stop(self) -> None:
        for proc in self.fake_procs:
            if proc.stdin is None:
                continue
            try:
                proc.stdin.write("quit\n")
                proc.stdin.close()
            except OSError:
                pass
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.tw is not None:
            self.tw.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def spawn_bot(self, argv: list[str], port: int) -> subprocess.Popen:
        # With Twilio credentials set our media service refuses to start unless it can check the streams'
        # X-Twilio-Signature against its public URL: the bench's callers sign (stream_headers).
        env = dict(self.env, MEDIA_PORT=str(port), MEDIA_HOST="127.0.0.1",
                   MEDIA_PUBLIC_WS_URL=f"ws://127.0.0.1:{port}/twilio/stream")
        log = os.environ.get("BENCH_BOT_LOG")
        out = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115 - a file or devnull, never a pipe
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=out, preexec_fn=pinned({BOT_CORE}))  # noqa: S603 - argv built here: this interpreter and repo modules
        self.procs.append(proc)
        if not wait_port(port, 90, proc):
            raise RuntimeError(f"{argv} did not start")
        return proc

    def new_call(self, marker: str, first_message: str = "Hello, this is Acme support. How can I help?",
                 **config_extra: object) -> tuple[str, str, str]:
        from chalicelib.security import make_call_token
        from chalicelib.settings import get_settings
        from chalicelib.storage.calls import Call, CallRepository
        from chalicelib.timeutil import now_iso

        call_id = str(uuid.uuid4())
        sid = "CA" + uuid.uuid4().hex
        config = {"first_message": first_message,
                  "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
                  "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                                 "messages": [{"role": "system", "content": f"You are Acme's agent. {marker}"}]},
                  "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"}, **config_extra}
        now = now_iso()
        CallRepository().create(Call(ORG, call_id, "queued", "outbound", now, now, sid, data={"config": config}))
        tw = self.tw
        if tw is None:
            raise RuntimeError("start() the bench stack before placing calls")
        with tw.lock:
            tw.calls[sid] = {"sid": sid, "status": "in-progress", "account_sid": tw.account_sid}
        return call_id, make_call_token(get_settings().call_token_secret, call_id, ORG), sid

    def level(self, url: str, port: int, pid: int, n: int, ours: bool, rounds: int = 1) -> dict:
        raws = [self.level_once(url, port, pid, n, ours) for _ in range(rounds)]
        raw = raws[0]
        for extra in raws[1:]:
            raw = merge(raw, extra)
        return summarize(n, raw)

    def level_once(self, url: str, port: int, pid: int, n: int, ours: bool) -> dict:
        """n concurrent calls from ceil(n / 50) caller processes (own GILs, on the generators' core)."""
        from sandbox.registry import RemoteRegistry

        args = self.args
        lines = LINES[: args.turns]
        registry = RemoteRegistry(self.dg_url)

        def make(_i: int) -> tuple[str, str, str]:
            spec = self.new_call(uuid.uuid4().hex[:8]) if ours else (str(uuid.uuid4()), "x", "CA" + uuid.uuid4().hex)
            registry.register(spec[0], lines)  # what the STT fake will transcribe for this call
            return spec

        with ThreadPoolExecutor(8) as pool:  # rows and scripts are written before the level: moto off the hot path
            specs = list(pool.map(make, range(n)))
        self.fake_stats()  # reset the fakes' counters
        prep = args.prepare and ours
        ramp = n / args.ramp_rate if n > 1 else 0.0
        nprocs = args.caller_procs or max(1, math.ceil(n / CALLS_PER_PROC))
        # Times are relative to t0, sent once every caller process has imported and framed its lines.
        first_connect = RING_S if prep else 0.0
        turns_in = first_connect + ramp + GREETING_SETTLE_S
        deadline_in = turns_in + TURN_SPREAD_S + len(lines) * (TURN_TIMEOUT_S + 8) + 10
        calls = [{"call_id": cid, "token": tok, "sid": sid, "connect_in": first_connect + i * ramp / max(1, n),
                  "turns_in": turns_in + TURN_SPREAD_S * i / max(1, n)}
                 for i, (cid, tok, sid) in enumerate(specs)]
        go = self.tmp / f"go-{uuid.uuid4().hex}"
        jobs = []
        for k in range(nprocs):
            job = {"url": url, "port": port, "prepare": prep, "lines": lines, "deadline_in": deadline_in,
                   "deflate": args.caller_deflate,
                   "calls": calls[k::nprocs], "go": str(go), "ready": str(self.tmp / f"ready-{uuid.uuid4().hex}"),
                   "result": str(self.tmp / f"result-{uuid.uuid4().hex}.json")}
            path = self.tmp / f"job-{uuid.uuid4().hex}.json"
            path.write_text(json.dumps(job))
            jobs.append(job)
            log = os.environ.get("BENCH_CALLER_LOG")
            err = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115 - a file or devnull, never a pipe
            job["proc"] = self.helper([sys.executable, str(Path(__file__)), "--run-callers", str(path)],
                                      stdout=subprocess.DEVNULL, stderr=err)
        ready_by = time.monotonic() + 90
        while time.monotonic() < ready_by and not all(Path(j["ready"]).exists() or j["proc"].poll() is not None
                                                      for j in jobs):
            time.sleep(0.05)
        t0 = time.monotonic() + 0.3
        tmp_go = go.with_suffix(".tmp")
        tmp_go.write_text(repr(t0))  # CLOCK_MONOTONIC is system-wide: the same clock in every process
        os.replace(tmp_go, go)
        deadline = t0 + deadline_in
        cpu0, rss0 = proc_cpu(pid), proc_rss_mb(pid)
        gen0 = self.generator_cpu()
        peak = rss0
        samples = []  # (t, bot cpu s, per-core (busy, total))
        kill_at = deadline + 30
        while any(j["proc"].poll() is None for j in jobs) and time.monotonic() < kill_at:
            peak = max(peak, proc_rss_mb(pid))
            samples.append((time.monotonic(), proc_cpu(pid), core_times()))
            time.sleep(0.25)
        raw = empty_raw()
        for job in jobs:
            proc = job["proc"]
            if proc.poll() is None:  # never hangs the bench: the overrunning process is killed, its calls failed
                proc.kill()
                proc.wait(5)
            try:
                part = json.loads(Path(job["result"]).read_text())
            except (OSError, ValueError):
                part = empty_raw()
                part["failed"] = len(job["calls"])
                part["reasons"] = {f"caller process died (exit {proc.returncode})": len(job["calls"])}
            raw = merge(raw, part)
        # Let the bot finish its calls (end-of-call rows count in its CPU) so levels never overlap.
        raw["lingering"] = wait_idle(port, 30) if ours else 0
        time.sleep(1.0)
        raw["bot_cpu"] = proc_cpu(pid) - cpu0
        gen1 = self.generator_cpu()
        raw["gen_cpu"] = {k: gen1[k] - gen0[k] for k in gen1}
        raw["bot_rss_delta"] = max(0.0, peak - rss0)
        raw["n_calls"] = n
        raw["fakes"] = [self.fake_stats()]
        raw["busy"] = [busy_in_window(samples, raw.get("turns_from"), raw.get("turns_to"))]
        return raw


def wait_idle(port: int, timeout: float) -> int:
    """Poll our bot's /healthz until no call is active; returns how many still were at the timeout."""
    import urllib.request

    deadline, active = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:  # noqa: S310
                active = json.loads(resp.read()).get("active_calls", 0)
        except (OSError, ValueError):
            return -1  # the bot is gone: nothing to wait for
        if not active:
            return 0
        time.sleep(0.25)
    return active


def stream_headers(url: str) -> dict[str, str]:
    """The stream upgrade's ``X-Twilio-Signature`` over the bot's public URL, as Twilio sends it."""
    from sandbox.caller import twilio_signature

    token = os.environ.get("TWILIO_AUTH_TOKEN")
    return {"X-Twilio-Signature": twilio_signature(token, url)} if token else {}


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def busy_in_window(samples: list, t_from: float | None, t_to: float | None, span: float = 5.0) -> dict:
    """Bot process CPU share (average, and the busiest ``span`` seconds) and each core's busy share while
    the turns ran (all calls live)."""
    if not samples or t_from is None or t_to is None or t_to - t_from < 0.5:
        return {}
    inside = [s for s in samples if t_from <= s[0] <= t_to] or samples
    a, b = inside[0], inside[-1]
    dt = b[0] - a[0]
    if dt < 0.5:
        return {}
    out = {"bot": (b[1] - a[1]) / dt, "bot_peak": (b[1] - a[1]) / dt}
    j = 0
    for i, later in enumerate(inside):
        while later[0] - inside[j][0] > span:
            j += 1
        if i > j and later[0] - inside[j][0] >= span * 0.8:
            out["bot_peak"] = max(out["bot_peak"], (later[1] - inside[j][1]) / (later[0] - inside[j][0]))
    for core in b[2]:
        busy = b[2][core][0] - a[2][core][0]
        total = b[2][core][1] - a[2][core][1]
        out[f"core{core}"] = busy / total if total else None
    return out


def empty_raw() -> dict:
    return {"ok": 0, "failed": 0, "reasons": {}, "greeting": [], "v2v": [], "missed": 0, "starvation": {},
            "send_late": {}, "call_seconds": 0.0, "turns_from": None, "turns_to": None, "prepare_failed": 0,
            "bot_cpu": 0.0, "bot_rss_delta": 0.0, "n_calls": 0, "fakes": [], "busy": []}


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for key in ("ok", "failed", "missed", "call_seconds", "prepare_failed", "bot_cpu", "caller_cpu", "lingering"):
        out[key] = a.get(key, 0) + b.get(key, 0)
    for key in ("greeting", "v2v", "fakes", "busy"):
        out[key] = list(a.get(key, [])) + list(b.get(key, []))
    for key in ("reasons", "starvation", "send_late"):
        c = Counter({str(k): v for k, v in a.get(key, {}).items()})
        c.update({str(k): v for k, v in b.get(key, {}).items()})
        out[key] = dict(c)
    gen = Counter(a.get("gen_cpu", {}))
    gen.update(b.get("gen_cpu", {}))
    out["gen_cpu"] = dict(gen)
    out["bot_rss_delta"] = max(a.get("bot_rss_delta", 0.0), b.get("bot_rss_delta", 0.0))
    out["n_calls"] = max(a.get("n_calls", 0), b.get("n_calls", 0))
    froms = [x for x in (a.get("turns_from"), b.get("turns_from")) if x is not None]
    tos = [x for x in (a.get("turns_to"), b.get("turns_to")) if x is not None]
    out["turns_from"], out["turns_to"] = (min(froms) if froms else None), (max(tos) if tos else None)
    return out


def summarize(n: int, raw: dict) -> dict:
    v2v = raw["v2v"]
    minutes = raw["call_seconds"] / 60
    fakes = raw["fakes"]

    def worst(key: str, field: str = "p99") -> float | None:
        vals = [f.get(key, {}).get(field) for f in fakes]
        vals = [v for v in vals if v is not None]
        return max(vals) if vals else None

    busy = [b for b in raw["busy"] if b]
    core_gen = max(GEN_CORES)
    row = {
        "n": n, "ok": raw["ok"], "failed": raw["failed"], "reasons": raw["reasons"], "turns": len(v2v),
        "missed": raw["missed"], "v2v_p50": pct(v2v, 0.5), "v2v_p95": pct(v2v, 0.95),
        "added_p50": (p50 - FAKE_DELAYS_MS) if (p50 := pct(v2v, 0.5)) is not None else None,
        "greet_p50": pct(raw["greeting"], 0.5), "late_p99": hist_pct(raw["starvation"], 0.99),
        "cpu_per_call_min": raw["bot_cpu"] / minutes if minutes else None,
        "rss_per_call": raw["bot_rss_delta"] / n, "prepare_failed": raw["prepare_failed"],
        "lingering": raw.get("lingering", 0),
        "agent_frames_per_call": sum(raw["starvation"].values()) / max(1, raw["ok"] + raw["failed"]),
        "caller_cpu_per_call_min": raw.get("caller_cpu", 0.0) / minutes if minutes else None,
        "gen_cpu_per_call_min": {k: v / minutes for k, v in raw.get("gen_cpu", {}).items()} if minutes else {},
        "bot_busy": max((b.get("bot", 0) for b in busy), default=None),
        "bot_peak": max((b.get("bot_peak", 0) for b in busy), default=None),
        "gen_busy": max((b.get(f"core{core_gen}") or 0 for b in busy), default=None),
        "send_late_p99": hist_pct(raw["send_late"], 0.99), "send_late_max": hist_pct(raw["send_late"], 1.0),
        "dg_lag_p99": worst("deepgram_loop_lag"),
        "llm_lag_p99": max([v for v in (worst("openai_loop_lag"), worst("elevenlabs_loop_lag")) if v is not None],
                           default=None),
        "stt_late_p99": worst("stt_final_late"), "llm_late_p99": worst("llm_first_token_late"),
    }
    # Only figures the bot cannot move: the STT final's lateness also grows when the bot forwards audio late.
    gen = [row[k] for k in ("send_late_p99", "dg_lag_p99", "llm_lag_p99", "llm_late_p99")]
    row["gen_saturated"] = any(v is not None and v > SATURATED_MS for v in gen)
    return row


def fmt(v, unit="") -> str:
    if v is None:
        return "-"
    return f"{v:.0f}{unit}" if abs(v) >= 10 or v == 0 else f"{v:.1f}{unit}"


def pct_fmt(v) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print("| calls | ok / failed | v2v p50 / p95 ms | platform-added p50 ms | greeting p50 ms | starvation p99 ms "
          "| CPU s per call-min | RSS MB per call | bot core busy avg / peak 5 s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['ok']} / {r['failed']} | {fmt(r['v2v_p50'])} / {fmt(r['v2v_p95'])} | "
              f"{fmt(r['added_p50'])} | {fmt(r['greet_p50'])} | {fmt(r['late_p99'])} | "
              f"{fmt(r['cpu_per_call_min'])} | {fmt(r['rss_per_call'])} | {pct_fmt(r['bot_busy'])} / "
              f"{pct_fmt(r['bot_peak'])} |")
    notes = [f"{r['n']} calls: {r['missed']} of {r['turns'] + r['missed']} turns unanswered; "
             + ", ".join(f"{k} x{v}" for k, v in sorted(r["reasons"].items())) for r in rows if r["failed"]]
    notes += [f"{r['n']} calls: {r['prepare_failed']} ring-time prepare requests failed (cold path)"
              for r in rows if r["prepare_failed"]]
    notes += [f"{r['n']} calls: {r['lingering']} calls still active in the bot 30 s after the level"
              for r in rows if r["lingering"] > 0]
    for note in notes:
        print(f"- {note}")


def print_generators(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print("| calls | caller frame-send late p99 / max ms | fake loop lag p99 ms (STT / LLM+TTS) "
          "| STT final late p99 ms | LLM first token late p99 ms | CPU s per call-min: callers / STT fake / "
          "LLM+TTS fakes / moto | generator core busy | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        g = r["gen_cpu_per_call_min"]
        verdict = "generators saturated" if r["gen_saturated"] else (
            "bot core saturated" if (r["bot_peak"] or 0) >= 0.9 else "ok")
        print(f"| {r['n']} | {fmt(r['send_late_p99'])} / {fmt(r['send_late_max'])} | {fmt(r['dg_lag_p99'])} / "
              f"{fmt(r['llm_lag_p99'])} | {fmt(r['stt_late_p99'])} | {fmt(r['llm_late_p99'])} | "
              f"{fmt(r['caller_cpu_per_call_min'])} / {fmt(g.get('stt_fake'))} / {fmt(g.get('llm_tts_fakes'))} / "
              f"{fmt(g.get('moto'))} | {pct_fmt(r['gen_busy'])} | {verdict} |")


def print_ratios(ours: list[dict], stock: list[dict]) -> None:
    by_n = {r["n"]: r for r in stock}
    pairs = [(o, by_n[o["n"]]) for o in ours if o["n"] in by_n]
    if not pairs:
        return

    def ratio(a, b) -> str:
        if a is None or not b:
            return "-"
        r = a / b
        return f"{r:.2f}x" if r >= 0.1 else f"1/{1 / r:.0f}" if r > 0 else "0x"

    print("\nOurs / stock at the same level")
    print("| calls | v2v p50 | v2v p95 | greeting p50 | CPU per call-min | RSS per call |")
    print("|---|---|---|---|---|---|")
    for o, s in pairs:
        print(f"| {o['n']} | {ratio(o['v2v_p50'], s['v2v_p50'])} | {ratio(o['v2v_p95'], s['v2v_p95'])} | "
              f"{ratio(o['greet_p50'], s['greet_p50'])} | {ratio(o['cpu_per_call_min'], s['cpu_per_call_min'])} | "
              f"{ratio(o['rss_per_call'], s['rss_per_call'])} |")


def calls_per_core(rows: list[dict]) -> None:
    base = next((r for r in rows if r["n"] == 1), None)
    if base is None or base["v2v_p95"] is None:
        print("\ncalls per core: no 1-call baseline")
        return
    limit = base["v2v_p95"] * 1.10
    best = None
    for r in sorted(rows, key=lambda r: r["n"]):
        if r["n"] == 1:
            continue
        within = r["v2v_p95"] is not None and r["v2v_p95"] <= limit and not r["failed"]
        flag = " (load generators saturated: a lower bound)" if r["gen_saturated"] else ""
        print(f"- {r['n']} calls: v2v p95 {fmt(r['v2v_p95'])} ms, {r['failed']} failed -> "
              f"{'within' if within else 'OVER'}{flag}")
        if not within:
            break
        best = r
    if best is None:
        print(f"\ncalls per core: below the smallest swept level (1-call p95 {fmt(base['v2v_p95'])} ms, "
              f"limit {fmt(limit)} ms)")
    else:
        sat = " (the load generators were saturated there: the bot may hold more)" if best["gen_saturated"] else ""
        print(f"\ncalls per core before v2v p95 rises 10%: {best['n']} (1-call p95 {fmt(base['v2v_p95'])} ms, "
              f"limit {fmt(limit)} ms, p95 there {fmt(best['v2v_p95'])} ms){sat}")


def run(args) -> int:
    os.sched_setaffinity(0, GEN_CORES)
    bench = Bench(args)
    ours_rows: list[dict] = []
    stock_rows: list[dict] = []
    levels = sorted(set(args.levels) | set(args.sweep) | ({1} if args.sweep else set()))
    print(f"Layout: bot under test = one process pinned alone to core {BOT_CORE}; load generators (moto, "
          f"fakes in 2 processes, callers in 1 process per {CALLS_PER_PROC} calls, this bench) share core(s) "
          f"{sorted(GEN_CORES)} of {os.cpu_count()}. Ramp {args.ramp_rate:g} calls/s, {args.turns} turns a call, "
          f"turns start once every call of the level is connected. Level 1 = {args.single_rounds} calls in "
          f"sequence.", flush=True)
    try:
        bench.start_generators()
        port = free_port()
        proc = bench.spawn_bot([sys.executable, "-m", "media.server"], port)
        url = f"ws://127.0.0.1:{port}/twilio/stream"
        bench.level(url, port, proc.pid, 1, True)  # warm caches (espeak, imports)
        if args.soak:
            return soak(bench, url, port, proc.pid, args)
        for n in levels:
            rounds = args.single_rounds if n == 1 else 1
            ours_rows.append(bench.level(url, port, proc.pid, n, True, rounds))
            print_table("ours (so far)", ours_rows[-1:])
            sys.stdout.flush()
        proc.terminate()
        if not args.skip_stock and args.stock_levels:
            sport = free_port()
            sproc = bench.spawn_bot([sys.executable, str(Path(__file__)), "--serve-stock", str(sport)], sport)
            surl = f"ws://127.0.0.1:{sport}/twilio/stream"
            bench.level(surl, sport, sproc.pid, 1, False)
            for n in args.stock_levels:
                rounds = args.single_rounds if n == 1 else 1
                stock_rows.append(bench.level(surl, sport, sproc.pid, n, False, rounds))
                print_table("stock (so far)", stock_rows[-1:])
                sys.stdout.flush()
            sproc.terminate()
    finally:
        bench.stop()
    print_table(f"Our media service (ring-time prepare={args.prepare})", ours_rows)
    if stock_rows:
        print_table("Stock Pipecat Twilio bot (Silero VAD + Smart Turn v3, LLM greeting)", stock_rows)
        print_ratios(ours_rows, stock_rows)
    print_generators("Load generators (ours)", ours_rows)
    if stock_rows:
        print_generators("Load generators (stock)", stock_rows)
    if args.sweep:
        print("\nSweep (ours)")
        calls_per_core(ours_rows)
    if os.environ.get("BENCH_JSON"):  # every figure, for the record
        Path(os.environ["BENCH_JSON"]).write_text(json.dumps({"ours": ours_rows, "stock": stock_rows}, indent=1))
    return 0


def soak(bench: Bench, url: str, port: int, pid: int, args) -> int:
    """Rounds of the same level in one bot process: does its memory come back between rounds?"""
    n = (args.levels or [50])[-1]
    base = proc_rss_mb(pid)
    print(f"\nSoak: {args.soak} rounds of {n} concurrent calls; bot RSS once idle after each round "
          f"(start {base:.0f} MB)\n\n| round | ok / failed | v2v p50 | RSS idle MB | growth MB per call |")
    print("|---|---|---|---|---|")
    prev = base
    for k in range(1, args.soak + 1):
        row = bench.level(url, port, pid, n, True)
        time.sleep(2.0)
        rss = proc_rss_mb(pid)
        print(f"| {k} | {row['ok']} / {row['failed']} | {fmt(row['v2v_p50'], ' ms')} | {rss:.0f} | "
              f"{(rss - prev) / n:.2f} |", flush=True)
        prev = rss
    return 0


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]))
    parser.add_argument("--levels", type=int_list, default=[1, 50], help="concurrent calls for ours (default 1,50)")
    parser.add_argument("--stock-levels", type=int_list, default=[1, 5],
                        help="concurrent calls for the stock Pipecat bot (default 1,5)")
    parser.add_argument("--sweep", type=int_list, default=[],
                        help="extra levels for ours, then report calls per core (e.g. 10,25,50,75,100,150,200)")
    parser.add_argument("--turns", type=int, default=3, choices=range(1, len(LINES) + 1),
                        help="caller turns per call (default 3)")
    parser.add_argument("--ramp-rate", type=float, default=20.0, help="calls started per second (default 20)")
    parser.add_argument("--single-rounds", type=int, default=3,
                        help="level 1 = this many calls one after the other (default 3)")
    parser.add_argument("--caller-procs", type=int, default=0,
                        help=f"caller processes per level (default: one per {CALLS_PER_PROC} calls)")
    parser.add_argument("--caller-deflate", action="store_true",
                        help="callers offer WebSocket permessage-deflate (the bot then deflates every frame; "
                             "off by default, like Twilio)")
    parser.add_argument("--soak", type=int, default=0,
                        help="instead: this many rounds of the last --levels level, bot RSS after each")
    parser.add_argument("--skip-stock", action="store_true", help="do not run the stock Pipecat bot")
    parser.add_argument("--no-prepare", dest="prepare", action="store_false",
                        help="no ring-time prepare request before each of our calls")
    parser.add_argument("--serve-stock", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--run-callers", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_callers:
        caller_main(args.run_callers)
        return 0
    if args.serve_stock:
        serve_stock(args.serve_stock)
        return 0
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
