"""The media service: Twilio Media Streams and browser-call WebSockets, listeners, control endpoints, health.

Run locally with ``python -m media.server`` (MEDIA_HOST / MEDIA_PORT); on Fargate the container runs
the same. One asyncio process holds many calls. The handlers are thin: they check the request, then
hand over to the call (``media.call``) or the prepared-call registry (``media.prepared_calls``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from chalicelib.models.media import AmdVerdict, CommandEnvelope, PrepareCall, RunCaller
from chalicelib.security import verify_call_token, verify_control, verify_socket_token
from chalicelib.settings import SettingsRefused, get_settings
from media.call.session import CallSession
from media.controlplane import control_plane
from media.prepared_calls import PreparedCalls
from media.settings import StartupRefused, get_media_settings
from media.stats import Stats
from media.transports.relay import RELAY_HEADER, owner_monitor_url, relay_listener
from media.transports.twilio import StreamStart, read_start
from media.transports.web import WebTransport

if TYPE_CHECKING:
    import uvicorn

    from media.active_calls import ActiveCallsPublisher
    from media.protection import ScaleInProtection

log = logging.getLogger("voice.media.server")

M = TypeVar("M", CommandEnvelope, PrepareCall, RunCaller)

PENDING_AMD_MAX_AGE_SECONDS = 300.0
COMMAND_READY_WAIT_SECONDS = 3.0  # a command for a stream that just connected waits for its pipeline
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013  # RFC 6455: the server is overloaded


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


class MediaServer:
    """The process's live calls, prepared calls and early AMD verdicts."""

    def __init__(self) -> None:
        self.sessions: dict[str, CallSession] = {}
        self.prepared = PreparedCalls()
        self.pending_amd: dict[str, tuple[str, float]] = {}
        self.stats = Stats()
        self.draining = False
        self.port: int | None = None
        self.control_port: int | None = None
        # Resolved once at startup by ``serve`` (ECS metadata is a blocking HTTP read).
        self.advertised_url: str | None = None
        self.active_calls: ActiveCallsPublisher | None = None  # set by ``serve`` when the stack names the metric
        self.protection: ScaleInProtection | None = None  # set by ``serve`` on ECS (ECS_AGENT_URI)
        self._background: set[asyncio.Task[None]] = set()
        self.max_calls = get_media_settings().max_calls

    def _calls_changed(self) -> None:
        if self.active_calls is not None:
            self.active_calls.changed()
        if self.protection is not None:
            task = asyncio.get_running_loop().create_task(self.protection.update(len(self.sessions)))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    @property
    def load(self) -> int:
        """Live calls plus calls admitted at ring time whose stream has not started yet."""
        return len(self.sessions) + self.prepared.reserved()

    @property
    def ready(self) -> bool:
        """Can this process take one more call?"""
        return not self.draining and self.load < self.max_calls

    @property
    def control_base_url(self) -> str:
        """Where the control plane reaches this process for a call it holds."""
        if self.advertised_url:
            return self.advertised_url
        from media.advertise import control_base_url

        s = get_media_settings()
        return control_base_url(advertise_url=s.media_control_advertise_url, metadata_uri=None,
                                control_port=self.control_port or self.port or s.media_port)

    # --- Twilio stream -------------------------------------------------------------------------
    def _signature_ok(self, ws: WebSocket) -> bool:
        s = get_settings()
        public = get_media_settings().media_public_ws_url
        if not (s.twilio_auth_token and public):
            return True
        from twilio.request_validator import RequestValidator  # pyright: ignore[reportMissingTypeStubs] - untyped SDK

        signature = ws.headers.get("x-twilio-signature", "")
        validator = RequestValidator(s.twilio_auth_token)
        return bool(signature) and bool(validator.validate(public, {}, signature))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType] - untyped SDK

    async def twilio_stream(self, ws: WebSocket) -> None:
        """One call's Media Stream: check it, take its preparation, run the call."""
        if self.draining or not self._signature_ok(ws):
            self.stats.rejected += 1
            await ws.close(code=POLICY_VIOLATION)
            return
        if len(self.sessions) >= self.max_calls:
            # Admission happens at prepare and readiness; this is the last guard: one more call would
            # degrade every call here. Twilio ends the stream and goes on with the call's TwiML.
            self.stats.refused_streams += 1
            log.warning("stream refused: at capacity (%d calls)", len(self.sessions))
            await ws.accept()  # accepted only to say why: a close before the upgrade is a bare HTTP 403
            await ws.close(code=TRY_AGAIN_LATER)
            return
        await ws.accept()
        start = await read_start(ws)
        if start is None or start.call_id in self.sessions or not verify_call_token(
                get_settings().call_token_secret, start.token, start.call_id, start.org_id):
            self.stats.rejected += 1
            log.warning("stream rejected: bad or missing call token")
            await _close(ws)
            return
        session = CallSession(ws, start, control_url=self.control_base_url, stats=self.stats,
                              pending_amd=self._pending_amd(start.call_id))
        prepared = await self.prepared.take(start.call_id, start.org_id)
        self.sessions[start.call_id] = session
        self.stats.calls_total += 1
        self._calls_changed()
        try:
            await session.run(prepared)
        finally:
            self.sessions.pop(start.call_id, None)
            self._calls_changed()
            if prepared is not None:
                # A call that ended before its pipeline adopted the warm sockets: close them now, not at
                # the TTL (adopted sockets belong to the services, which closed them).
                await prepared.aclose()

    # --- browser calls and listeners (docs/web-calls.md) ------------------------------------------
    async def web_call(self, ws: WebSocket) -> None:
        """A browser call's socket: a valid token of this call, claimed once; then the same call loop."""
        call_id = ws.path_params["call_id"]
        org_id = verify_socket_token(get_settings().call_token_secret, "web", ws.query_params.get("token", ""), call_id)
        if len(self.sessions) >= self.max_calls and org_id is not None:
            # Browser calls count against capacity like phone calls; the token stays unclaimed for a retry.
            self.stats.refused_streams += 1
            await ws.accept()
            await ws.close(code=TRY_AGAIN_LATER)
            return
        if self.draining or org_id is None or call_id in self.sessions or not await asyncio.to_thread(
                control_plane().claim_web_call, org_id, call_id):
            self.stats.rejected += 1
            await ws.close(code=POLICY_VIOLATION)  # before accept: the handshake is refused (403)
            return
        await ws.accept()
        start = StreamStart(call_id=call_id, org_id=org_id, token="", stream_sid="", call_sid=None, account_sid=None)
        session = CallSession(ws, start, control_url=self.control_base_url, stats=self.stats,
                              transport=WebTransport())
        self.sessions[call_id] = session
        self.stats.calls_total += 1
        self._calls_changed()
        assert session.events.peer is not None  # noqa: S101 - a web transport always has its peer sink
        pump = asyncio.create_task(session.events.peer.pump(_sender(ws)))
        try:
            await session.run(None)
        finally:
            self.sessions.pop(call_id, None)
            self._calls_changed()
            pump.cancel()

    async def monitor(self, ws: WebSocket) -> None:
        """Listen in on a call this process holds: tagged audio of both sides and its JSON events."""
        call_id = ws.path_params["call_id"]
        org_id = verify_socket_token(get_settings().call_token_secret, "monitor", ws.query_params.get("token", ""),
                                     call_id)
        session = self.sessions.get(call_id)
        if org_id is not None and session is None and RELAY_HEADER not in ws.headers and await self._relay(
                ws, org_id, call_id):
            return
        if org_id is None or session is None or session.org_id != org_id:
            await ws.close(code=POLICY_VIOLATION)
            return
        await ws.accept()
        sink = session.events.listen()
        pump = asyncio.create_task(sink.pump(_sender(ws)))
        try:
            while not pump.done():  # read-only: anything the listener sends is ignored
                receive = asyncio.create_task(ws.receive())
                done, _ = await asyncio.wait({pump, receive}, return_when=asyncio.FIRST_COMPLETED)
                if receive in done and receive.result()["type"] == "websocket.disconnect":
                    break
                if receive not in done:
                    receive.cancel()
        finally:
            session.events.leave(sink)
            pump.cancel()
            await _close(ws, code=1000)

    async def _relay(self, ws: WebSocket, org_id: str, call_id: str) -> bool:
        """Another task holds the call: serve the listener from there (media/transports/relay.py)."""
        owner = await asyncio.to_thread(control_plane().live_call_owner, org_id, call_id)
        if owner is None or owner.rstrip("/") == self.control_base_url.rstrip("/"):
            return False
        self.stats.relayed_listeners += 1
        return await relay_listener(ws, owner_monitor_url(owner, call_id, ws.query_params.get("token", "")))

    def _pending_amd(self, call_id: str) -> str | None:
        pending = self.pending_amd.pop(call_id, None)
        if pending and time.monotonic() - pending[1] < PENDING_AMD_MAX_AGE_SECONDS:
            return pending[0]
        return None

    # --- control -----------------------------------------------------------------------------------
    async def _verified(self, request: Request, model: type[M]) -> M | JSONResponse:
        body = await request.body()
        ts = request.headers.get("x-control-timestamp", "")
        sig = request.headers.get("x-control-signature", "")
        if not verify_control(get_settings().media_control_secret, ts, body, sig):
            return _error(401, "unauthorized", "Bad control signature.")
        try:
            message = model.model_validate_json(body or b"{}")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return _error(400, "invalid_request", f"{where}: {first['msg']}" if where else first["msg"])
        if message.call_id != request.path_params["call_id"]:
            return _error(400, "invalid_request", "call_id does not match the path.")
        return message

    async def control(self, request: Request) -> JSONResponse:
        """A control command for a call this process holds."""
        envelope = await self._verified(request, CommandEnvelope)
        if isinstance(envelope, JSONResponse):
            return envelope
        command, call_id = envelope.command, envelope.call_id
        session = self.sessions.get(call_id)
        if session is not None and not session.ready.is_set():
            try:  # the stream just connected: the command waits for the pipeline (bounded)
                await asyncio.wait_for(session.ready.wait(), COMMAND_READY_WAIT_SECONDS)
            except TimeoutError:
                pass
        if session is None and isinstance(command, AmdVerdict):
            # Twilio's async AMD verdict can beat the media stream: keep it for the stream.
            self.pending_amd[call_id] = (command.answered_by, time.monotonic())
            return JSONResponse({"success": True, "message": "Command stored for the call"})
        if session is None or session.plan_or_none is None or envelope.org_id != session.org_id:
            return _error(404, "not_found", f"Call {call_id} is not live here.")
        if session.ending:
            return _error(400, "call_not_active", "The call is ending.")
        result = await session.control(command)
        if not result.success:
            return _error(400, result.error or "invalid_request", result.message or "bad command")
        return JSONResponse(result.model_dump(exclude_none=True))

    async def prepare(self, request: Request) -> JSONResponse:
        """Ring-time warm-up of a call about to be answered (best effort)."""
        message = await self._verified(request, PrepareCall)
        if isinstance(message, JSONResponse):
            return message
        if self.prepared.known(message.call_id) or message.call_id in self.sessions:
            return JSONResponse({"success": True, "status": "preparing"})
        if not self.ready:
            self.stats.refused_prepares += 1
            return _error(503, "capacity_exceeded", "This media task is at capacity or draining.")
        self.prepared.start(message.org_id, message.call_id, self.sessions.__contains__)
        return JSONResponse({"success": True, "status": "preparing"}, status_code=202)

    async def caller(self, request: Request) -> JSONResponse:
        """Run an eval's simulated caller on a web call's socket (``media.evalcaller``), in the background."""
        message = await self._verified(request, RunCaller)
        if isinstance(message, JSONResponse):
            return message
        if self.draining:
            return _error(503, "capacity_exceeded", "This media task is draining.")
        from media.evalcaller.runner import EvalCaller

        async def run() -> None:
            await EvalCaller.for_message(message).run()

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)  # held so the task is not collected mid-call
        task.add_done_callback(self._background.discard)
        return JSONResponse({"success": True, "status": "calling"}, status_code=202)

    async def healthz(self, request: Request) -> JSONResponse:
        """Liveness: 503 while draining."""
        status = "draining" if self.draining else "ok"
        return JSONResponse({"status": status, "active_calls": len(self.sessions)},
                            status_code=503 if self.draining else 200)

    async def readyz(self, request: Request) -> JSONResponse:
        """Readiness for new calls: 503 while draining or at capacity (live calls plus ring-time admissions)."""
        status = "draining" if self.draining else "ok" if self.ready else "full"
        return JSONResponse({"status": status, "active_calls": len(self.sessions), "reserved": self.prepared.reserved(),
                             "max_calls": self.max_calls}, status_code=200 if status == "ok" else 503)


