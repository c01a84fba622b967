"""Start every sandbox provider and hand back the environment the media service needs.

    sb = start_sandbox()            # Deepgram, OpenAI, ElevenLabs (TTS + voices), xAI, control
    os.environ.update(sb.env())     # DEEPGRAM_URL, OPENAI_BASE_URL, ELEVENLABS_URL, XAI_URL, *_API_KEY ...
    install_answerer(fake_twilio, sb)   # answered calls get a SimulatedCaller
    ...
    sb.stop()

``python -m sandbox.run`` runs the same set in the foreground and prints the environment (ports from
``SANDBOX_PORT_BASE``: base+0 Deepgram, +1 OpenAI, +2 ElevenLabs, +3 xAI, +4 control; 0 = ephemeral).

The control server keeps the scripts simulated callers will speak (``POST /sandbox/scripts``
``{"to": "+1555...", "lines": [...], "voice"?, "language"?, "pace"?}``, used by ``media.simulate`` and the
eval callers; the caller speaks with the espeak-ng voice picked for voice/language, at the pace), their results
(``GET /sandbox/results?to=...`` or ``?call_id=...``), and the utterance registry endpoints.
Delays follow a timing profile (``sandbox.profiles``; ``SANDBOX_PROFILE``, default ``reference``: STT
words 300 ms behind the audio and the final 150 ms after the client's endpointing, LLM first token
300 ms + 10 ms/token, TTS first byte 100 ms).
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox import audio, profiles
from sandbox.aioserver import AsyncFakeServer
from sandbox.caller import DEFAULT_SCRIPT, CallResult, Line, answer_call, parse_stream_twiml
from sandbox.deepgram import FakeDeepgram
from sandbox.elevenlabs_tts import FakeElevenLabsStream
from sandbox.openai_llm import FakeOpenAI
from sandbox.profiles import REFERENCE, TimingProfile
from sandbox.registry import REGISTRY, MultiRegistry, Registry, RemoteRegistry, UtteranceSink
from sandbox.twilio import API
from sandbox.xai_realtime import FakeXAIRealtime

SANDBOX_KEYS = {
    "DEEPGRAM_API_KEY": "sandbox-deepgram-key",
    "OPENAI_API_KEY": "sk-sandbox",
    "ELEVENLABS_API_KEY": "xi-sandbox",
    "XAI_API_KEY": "xai-sandbox",
}


def _line_from_json(raw: Any) -> str | Line:
    if isinstance(raw, str):
        return Line.parse(raw)  # ValueError (a 400) for an unknown <mark>
    if isinstance(raw, dict):
        allowed = {"text", "barge_in_after_ms", "pause_ms", "dtmf", "wait_for_agent"}
        line = Line(**{k: v for k, v in raw.items() if k in allowed})
        _ = line.spoken  # reject unknown marks in the text now
        return line
    raise ValueError("a line is a string or an object with text/barge_in_after_ms/pause_ms/dtmf")


def _voice_from_json(data: dict[str, Any]) -> dict[str, Any]:
    """A script's optional ``voice``/``language`` (an espeak-ng voice is picked for them) and ``pace``
    (0.5-2.0, espeak-ng's rate times it) as ``SimulatedCaller`` keywords."""
    out: dict[str, Any] = {}
    if data.get("voice") or data.get("language"):
        out["voice"] = audio.espeak_voice(data.get("voice"), data.get("language"))
    if data.get("pace") is not None:
        pace = float(data["pace"])
        if not 0.5 <= pace <= 2.0:
            raise ValueError("pace must be between 0.5 and 2.0")
        out["speed"] = pace
    return out


@dataclass
class ScriptBook:
    """Scripts for callers not started yet (by dialled number) and results of finished ones."""

    scripts: dict[str, list[str | Line]] = field(default_factory=dict)
    voices: dict[str, dict[str, Any]] = field(default_factory=dict)  # to -> SimulatedCaller voice/speed
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # call sid -> result (+ "to")
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, to: str, lines: list[str | Line], voice: dict[str, Any] | None = None) -> None:
        with self.lock:
            self.scripts[to] = lines
            if voice:
                self.voices[to] = voice

    def take(self, to: str) -> list[str | Line] | None:
        with self.lock:
            return self.scripts.pop(to, None)

    def take_voice(self, to: str) -> dict[str, Any]:
        """The ``SimulatedCaller`` keywords (``voice``, ``speed``) posted with the number's script."""
        with self.lock:
            return self.voices.pop(to, {})

    def record(self, call_sid: str, to: str, result: CallResult | None, error: str | None = None) -> None:
        body = result.to_dict() if result else {"call_sid": call_sid, "end_reason": f"error: {error}"}
        body["to"] = to
        with self.lock:
            self.results[call_sid] = body

    def find(self, to: str | None = None, call_id: str | None = None) -> dict[str, Any] | None:
        with self.lock:
            for body in reversed(list(self.results.values())):
                if (call_id and body.get("call_id") == call_id) or (to and not call_id and body.get("to") == to):
                    return body
        return None


