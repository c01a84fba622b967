"""Ring-time provider warm-up: connections opened while the phone rings, handed to the call.

- **LLM** (OpenAI-compatible: openai, xai, mistral): every call's service shares one pooled HTTP client
  per event loop (Pipecat builds a new client per service: ~20 ms of TLS-context setup on the loop at
  each call start, and a fresh TCP+TLS connection on each call's first request). Prepare sends
  ``GET {base}/models`` through the pool (twice, concurrently, with speculative replies on: a withdrawn
  guess overlaps the real request), so the call's first completions reuse open connections.
  The pool is keyed by loop only: httpx pools per origin, and the API key travels on each request, so
  one kept-alive connection serves every org's key.
- **STT** (Deepgram live) and **TTS** (ElevenLabs multi-stream-input): the call's service is built at
  prepare time and its own client opens the WebSocket with exactly the URL, query and key it would use
  at pipeline start; KeepAlive goes out while the phone rings (Deepgram drops a socket after 10 s
  without audio or KeepAlive, ElevenLabs after 20 s without text). When the pipeline starts, the
  service adopts that socket instead of connecting. A socket no call adopted is closed by
  ``Warm.aclose`` (the prepared TTL in ``media.server``), or at once when the call takes other services.
- **Speech-to-speech** (xAI realtime): the call's realtime service is built at prepare time and its
  socket opened with the service's own URL (model in the query) and key. While ringing a reader drains
  the socket (xAI's ``ping`` events are dropped; ``conversation.created`` is kept) so nothing backs up;
  at pipeline start the service adopts the socket and the kept events are replayed to it, so it sends
  its ``session.update`` on ``conversation.created`` as if it had just connected. xAI needs no client
  keep-alive (the websockets client's protocol pings keep the connection alive).

Nothing here is required for a call to work: any warm-up that fails leaves the call to connect at
pipeline start, as without prepare.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

log = logging.getLogger("voice.media.warm")

KEEPALIVE_SECONDS = 5.0  # Deepgram's own advice is 3-5 s (it closes after 10 s idle); ElevenLabs idles out at 20 s
CONNECT_TIMEOUT_SECONDS = 3.0  # the stream waits at most 2 s for a prepare in flight
LLM_KEEPALIVE_EXPIRY_SECONDS = 180.0  # as long as a prepared call may take to be answered

# --- one pooled HTTP client per event loop (LLM, greeting synthesis) -----------------------------------------
_POOLS: dict[asyncio.AbstractEventLoop, Any] = {}


def shared_http_client() -> Any | None:
    """The running loop's shared keep-alive HTTP client (None outside a loop): OpenAI-compatible LLM APIs
    and the greeting's ElevenLabs HTTP synthesis, so calls reuse open connections."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    client = _POOLS.get(loop)
    if client is None:
        for old in [lp for lp in _POOLS if lp.is_closed()]:  # tests run many loops in one process
            _POOLS.pop(old, None)
        from openai import DefaultAsyncHttpxClient
        from pipecat.utils.http import connection_limits

        client = DefaultAsyncHttpxClient(limits=connection_limits(
            max_keepalive_connections=200, max_connections=1000, keepalive_expiry=LLM_KEEPALIVE_EXPIRY_SECONDS))
        _POOLS[loop] = client
    return client


class _PooledClient:
    """Mixin for Pipecat's OpenAI-compatible LLM services: the AsyncOpenAI client uses the shared pool."""

    def create_client(self, api_key=None, base_url=None, organization=None, project=None, default_headers=None,
                      **kwargs):
        http = shared_http_client()
        if http is None:  # built outside a loop (config mapping): Pipecat's own per-service client
            return super().create_client(api_key=api_key, base_url=base_url, organization=organization,  # type: ignore[misc]
                                         project=project, default_headers=default_headers, **kwargs)
        from openai import AsyncOpenAI

        return AsyncOpenAI(api_key=api_key, base_url=base_url, organization=organization, project=project,
                           http_client=http, default_headers=default_headers)


@cache
def pooled_llm_class(cls: type) -> type:
    """``cls`` with the shared pool. Same class name: Pipecat names processors after it (logs, error
    routing by name)."""
    return type(cls.__name__, (_PooledClient, cls), {"__module__": __name__, "__doc__": cls.__doc__})