def _sender(ws: WebSocket) -> Callable[[str | bytes], Awaitable[None]]:
    async def send(message: str | bytes) -> None:
        if isinstance(message, bytes):
            await ws.send_bytes(message)
        else:
            await ws.send_text(message)
    return send


async def _close(ws: WebSocket, code: int = POLICY_VIOLATION) -> None:
    try:
        await ws.close(code=code)
    except Exception:  # noqa: BLE001, S110 - already closed by the peer
        pass


def create_app(server: MediaServer | None = None, *, public: bool = True, control: bool = True) -> Starlette:
    """The media service's ASGI app: the public listener (streams), the control listener, or both on one."""
    server = server or MediaServer()
    routes: list[Route | WebSocketRoute] = []
    if public:
        routes += [WebSocketRoute("/twilio/stream", server.twilio_stream),
                   WebSocketRoute("/web/{call_id}", server.web_call),
                   WebSocketRoute("/monitor/{call_id}", server.monitor)]
    if control:
        routes += [Route("/calls/{call_id}/control", server.control, methods=["POST"]),
                   Route("/calls/{call_id}/prepare", server.prepare, methods=["POST"]),
                   Route("/calls/{call_id}/caller", server.caller, methods=["POST"])]
        if not public:  # where other tasks relay their listeners of this task's calls
            routes += [WebSocketRoute("/monitor/{call_id}", server.monitor)]
    routes += [Route("/healthz", server.healthz, methods=["GET"]), Route("/readyz", server.readyz, methods=["GET"])]
    app = Starlette(routes=routes)
    app.state.media = server
    return app


