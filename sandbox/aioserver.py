"""Base for the async protocol fakes (WebSocket + streaming HTTP): an aiohttp app on its own event loop.

Each fake runs in a background thread with its own loop, so code under test (and sync SDKs) can
share the process without sharing the loop. ``start()`` / ``stop()`` / ``url`` / ``ws_url``; usable as
a context manager. Every fake also serves the registry endpoints (see ``sandbox.registry``).
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Self

from aiohttp import web

from sandbox.registry import REGISTRY, Registry

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AsyncFakeServer:
    name = "fake"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, registry: Registry | None = None,
                 connect_delay_ms: float = 0):
        self.host, self.port = host, port
        # Emulated TLS handshake + round trips: paid once per new TCP connection (its first request,
        # which for a WebSocket is the upgrade), never by later requests on a kept-alive connection.
        self.connect_delay_ms = connect_delay_ms
        self.connections: list[dict[str, Any]] = []  # per TCP connection: id, opened_at (monotonic), paths
        self._conn_of: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.registry = registry or REGISTRY
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self.lock = threading.RLock()
        self.requests: list[dict[str, Any]] = []  # method, path, query, headers (lower-case keys), body

    # -- subclass hooks ---------------------------------------------------------------------------
    def setup_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def on_shutdown(self) -> None:
        """Close open sockets; called on the fake's loop before the runner is cleaned up."""

    # -- helpers ------------------------------------------------------------------------------------
    @staticmethod
    def add_route(app: web.Application, method: str, path: str, handler: Handler) -> None:
        """Register ``path`` and its ``/sandbox/calls/{sandbox_call_id}`` prefixed twin."""
        app.router.add_route(method, path, handler)
        app.router.add_route(method, "/sandbox/calls/{sandbox_call_id}" + path, handler)

    @staticmethod
    def query_params(request: web.Request) -> dict[str, str]:
        """First value of each query parameter; tolerates a second ``?`` (a client appending
        ``?model=...`` to a base URL that already had a query, as Pipecat's xAI service does)."""
        from urllib.parse import parse_qsl

        return dict(reversed(parse_qsl(request.query_string.replace("?", "&"), keep_blank_values=True)))

    @staticmethod
    def call_id_from(request: web.Request, *query_names: str) -> str | None:
        """Call id from the path prefix, ``sandbox_call_id`` or the given query parameters."""
        cid = request.match_info.get("sandbox_call_id")
        if cid:
            return cid
        for name in (*query_names, "sandbox_call_id"):
            raw = request.query.get(name)
            if raw:
                # A client that appends "?model=..." to a base URL already holding a query yields
                # "id?model=..." here.
                return raw.split("?", 1)[0]
        return None

    def record(self, request: web.Request, body: Any = None) -> dict[str, Any]:
        entry = {"method": request.method, "path": request.path,
                 "query": {k: request.query.getall(k) for k in request.query.keys()},
                 "headers": {k.lower(): v for k, v in request.headers.items()}, "body": body}
        with self.lock:
            self.requests.append(entry)
        return entry

    async def _track_connection(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        conn = self._conn_of.get(transport) if transport is not None else None
        if conn is None:
            with self.lock:
                conn = {"id": len(self.connections) + 1, "opened_at": time.monotonic(), "paths": []}
                self.connections.append(conn)
            if transport is not None:
                self._conn_of[transport] = conn
            if self.connect_delay_ms:
                await asyncio.sleep(self.connect_delay_ms / 1000)
                if transport is not None and transport.is_closing():  # the client gave up mid-"handshake"
                    return web.Response(status=499)
        conn["paths"].append(request.path)
        return await handler(request)

    # -- registry endpoints ---------------------------------------------------------------------------
    async def _register(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            utterances = data["utterances"]
            if not isinstance(utterances, list) or not all(isinstance(u, str) for u in utterances):
                raise ValueError("utterances must be a list of strings")
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": "invalid_request", "message": str(exc)}, status=400)
        call_id = request.match_info["call_id"]
        self.registry.register(call_id, utterances, append=bool(data.get("append")))
        reg = self.registry.get(call_id)
        return web.json_response(reg.snapshot() if reg else {}, status=201)

    async def _get_registration(self, request: web.Request) -> web.Response:
        reg = self.registry.get(request.match_info["call_id"])
        if reg is None:
            return web.json_response({"error": "not_found"}, status=404)
        return web.json_response(reg.snapshot())

    async def _delete_registration(self, request: web.Request) -> web.Response:
        self.registry.remove(request.match_info["call_id"])
        return web.Response(status=204)

    # -- lifecycle ------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._start_error:
            raise RuntimeError(f"{self.name} fake failed to start") from self._start_error
        return self

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - surfaced by start()
            self._start_error = exc
            self._ready.set()
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        @web.middleware
        async def track(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._track_connection(request, handler)

        app = web.Application(client_max_size=32 * 1024 * 1024, middlewares=[track])
        app.router.add_post("/sandbox/calls/{call_id}/utterances", self._register)
        app.router.add_get("/sandbox/calls/{call_id}", self._get_registration)
        app.router.add_delete("/sandbox/calls/{call_id}", self._delete_registration)
        self.setup_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, shutdown_timeout=0.5)
        await site.start()
        server = site._server  # noqa: SLF001 - the only way to read an ephemeral port back
        if not isinstance(server, asyncio.Server):
            raise RuntimeError(f"{self.name}: the site started without a listening server")
        self.port = server.sockets[0].getsockname()[1]
        self._stopping = asyncio.Event()
        self._ready.set()
        await self._stopping.wait()
        try:
            await asyncio.wait_for(self.on_shutdown(), 2)
        except Exception:  # noqa: BLE001, S110 - best effort on the way out: the runner cleanup below still runs
            pass
        await self._runner.cleanup()

    def stop(self) -> None:
        if self.loop and self._stopping and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stopping.set)
        if self._thread:
            self._thread.join(10)
            self._thread = None

    def run_coro(self, coro: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        """Run a coroutine on the fake's loop from another thread and wait for its result."""
        if self.loop is None:
            raise RuntimeError(f"{self.name}: not started")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