def llm_connections() -> int:
    """Connections to warm per call: a speculative reply that is withdrawn overlaps the real one (and a
    cancelled stream's connection is closed, not pooled), so with speculation a turn may need two."""
    speculate = os.environ.get("MEDIA_SPECULATIVE_REPLIES", "true").lower() in ("1", "true", "yes", "on")
    return 2 if speculate else 1


async def _warm_llm(llm: Any) -> bool:
    """Open pooled connections to the LLM's API with cheap concurrent requests; any HTTP answer will do."""
    import openai

    client = llm._client.with_options(max_retries=0, timeout=CONNECT_TIMEOUT_SECONDS)

    async def one() -> None:
        try:
            await client.models.list()
        except openai.APIStatusError:
            pass  # an error status still came over a connection that is now open and pooled

    try:
        await asyncio.gather(*(one() for _ in range(llm_connections())))
    except Exception as exc:  # down or slow: the call connects on its first request, as without prepare
        log.info("ring-time LLM warm-up failed: %s", type(exc).__name__)
        return False
    return True


# --- provider WebSockets held while the phone rings ---------------------------------------------------------
def _is_open(ws: Any) -> bool:
    return getattr(getattr(ws, "state", None), "name", "") == "OPEN"


class HeldSocket:
    """One provider WebSocket opened at ring time, kept alive until a call's service adopts it.

    A task holds the connection's context open (entered and exited in one task), sends KeepAlive while
    ringing, and after adoption waits until the service lets go (or the socket closes).
    """

    def __init__(self, name: str, opener: Callable[[], contextlib.AbstractAsyncContextManager],
                 ws_of: Callable[[Any], Any], keepalive: Callable[[Any], Awaitable[None]],
                 goodbye: Callable[[Any], Awaitable[None]]):
        self.name = name
        self._opener, self._ws_of, self._keepalive, self._goodbye = opener, ws_of, keepalive, goodbye
        self.conn: Any = None
        self.adopted = False
        self.keepalives = 0
        self._closing = False
        self._opened = asyncio.Event()  # open, or failed
        self._wake = asyncio.Event()
        self._released = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._hold(), name=f"warm-{name}")

    async def wait_open(self, timeout: float = CONNECT_TIMEOUT_SECONDS) -> bool:
        try:
            await asyncio.wait_for(self._opened.wait(), timeout)
        except TimeoutError:
            await self.aclose()
        return self.conn is not None

    async def _hold(self) -> None:
        try:
            async with self._opener() as conn:
                self.conn = conn
                self._opened.set()
                while not (self._closing or self.adopted):
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        await self._keepalive(conn)
                        self.keepalives += 1
                if self.adopted:
                    closed = asyncio.ensure_future(self._ws_of(conn).wait_closed())
                    released = asyncio.ensure_future(self._released.wait())
                    try:
                        await asyncio.wait({closed, released}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        closed.cancel()
                        released.cancel()
                else:
                    await self._goodbye(conn)
        except Exception as exc:  # refused, rejected or dropped: the call connects by itself
            log.info("ring-time %s socket: %s", self.name, type(exc).__name__)
        finally:
            self.conn = None
            self._opened.set()

    def adopt(self) -> Any | None:
        """The open connection, handed over once; None if it is gone (the service connects itself)."""
        conn = self.conn
        if conn is None or self.adopted or self._closing or not _is_open(self._ws_of(conn)):
            return None
        self.adopted = True
        self._wake.set()
        return conn

    async def release(self) -> None:
        """The adopting service is done with the connection: close it."""
        self._released.set()
        await asyncio.wait({self.task}, timeout=10.0)  # the close handshake (never raises)

    def close_soon(self) -> None:
        if not self.adopted:
            self._closing = True
            self._wake.set()

    async def aclose(self) -> None:
        """Close the socket unless a service adopted it (the service closes what it adopted)."""
        if self.adopted:
            return
        self.close_soon()
        if not self._opened.is_set():
            self.task.cancel()  # still connecting
        await asyncio.wait({self.task}, timeout=3.0)


def _hold_deepgram(stt: Any) -> HeldSocket:
    """Open the Deepgram service's socket now; its first connect at pipeline start adopts it."""
    v1 = stt._client.listen.v1
    real = v1.connect
    kwargs = stt._build_connect_kwargs()
    # The service learns its rate at setup (the rate it was built with, else the pipeline's); build_stt
    # always passes one, so this is what its own connect will ask for.
    kwargs["sample_rate"] = str(stt._init_sample_rate)
    held = HeldSocket("deepgram", lambda: real(**kwargs), lambda conn: conn._websocket,
                      lambda conn: conn.send_keep_alive(), lambda conn: conn.send_close_stream())

    @contextlib.asynccontextmanager
    async def connect(**connect_kwargs: Any) -> AsyncIterator[Any]:
        conn = held.adopt() if connect_kwargs == kwargs else None
        if conn is None:  # reconnects, changed settings, or the ring-time socket is gone
            async with real(**connect_kwargs) as fresh:
                yield fresh
            return
        try:
            yield conn
        finally:
            await held.release()

    # Pipecat's DeepgramSTTService connects only through ``self._client.listen.v1.connect`` (the SDK
    # caches that sub-client per client, and the client is this service's own).
    v1.connect = connect
    return held


def _hold_elevenlabs(tts: Any) -> HeldSocket:
    """Open the ElevenLabs service's multi-stream socket now (same URL and key as its own connect)."""
    url = tts._build_websocket_url()

    @contextlib.asynccontextmanager
    async def opener() -> AsyncIterator[Any]:
        ws = await tts._websocket_connect(url, max_size=16 * 1024 * 1024,
                                          additional_headers={"xi-api-key": tts._api_key})
        try:
            yield ws
        finally:
            await ws.close()

    held = HeldSocket("elevenlabs", opener, lambda ws: ws, lambda ws: ws.send(json.dumps({"text": ""})),
                      lambda ws: ws.send(json.dumps({"close_socket": True})))
    tts._ring_socket = held
    return held


def adopt_socket(service: Any) -> Any | None:
    """For a service's own connect: the socket opened at ring time, if it is still open."""
    held: HeldSocket | None = getattr(service, "_ring_socket", None)
    service._ring_socket = None
    return held.adopt() if held is not None else None


def _event_type(message: Any) -> str | None:
    try:
        event = json.loads(message)
    except (TypeError, ValueError):
        return None
    return event.get("type") if isinstance(event, dict) else None


class _RingRealtime:
    """An xAI realtime socket opened at ring time, drained by a reader until a service adopts it."""

    MAX_KEPT = 64  # events kept for the service (conversation.created); pings are dropped

    def __init__(self, ws: Any):
        self.ws = ws
        self.kept: list[Any] = []
        self.greeted: dict[str, Any] | None = None  # set up and greeted at ring time (realtime_greeting)
        self.reader = self._start_reader()

    def _start_reader(self) -> asyncio.Task:
        return asyncio.get_running_loop().create_task(self._read(), name="warm-xai-reader")

    async def _stop_reader(self) -> None:
        self.reader.cancel()
        await asyncio.wait({self.reader})

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if _event_type(message) == "ping":
                    continue
                if len(self.kept) < self.MAX_KEPT:
                    self.kept.append(message)
        except Exception:  # closed by the server: the adopting service sees a closed socket
            pass

    async def handover(self) -> _ReplaySocket:
        """Stop reading (``recv`` is cancel-safe: no message is lost) and give the socket to the service."""
        await self._stop_reader()
        return _ReplaySocket(self.ws, self.kept)

    async def greet(self, llm: Any, plan: Any) -> bytes:
        """Set the session up as the service would and have the model say the first message now.

        The service's own code builds every event (with ``llm`` pointed at this socket for the
        duration): ``session.update``, the context's items, then ``response.create``. Returns the
        greeting's mu-law audio once ``response.done`` (completed) arrived.
        """
        from pipecat.processors.aggregators.llm_context import LLMContext
        from pipecat.services.xai.realtime import events

        from media.pipeline import initial_messages, tools_schema

        await self._stop_reader()
        try:
            schema = tools_schema(plan)
            messages = initial_messages(plan)
            context = LLMContext(messages, tools=schema) if schema else LLMContext(messages)
            conversation_id = None
            for message in self.kept:  # conversation.created, read by the reader since the socket opened
                if _event_type(message) == "conversation.created":
                    conversation_id = (json.loads(message).get("conversation") or {}).get("id") or ""
            self.kept.clear()
            while conversation_id is None:  # xAI's first event: set nothing up before it
                event = json.loads(await self.ws.recv())
                if event.get("type") == "conversation.created":
                    conversation_id = (event.get("conversation") or {}).get("id") or ""
            llm._websocket, llm._context = self.ws, context
            try:
                await llm._send_session_update()
                params = await llm.get_llm_adapter().get_llm_invocation_params(context)
                for item in params["messages"]:
                    await llm.send_client_event(events.ConversationItemCreateEvent(item=item))
                await llm.send_client_event(events.ResponseCreateEvent(
                    response=events.ResponseProperties(modalities=["text", "audio"])))
            finally:
                llm._websocket = None
            audio, ready, transcript = bytearray(), False, None
            while True:
                event = json.loads(await self.ws.recv())
                kind = event.get("type")
                if kind == "session.updated":
                    ready = True
                elif kind == "response.output_audio.delta":
                    audio += base64.b64decode(event.get("delta") or "")
                elif kind == "response.output_audio_transcript.done":
                    transcript = event.get("transcript")
                elif kind == "error":
                    raise RuntimeError(f"xAI error: {(event.get('error') or {}).get('code')}")
                elif kind == "response.done":
                    status = (event.get("response") or {}).get("status")
                    if status != "completed" or not ready or not audio:
                        raise RuntimeError(f"greeting response {status}")
                    break
            self.greeted = {"conversation_id": conversation_id, "context": context, "transcript": transcript}
            return bytes(audio)
        finally:
            if self.ws.state.name != "CLOSED":
                self.reader = self._start_reader()  # drain pings again until the call adopts the socket


class _ReplaySocket:
    """The adopted socket as the service sees it: the events read while ringing come first."""

    def __init__(self, ws: Any, kept: list[Any]):
        self._ws, self._kept = ws, list(kept)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        while self._kept:
            yield self._kept.pop(0)
        async for message in self._ws:
            yield message


def realtime_uri(llm: Any) -> str:
    """The URL the realtime service connects to (as Pipecat's ``_connect`` builds it)."""
    from urllib.parse import quote

    return f"{llm.base_url}?model={quote(llm._settings.model, safe='')}"


def _hold_realtime(llm: Any) -> HeldSocket:
    """Open the xAI realtime service's socket now; its connect at pipeline start adopts it."""
    from websockets.asyncio.client import connect as websocket_connect

    uri, headers = realtime_uri(llm), {"Authorization": f"Bearer {llm.api_key}"}

    @contextlib.asynccontextmanager
    async def opener() -> AsyncIterator[_RingRealtime]:
        ws = await websocket_connect(uri=uri, additional_headers=headers, compression=None)  # as services.py
        ring = _RingRealtime(ws)
        try:
            yield ring
        finally:
            if not ring.reader.done():
                ring.reader.cancel()
            await ws.close()

    async def nothing(_ring: Any) -> None:
        return None

    held = HeldSocket("xai-realtime", opener, lambda ring: ring.ws, nothing, nothing)
    held.uri = uri  # type: ignore[attr-defined]
    llm._ring_socket = held
    return held


async def adopt_realtime(llm: Any) -> Any | None:
    """For the realtime service's connect: the ring-time socket (events read so far replayed first),
    or None (connect as usual) when there is none, it is gone, or the service's URL changed.

    A session greeted at ring time is handed over set up: ready, its conversation (system prompt,
    history, opening instruction, the spoken greeting) already on the server, so the service must
    neither set it up again nor create a response for the call's context (``media.session`` gives it
    the call's context without asking for a reply, and records the greeting once, as for cascade)."""
    held: HeldSocket | None = getattr(llm, "_ring_socket", None)
    llm._ring_socket = None
    if held is None:
        return None
    if getattr(held, "uri", None) != realtime_uri(llm):
        held.close_soon()
        return None
    ring = held.adopt()
    if ring is None:
        return None
    if ring.greeted is not None:
        llm._api_session_ready = True
        llm._llm_needs_conversation_setup = False
        llm._conversation_id = ring.greeted["conversation_id"]
        llm._context = ring.greeted["context"]  # replaced by the call's context at pipeline start
    return await ring.handover()


GREETING_TIMEOUT_SECONDS = 8.0


async def realtime_greeting(warm: Warm | None, plan: Any) -> bytes | None:
    """The first message generated at ring time on the held realtime session, as mu-law 8 kHz (the
    session's output format), or None: no socket, no first message, voicemail detection on (the
    greeting waits for a human, and the model must not remember a greeting a machine never heard),
    or generation failed. A failure closes the socket: its conversation state is unknown, so the call
    builds and connects its own service and the model greets at answer, as without prepare.

    Outbound calls only: the whole greeting must be generated before prepare is done, which fits in
    an outbound call's ringing; an inbound stream starts moments after the webhook answered, and would
    wait for it (at most 2 s, then connect cold) instead of hearing the model's greeting as it streams."""
    if warm is None or not plan.realtime or not plan.first_message or plan.voicemail_detection \
            or plan.direction != "outbound":
        return None
    held, llm = warm.held.get("llm"), warm.services.get("llm")
    ring = held.conn if held is not None else None
    if llm is None or ring is None:
        return None
    try:
        return await asyncio.wait_for(ring.greet(llm, plan), GREETING_TIMEOUT_SECONDS)
    except Exception as exc:
        log.info("ring-time realtime greeting failed: %s", type(exc).__name__)
        warm.services.pop("llm", None)
        await held.aclose()
        return None


async def _warm_realtime(plan: Any, keys: dict[str, tuple[str, bool]]) -> Warm | None:
    from media.services import build_realtime

    warm = Warm()
    try:
        llm = build_realtime(plan, keys["llm"][0])
        warm.held["llm"] = _hold_realtime(llm)
        warm.services["llm"], warm.keys["llm"] = llm, keys["llm"][0]
    except Exception:  # a config the call itself will reject with a reason
        log.exception("ring-time warm-up: building the realtime service failed")
        await warm.aclose()
        return None
    if not await warm.held["llm"].wait_open():
        warm.services.pop("llm", None)  # failed: the call builds and connects its own
    return warm


# --- one call's warm-up ---------------------------------------------------------------------------------------
@dataclass
class Warm:
    """What prepare built and opened for one call: services by pipeline slot, with the key each used."""

    services: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    held: dict[str, HeldSocket] = field(default_factory=dict)
    llm_warm: bool = False
    taken: set[str] = field(default_factory=set)

    def take(self, kind: str, key: str) -> Any | None:
        """The prepared service for a slot if it was built with this key (else the call builds its own)."""
        service = self.services.pop(kind, None)
        if service is None or self.keys.get(kind) != key:
            return None
        self.taken.add(kind)
        return service

    def discard_rest(self) -> None:
        """The call has its services: close sockets held for services it did not take."""
        self.services.clear()
        for kind, held in self.held.items():
            if kind not in self.taken:
                held.close_soon()

    async def aclose(self) -> None:
        self.services.clear()
        await asyncio.gather(*(h.aclose() for h in self.held.values()))


async def warm_up(plan: Any) -> Warm | None:
    """Build the call's services and open their connections (never raises; None when nothing applies)."""
    from media.services import build_llm, build_stt, build_tts, resolve_keys

    try:
        keys = await asyncio.to_thread(resolve_keys, plan)
    except Exception as exc:
        log.info("ring-time warm-up: keys unavailable (%s)", type(exc).__name__)
        return None
    if plan.realtime:
        return await _warm_realtime(plan, keys)
    warm = Warm()
    waits: list[Awaitable[Any]] = []
    try:
        llm = build_llm(plan, keys["llm"][0])
        if isinstance(llm, _PooledClient):
            warm.services["llm"], warm.keys["llm"] = llm, keys["llm"][0]
            waits.append(_warm_llm(llm))
        stt_provider, tts_provider = plan.stt.get("provider"), plan.tts.get("provider")
        if stt_provider == "deepgram":
            stt = build_stt(plan, keys["stt"][0])
            if not stt._init_sample_rate:
                raise ValueError("STT built without a sample rate")
            warm.held["stt"] = _hold_deepgram(stt)
            warm.services["stt"], warm.keys["stt"] = stt, keys["stt"][0]
        if tts_provider == "elevenlabs":
            tts = build_tts(plan, keys["tts"][0])
            warm.held["tts"] = _hold_elevenlabs(tts)
            warm.services["tts"], warm.keys["tts"] = tts, keys["tts"][0]
    except Exception:  # a config the call itself will reject with a reason
        log.exception("ring-time warm-up: building services failed")
        await warm.aclose()
        return None
    results = await asyncio.gather(*waits, *(h.wait_open() for h in warm.held.values()))
    warm.llm_warm = bool(waits) and bool(results[0])
    for kind, held in warm.held.items():
        if held.conn is None:  # failed: the call builds and connects its own
            warm.services.pop(kind, None)
    return warm