def _uvicorn_server(config: uvicorn.Config) -> uvicorn.Server:
    import uvicorn

    class DrainingServer(uvicorn.Server):
        """uvicorn without its own signal capture (since 0.29 its ``serve()`` installs SIGTERM/SIGINT
        handlers that stop it at once, cutting live calls): ours drain first."""

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    return DrainingServer(config)


async def serve(host: str, port: int, media: MediaServer | None = None, control_port: int | None = None) -> None:
    """Run uvicorn; SIGTERM drains: refuse new streams, wait for live calls, then exit.

    With a control port (argument, else MEDIA_CONTROL_PORT; 0 = none) prepare and commands are served
    on their own listener, reachable from the Lambdas only, and not on the public stream port.
    """
    import uvicorn

    from media.advertise import control_base_url
    from media.pipeline.build import preload

    s = get_media_settings()
    problem = s.startup_error(twilio_account_sid=get_settings().twilio_account_sid,
                              twilio_auth_token=get_settings().twilio_auth_token)
    if problem:
        raise StartupRefused(problem)
    control_port = s.media_control_port if control_port is None else control_port
    preload()
    media = media or MediaServer()
    media.port = port
    media.control_port = control_port or port
    media.advertised_url = await asyncio.to_thread(
        control_base_url, advertise_url=s.media_control_advertise_url,
        metadata_uri=s.ecs_container_metadata_uri_v4, control_port=media.control_port)
    log.info("control address advertised on calls: %s", media.advertised_url)
    background: list[asyncio.Task[None]] = []
    if s.active_calls_metric_namespace and s.active_calls_metric_name and s.active_calls_metric_service:
        from media.active_calls import ActiveCallsPublisher

        media.active_calls = ActiveCallsPublisher(
            namespace=s.active_calls_metric_namespace, name=s.active_calls_metric_name,
            service=s.active_calls_metric_service, count=media.sessions.__len__)
        background.append(asyncio.create_task(media.active_calls.run()))
    if s.ecs_agent_uri:
        from media.protection import ScaleInProtection

        media.protection = ScaleInProtection(s.ecs_agent_uri)
    config = uvicorn.Config(create_app(media, control=not control_port), host=host, port=port, log_level="warning",
                            ws="websockets",
                            # "websockets-sansio" (uvicorn's future default) measured busier at 50 calls (core 90% vs
                            # 85%, v2v p50 +6-15%; bench/media_latency.py): the legacy protocol stays while it exists.
                            # base64 audio barely compresses; a client offering deflate would make
                            # us compress every frame (~10% of the bot's CPU at 40 calls)
                            ws_per_message_deflate=False,
                            lifespan="off")
    server = _uvicorn_server(config)  # we own SIGTERM / SIGINT
    servers = [server]
    if control_port:
        servers.append(_uvicorn_server(uvicorn.Config(create_app(media, public=False), host=host, port=control_port,
                                                      log_level="warning", lifespan="off")))
    loop = asyncio.get_running_loop()
    # Row reads/writes, key lookups and webhooks run in threads; the default pool (cpu + 4) is far too
    # small for hundreds of calls starting and ending together.
    loop.set_default_executor(ThreadPoolExecutor(max_workers=s.media_threads))

    async def drain() -> None:
        media.draining = True
        while media.sessions:  # noqa: ASYNC110 - polls the live session map; no event to await
            await asyncio.sleep(0.5)
        stop()

    def stop() -> None:
        for each in servers:
            each.should_exit = True

    def on_signal(sig: int) -> None:
        if sig == signal.SIGINT or media.draining:
            stop()
        else:
            loop.create_task(drain())

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await asyncio.gather(*(each.serve() for each in servers))
    finally:
        for task in background:
            task.cancel()


def main() -> None:
    """``python -m media.server``."""
    s = get_media_settings()
    logging.basicConfig(level=s.log_level)
    try:
        asyncio.run(serve(s.media_host, s.media_port))
    except (StartupRefused, SettingsRefused) as exc:  # settings or ECS metadata: say why, exit non-zero
        raise SystemExit(f"media service not started: {exc}") from exc


if __name__ == "__main__":
    main()