class SandboxControl(AsyncFakeServer):
    name = "sandbox-control"

    def __init__(self, book: ScriptBook | None = None, **kw: Any):
        super().__init__(**kw)
        self.book = book or ScriptBook()

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/sandbox/scripts", self._put_script)
        app.router.add_get("/sandbox/results", self._get_result)

    async def _put_script(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            to = str(data["to"])
            lines = [_line_from_json(x) for x in data["lines"]]
            voice = _voice_from_json(data)
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": "invalid_request", "message": str(exc)}, status=400)
        self.book.put(to, lines, voice)
        return web.json_response({"to": to, "lines": len(lines)}, status=201)

    async def _get_result(self, request: web.Request) -> web.Response:
        found = self.book.find(request.query.get("to"), request.query.get("call_id"))
        if found is None:
            return web.json_response({"error": "not_found", "message": "no finished simulated call yet"}, status=404)
        return web.json_response(found)


@dataclass
class Sandbox:
    deepgram: FakeDeepgram
    openai: FakeOpenAI
    elevenlabs: FakeElevenLabsStream
    xai: FakeXAIRealtime
    control: SandboxControl
    registry: Registry

    @property
    def book(self) -> ScriptBook:
        return self.control.book

    def env(self) -> dict[str, str]:
        """Environment for the media service / API (provider URLs, dummy keys, sandbox URLs)."""
        return {
            "DEEPGRAM_URL": self.deepgram.ws_url,
            "OPENAI_BASE_URL": self.openai.url + "/v1",
            "ELEVENLABS_URL": self.elevenlabs.url,
            "XAI_URL": self.xai.url,
            **SANDBOX_KEYS,
            "SANDBOX_CONTROL_URL": self.control.url,
            # All fakes share one registry: register through one of them (the control server).
            "SANDBOX_REGISTRY_URLS": self.control.url,
        }

    def servers(self) -> list[AsyncFakeServer]:
        return [self.deepgram, self.openai, self.elevenlabs, self.xai, self.control]

    def stop(self) -> None:
        for server in self.servers():
            server.stop()


def start_sandbox(host: str = "127.0.0.1", port_base: int = 0, *, registry: Registry | None = None,
                  profile: TimingProfile = REFERENCE) -> Sandbox:
    """Start the fakes (ephemeral ports unless ``port_base``) with ``profile``'s delays; all share
    ``registry`` (default: global)."""
    reg = registry or REGISTRY
    p = profile

    def port(i: int) -> int:
        return port_base + i if port_base else 0

    started: list[AsyncFakeServer] = []
    try:
        dg = FakeDeepgram(host=host, port=port(0), registry=reg, final_delay_ms=p.stt_final_delay_ms,
                          recognition_lag_ms=p.stt_recognition_lag_ms, interim_interval_ms=p.stt_interim_interval_ms)
        oa = FakeOpenAI(host=host, port=port(1), registry=reg, first_token_delay_ms=p.llm_first_token_delay_ms,
                        token_delay_ms=p.llm_token_delay_ms)
        el = FakeElevenLabsStream(host=host, port=port(2), registry=reg, first_byte_delay_ms=p.tts_first_byte_delay_ms)
        xai = FakeXAIRealtime(host=host, port=port(3), registry=reg,
                              first_audio_delay_ms=p.realtime_first_audio_delay_ms)
        ctl = SandboxControl(host=host, port=port(4), registry=reg)
        for server in (dg, oa, el, xai, ctl):
            server.start()
            started.append(server)
    except BaseException:
        for server in started:
            server.stop()
        raise
    return Sandbox(dg, oa, el, xai, ctl, reg)


def registry_from_env() -> UtteranceSink:
    """Where a caller in this process registers its lines: the remote fakes named by
    ``SANDBOX_REGISTRY_URLS`` (comma-separated), else the in-process registry."""
    urls = [u for u in os.environ.get("SANDBOX_REGISTRY_URLS", "").split(",") if u.strip()]
    if not urls:
        return REGISTRY
    return MultiRegistry([RemoteRegistry(u.strip()) for u in urls])


def install_answerer(fake_twilio: Any, sandbox: Sandbox | None = None, *,
                     default_script: list[str | Line] | None = None, **caller_kw: Any) -> None:
    """Make ``FakeTwilio`` answer calls with a ``SimulatedCaller`` on the call's ``<Stream>``.

    The script is the one posted for the dialled number (``ScriptBook``), else ``default_script``
    (a short greeting/goodbye). Results land in the book (``GET /sandbox/results``). The caller signs
    the upgrade with the fake's auth token. When the call is then completed (``Status=completed``) or
    redirected (``Twiml``/``Url``) through the fake's REST API, the caller's stream gets ``stop`` and
    closes, as on Twilio (end reason ``call_updated``).
    """
    book = sandbox.book if sandbox else ScriptBook()
    registry: UtteranceSink = sandbox.registry if sandbox else registry_from_env()
    fallback: list[str | Line] = default_script if default_script is not None else list(DEFAULT_SCRIPT)

    def on_answer(resource: dict[str, Any], twiml: str) -> None:
        if not twiml or "<Stream" not in twiml:
            return
        to = resource.get("to", "")
        connect(resource, twiml, book.take(to) or fallback, to, book.take_voice(to))

    def connect(resource: dict[str, Any], twiml: str, script: list[str | Line], to: str,
                voice: dict[str, Any]) -> None:
        url, params = parse_stream_twiml(twiml)
        call_sid = resource.get("sid", "")
        kw = {"auth_token": getattr(fake_twilio, "auth_token", None), "registry": registry, **caller_kw, **voice}
        future: Future[CallResult] = answer_call(url, params, script, call_sid=call_sid,
                                                 account_sid=resource.get("account_sid"), **kw)

        with live_lock:
            live[call_sid] = future.caller  # type: ignore[attr-defined]

        def done(f: Future[CallResult]) -> None:
            with live_lock:
                live.pop(call_sid, None)
            exc = f.exception()
            result = None if exc else f.result()
            if result is not None and _stream_cut(result) and follow(resource, result, script, to, voice):
                return
            book.record(call_sid, to, result, repr(exc) if exc else None)

        future.add_done_callback(done)

    def follow(resource: dict[str, Any], result: CallResult, script: list[str | Line], to: str,
               voice: dict[str, Any]) -> bool:
        """Twilio's <Connect action>: the media server closed the stream (or died) while the call was
        live. The caller stays on the line; a new <Stream> in the answer gets the rest of the script."""
        stream_ended = getattr(fake_twilio, "stream_ended", None)
        answer = stream_ended(resource.get("sid", "")) if stream_ended else None
        if answer is None or "<Stream" not in answer[1]:
            return False
        pause = re.search(r'<Pause length="(\d+)"', answer[1])
        if pause:  # the verbs run in order: silence first
            time.sleep(int(pause.group(1)))
        spoken = len([t for t in result.turns if t.speech_end is not None])
        connect(resource, answer[1], script[spoken:], to, voice)
        return True

    fake_twilio.on_answer = on_answer
    live: dict[str, Any] = {}
    live_lock = threading.Lock()
    _end_streams_on_call_update(fake_twilio, live, live_lock)


def _stream_cut(result: CallResult) -> bool:
    """The stream ended from the media side, not by the caller hanging up or Twilio ending the call."""
    return result.end_reason not in ("caller_hangup", "call_updated")


def _end_streams_on_call_update(fake_twilio: Any, live: dict[str, Any], live_lock: threading.Lock) -> None:
    """Put a pass-through route in front of the fake's call update: after a successful
    ``Status``/``Twiml``/``Url`` update, the live caller of that call gets Twilio's ``stop``."""
    routes = getattr(fake_twilio, "_routes", None)
    dispatch = getattr(fake_twilio, "dispatch", None)
    if routes is None or dispatch is None:
        return
    pattern = re.compile("^" + API + r"/Calls/(?P<sid>CA[0-9a-fA-F]{32})\.json" + "$")
    original = next((h for m, p, h in routes if m == "POST" and p.pattern == pattern.pattern), None)
    if original is None:
        return

    def update(req: Any) -> Any:
        resp = original(req)
        form = req.form_first()
        if resp.status == 200 and (form.get("Status") or form.get("Twiml") or form.get("Url")):
            with live_lock:
                caller = live.get(req.params.get("sid", ""))
            if caller is not None:
                caller.end_by_twilio_threadsafe("call_updated")
        return resp

    routes.insert(0, ("POST", pattern, update))


def main() -> None:
    base = int(os.environ.get("SANDBOX_PORT_BASE", "0"))
    sb = start_sandbox(port_base=base, profile=profiles.profile(os.environ.get("SANDBOX_PROFILE", "reference")))
    for key, value in sb.env().items():
        print(f"{key}={value}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1):
        time.sleep(0)
    sb.stop()


if __name__ == "__main__":
    main()
