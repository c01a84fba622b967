"""The media service: Twilio Media Streams WebSocket, internal control endpoint, health.

Run locally with ``python -m media.server`` (MEDIA_HOST / MEDIA_PORT); on Fargate uvicorn serves
``media.server:app``. One asyncio process holds many calls.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from chalicelib.security import verify_call_token, verify_control
from chalicelib.settings import get_settings

log = logging.getLogger("voice.media.server")

PREPARED_TTL_SECONDS = 180


@dataclass
class Stats:
    """Cheap counters for health and the benchmark."""

    frames_out: int = 0
    calls_total: int = 0
    rejected: int = 0
    last_frame: dict[str, float] = field(default_factory=dict)

    def note_frame(self, call_id: str, now: float, nbytes: int) -> None:
        self.frames_out += 1


class MediaServer:
    def __init__(self) -> None:
        self.sessions: dict[str, Any] = {}
        self.prepared: dict[str, Any] = {}
        self.preparing: dict[str, asyncio.Task] = {}
        self._closing: set[asyncio.Task] = set()  # warm-ups being closed (strong refs until done)
        self.pending_amd: dict[str, tuple[str, float]] = {}
        self.stats = Stats()
        self.draining = False
        self.port: int | None = None

    @property
    def control_base_url(self) -> str:
        url = os.environ.get("MEDIA_CONTROL_ADVERTISE_URL")
        if url:
            return url.rstrip("/")
        return f"http://127.0.0.1:{self.port or int(os.environ.get('MEDIA_PORT', '8765'))}"

    # --- Twilio stream -------------------------------------------------------------------------
    def _signature_ok(self, ws: WebSocket) -> bool:
        s = get_settings()
        public = os.environ.get("MEDIA_PUBLIC_WS_URL")
        if not (s.twilio_auth_token and public):
            return True
        from twilio.request_validator import RequestValidator

        signature = ws.headers.get("x-twilio-signature", "")
        return bool(signature) and RequestValidator(s.twilio_auth_token).validate(public, {}, signature)

    async def twilio_stream(self, ws: WebSocket) -> None:
        if self.draining or not self._signature_ok(ws):
            self.stats.rejected += 1
            await ws.close(code=1008)
            return
        await ws.accept()
        start = None
        try:
            for _ in range(5):  # "connected" then "start"
                message = json.loads(await asyncio.wait_for(ws.receive_text(), 10.0))
                if message.get("event") == "start":
                    start = message
                    break
        except (TimeoutError, WebSocketDisconnect, json.JSONDecodeError, KeyError, RuntimeError):
            start = None
        if start is None:
            self.stats.rejected += 1
            await _close(ws)
            return
        body = start.get("start") or {}
        params = body.get("customParameters") or {}
        call_id, org_id, token = params.get("call_id"), params.get("org_id"), params.get("token")
        if not (call_id and org_id and token) or not verify_call_token(
                get_settings().call_token_secret, token, call_id, org_id) or call_id in self.sessions:
            self.stats.rejected += 1
            log.warning("stream rejected: bad or missing call token")
            await _close(ws)
            return

        from media.session import CallSession

        session = CallSession(self, ws, call_id=call_id, org_id=org_id,
                              stream_sid=body.get("streamSid") or start.get("streamSid") or "",
                              call_sid=body.get("callSid"), account_sid=body.get("accountSid"))
        prepared = self._take_prepared(call_id, org_id)
        if prepared is None and call_id in self.preparing:
            try:
                await asyncio.wait_for(asyncio.shield(self.preparing[call_id]), 2.0)
            except Exception:
                pass
            prepared = self._take_prepared(call_id, org_id)
        self.sessions[call_id] = session
        self.stats.calls_total += 1
        try:
            await session.run(prepared)
        finally:
            self.sessions.pop(call_id, None)
            if prepared is not None and prepared.warm is not None:
                # A call that ended before its pipeline adopted the warm sockets: close them now, not at
                # the TTL (adopted sockets belong to the services, which closed them).
                await prepared.warm.aclose()

    def _take_prepared(self, call_id: str, org_id: str):
        prepared = self.prepared.pop(call_id, None)
        if prepared is None:
            return None
        if prepared.expiry is not None:
            # The call owns it now (the stream closes what it did not adopt). A live timer would keep it,
            # and through the adopted sockets the call's whole pipeline, in memory for the full TTL.
            prepared.expiry.cancel()
            prepared.expiry = None
        if prepared.plan.org_id != org_id or time.monotonic() - prepared.created > PREPARED_TTL_SECONDS:
            self._discard_prepared(prepared)
            return None
        return prepared

    # --- control -----------------------------------------------------------------------------------
    async def _verified_body(self, request: Request) -> dict[str, Any] | JSONResponse:
        body = await request.body()
        ts = request.headers.get("x-control-timestamp", "")
        sig = request.headers.get("x-control-signature", "")
        if not verify_control(get_settings().media_control_secret, ts, body, sig):
            return JSONResponse({"error": "unauthorized", "message": "Bad control signature."}, status_code=401)
        try:
            data = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return JSONResponse({"error": "invalid_request", "message": "Body must be JSON."}, status_code=400)
        if not isinstance(data, dict):
            return JSONResponse({"error": "invalid_request", "message": "Body must be an object."}, status_code=400)
        return data

    async def control(self, request: Request) -> JSONResponse:
        data = await self._verified_body(request)
        if isinstance(data, JSONResponse):
            return data
        call_id = request.path_params["call_id"]
        command = data.get("command") if isinstance(data.get("command"), dict) else data
        session = self.sessions.get(call_id)
        if session is not None and not session.ready.is_set():
            try:  # the stream just connected: the command waits for the pipeline (bounded)
                await asyncio.wait_for(session.ready.wait(), 3.0)
            except TimeoutError:
                pass
        if session is None and command.get("type") == "amd" and command.get("answered_by"):
            # Twilio's async AMD verdict can beat the media stream: keep it for the stream.
            self.pending_amd[call_id] = (str(command["answered_by"]), time.monotonic())
            return JSONResponse({"success": True, "message": "Command stored for the call"})
        if session is None or session.plan is None or (data.get("org_id") and data["org_id"] != session.org_id):
            return JSONResponse({"error": "not_found", "message": f"Call {call_id} is not live here."},
                                status_code=404)
        if session._ending:
            return JSONResponse({"error": "call_not_active", "message": "The call is ending."}, status_code=400)
        out = await session.control(command)
        if not out.get("success"):
            return JSONResponse({"error": "invalid_request", "message": out.get("error", "bad command")},
                                status_code=400)
        return JSONResponse({"success": True, "message": "Command sent successfully"})

    async def prepare(self, request: Request) -> JSONResponse:
        data = await self._verified_body(request)
        if isinstance(data, JSONResponse):
            return data
        call_id = request.path_params["call_id"]
        org_id = data.get("org_id")
        if not org_id:
            return JSONResponse({"error": "invalid_request", "message": "org_id is required."}, status_code=400)
        if call_id in self.prepared or call_id in self.preparing:
            return JSONResponse({"success": True, "status": "preparing"})
        self.preparing[call_id] = asyncio.create_task(self._prepare(call_id, org_id))
        return JSONResponse({"success": True, "status": "preparing"}, status_code=202)

    async def _prepare(self, call_id: str, org_id: str) -> None:
        from media import control_plane
        from media.plan import UnsupportedConfig, build_plan
        from media.session import Prepared, synthesize_ulaw
        from media.warm import realtime_greeting, warm_up

        try:
            call = await asyncio.to_thread(control_plane.load_call, org_id, call_id)
            if call is None:
                return
            plan = build_plan(org_id, call_id, call.direction, call.data)
            greeting = None
            if plan.first_message and not plan.realtime:
                greeting = synthesize_ulaw(plan, plan.first_message)
            # Greeting audio and provider connections (LLM pool, STT/TTS sockets) in parallel.
            audio, warm = await asyncio.gather(greeting or _none(), warm_up(plan))
            if plan.realtime:  # speech-to-speech: the model says the first message now, on the held socket
                audio = await realtime_greeting(warm, plan)
            prepared = Prepared(plan=plan, greeting_audio=audio, warm=warm)
            if call_id in self.sessions:  # the stream gave up waiting for us: nothing will adopt these
                self._discard_prepared(prepared)
                return
            self.prepared[call_id] = prepared
            # An unanswered call's sockets must not outlive the TTL (keep-alives hold them open).
            prepared.expiry = asyncio.get_running_loop().call_later(
                PREPARED_TTL_SECONDS, self._expire_prepared, call_id, prepared)
            self._prune_prepared()
        except UnsupportedConfig:
            return
        except Exception:
            log.exception("prepare failed for %s", call_id)
        finally:
            self.preparing.pop(call_id, None)

    def _expire_prepared(self, call_id: str, prepared: Any) -> None:
        prepared.expiry = None
        if self.prepared.get(call_id) is prepared:
            self.prepared.pop(call_id, None)
        self._discard_prepared(prepared)

    def _discard_prepared(self, prepared: Any) -> None:
        if prepared.warm is not None:
            task = asyncio.get_running_loop().create_task(prepared.warm.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _prune_prepared(self) -> None:
        now = time.monotonic()
        for key in [k for k, p in self.prepared.items() if now - p.created > PREPARED_TTL_SECONDS]:
            self._discard_prepared(self.prepared.pop(key))

    async def healthz(self, request: Request) -> JSONResponse:
        status = "draining" if self.draining else "ok"
        return JSONResponse({"status": status, "active_calls": len(self.sessions)},
                            status_code=503 if self.draining else 200)


async def _none() -> None:
    return None


async def _close(ws: WebSocket) -> None:
    try:
        await ws.close(code=1008)
    except Exception:
        pass


def create_app(server: MediaServer | None = None) -> Starlette:
    server = server or MediaServer()
    app = Starlette(routes=[
        WebSocketRoute("/twilio/stream", server.twilio_stream),
        Route("/calls/{call_id}/control", server.control, methods=["POST"]),
        Route("/calls/{call_id}/prepare", server.prepare, methods=["POST"]),
        Route("/healthz", server.healthz, methods=["GET"]),
    ])
    app.state.media = server
    return app


def __getattr__(name: str):
    # ``uvicorn media.server:app`` builds the app on first access, not at import.
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(name)


async def serve(host: str, port: int) -> None:
    """Run uvicorn; SIGTERM drains: refuse new streams, wait for live calls, then exit."""
    import uvicorn

    from media.pipeline import preload

    preload()
    media = MediaServer()
    media.port = port
    config = uvicorn.Config(create_app(media), host=host, port=port, log_level="warning", ws="websockets",
                            # "websockets-sansio" (uvicorn's future default) measured busier at 50 calls (core 90% vs
                            # 85%, v2v p50 +6-15%; bench/media_latency.py): the legacy protocol stays while it exists.
                            # base64 audio barely compresses; a client offering deflate would make
                            # us compress every frame (~10% of the bot's CPU at 40 calls)
                            ws_per_message_deflate=False,
                            lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # we own SIGTERM / SIGINT
    loop = asyncio.get_running_loop()
    # Row reads/writes, key lookups and webhooks run in threads; the default pool (cpu + 4) is far too
    # small for hundreds of calls starting and ending together.
    from concurrent.futures import ThreadPoolExecutor

    loop.set_default_executor(ThreadPoolExecutor(max_workers=int(os.environ.get("MEDIA_THREADS", "64"))))

    async def drain() -> None:
        media.draining = True
        while media.sessions:
            await asyncio.sleep(0.5)
        server.should_exit = True

    def on_signal(sig: int) -> None:
        if sig == signal.SIGINT or media.draining:
            server.should_exit = True
        else:
            loop.create_task(drain())

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    await server.serve()


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    host = os.environ.get("MEDIA_HOST", "127.0.0.1")
    port = int(os.environ.get("MEDIA_PORT", "8765"))
    asyncio.run(serve(host, port))


if __name__ == "__main__":
    main()
