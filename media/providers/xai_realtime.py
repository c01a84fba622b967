"""xAI realtime (speech-to-speech): one service instead of STT, LLM and TTS; warmable and able to greet
at ring time.

``MulawGrokRealtimeLLMService`` speaks G.711 mu-law both ways (Twilio's bytes go to xAI as they came,
xAI's bytes come back as they came), passes only whole 40 ms chunks to the output transport, speaks
exact text on demand (``say_exact``: realtime mode has no TTS stage), and implements
:class:`~media.providers.base.RingTimeWarmable` and :class:`~media.providers.base.RingTimeGreeter`:
its socket is opened while the phone rings (the service's own URL, model in the query, and key) and
adopted by its ``_connect``; a session greeted at ring time is handed over set up.
"""

from __future__ import annotations

import asyncio
import audioop  # stdlib in 3.11; mu-law <-> linear16 is exact
import base64
import contextlib
import time
from collections.abc import AsyncGenerator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pipecat.frames.frames import LLMFullResponseStartFrame, TTSTextFrame
from pipecat.services.xai.realtime import events
from pipecat.services.xai.realtime import llm as pipecat_xai_realtime
from pipecat.services.xai.realtime.llm import GrokRealtimeLLMService
from pipecat.utils.text.base_text_aggregator import TextType

from chalicelib.settings import get_settings
from media.providers.base import SAMPLE_RATE, without_deflate, ws_url
from media.providers.ringtime import HeldSocket
from media.providers.xai_ring import RingRealtimeSocket

if TYPE_CHECKING:
    from pipecat.frames.frames import InputAudioRawFrame
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.frame_processor import FrameDirection
    from websockets.asyncio.client import ClientConnection

    from media.plan import CallPlan, ToolSpec

SAY_PREFIX = "Say exactly the following text, word for word, and nothing else:"


def say_instructions(text: str) -> str:
    """Per-response instructions that make the realtime model speak ``text`` verbatim."""
    return f'{SAY_PREFIX} "{text}"'


def realtime_tools(tools: list[ToolSpec]) -> list[events.GrokTool]:
    """The plan's tools as xAI realtime function tools."""
    return [{"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}
            for t in tools]


class MulawGrokRealtimeLLMService(GrokRealtimeLLMService):
    """G.711 mu-law both ways: Twilio's bytes go to xAI as they came, xAI's bytes go back as they came.

    Pipecat's service forwards the pipeline's linear16 unchanged even when the session says
    ``audio/pcmu``; our pipeline is 8 kHz linear16 decoded from mu-law, so re-encoding restores the
    exact wire bytes (the mu-law <-> linear16 table round-trips).
    """

    _ring_socket: HeldSocket[RingRealtimeSocket] | None = None  # opened by hold_ring_connection
    _ring_uri: str | None = None  # the URL it was opened with
    _websocket: ClientConnection | None  # Pipecat's connection (None while not connected)

    def __init__(self, *, first_message: str | None = None, **kwargs: Any) -> None:
        """``first_message``: the call's greeting, so a context that ends with it counts as greeted."""
        super().__init__(**kwargs)  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self._first_message = first_message

    def connect_uri(self) -> str:
        """The URL the service connects to (as Pipecat's ``_connect`` builds it: model in the query)."""
        model = self._settings.model
        if not isinstance(model, str):  # the service is built with a model (Pipecat asserts the same)
            raise ValueError("realtime service without a model")
        return f"{self.base_url}?model={quote(model, safe='')}"

    # --- ring time: open the socket now, adopt it at pipeline start ----------------------------------------
    def hold_ring_connection(self) -> HeldSocket[RingRealtimeSocket]:
        """Open the service's socket now; its connect at pipeline start adopts it."""
        from websockets.asyncio.client import connect as websocket_connect

        uri, headers = self.connect_uri(), {"Authorization": f"Bearer {self.api_key}"}

        @contextlib.asynccontextmanager
        async def opener() -> AsyncGenerator[RingRealtimeSocket]:
            ws = await websocket_connect(uri=uri, additional_headers=headers, compression=None)  # as build_llm
            ring = RingRealtimeSocket(ws)
            try:
                yield ring
            finally:
                if not ring.reader.done():
                    ring.reader.cancel()
                await ws.close()

        async def nothing(_ring: RingRealtimeSocket) -> None:
            return None

        held = HeldSocket("xai-realtime", opener, lambda ring: ring.ws, nothing, nothing)
        self._ring_socket, self._ring_uri = held, uri
        return held

    async def adopt_ring_connection(self) -> ClientConnection | None:
        """For the service's own connect: the ring-time socket (events read so far replayed first),
        or None (connect as usual) when there is none, it is gone, or the service's URL changed.

        A session greeted at ring time is handed over set up: ready, its conversation (system prompt,
        history, opening instruction, the spoken greeting) already on the server, so the service must
        neither set it up again nor create a response for the call's context (the call gives it its
        context without asking for a reply, and records the greeting once, as for cascade)."""
        held, self._ring_socket = self._ring_socket, None
        if held is None:
            return None
        if self._ring_uri != self.connect_uri():
            held.close_soon()
            return None
        ring = held.adopt()
        if ring is None:
            return None
        if ring.greeted is not None:
            self._api_session_ready = True
            self._llm_needs_conversation_setup = False
            self._conversation_id = ring.greeted.conversation_id
            self._context = ring.greeted.context  # replaced by the call's context at pipeline start
        return await ring.handover()

    async def _connect(self) -> None:
        websocket = await self.adopt_ring_connection() if self._websocket is None else None
        if websocket is None:
            await super()._connect()
            return
        # Opened at ring time with this service's URL and key; conversation.created, read while the
        # phone rang, is replayed first, so the session.update goes out as on a fresh connect.
        self._websocket = websocket
        self._receive_task = self.create_task(self._receive_task_handler())  # pyright: ignore[reportUnknownMemberType] - Pipecat's create_task returns Task[Unknown]

    async def greet_at_ring_time(self, context: LLMContext) -> bytes:
        """Set the held session up as the service would and have the model say the first message now.

        The service's own code builds every event (pointed at the held socket for the duration):
        ``session.update``, the context's items, then ``response.create``. Returns the greeting's
        mu-law audio; raises when there is no held socket or generation failed.
        """
        ring = self._ring_socket.conn if self._ring_socket is not None else None
        if ring is None:
            raise RuntimeError("no ring-time socket")

        async def send_setup(ws: ClientConnection) -> None:
            self._websocket, self._context = ws, context
            try:
                await self._send_session_update()
                params = await self.get_llm_adapter().get_llm_invocation_params(context)
                for item in params["messages"]:
                    await self.send_client_event(events.ConversationItemCreateEvent(item=item))
                await self.send_client_event(events.ResponseCreateEvent(
                    response=events.ResponseProperties(modalities=["text", "audio"])))
            finally:
                self._websocket = None

        return await ring.greet(context, send_setup)

    # --- a greeting already spoken (generated at ring time, played from memory at answer) -------------------
    _setup_when_ready = False

    def _greeting_spoken(self, context: LLMContext) -> bool:
        """Does the call's context end with the first message, recorded as already said?"""
        messages = context.get_messages()
        last = messages[-1] if messages else None
        return bool(self._first_message) and isinstance(last, dict) and last.get("role") == "assistant" \
            and last.get("content") == self._first_message

    async def _handle_context(self, context: LLMContext, direction: FrameDirection) -> None:
        if self._context is None and self._greeting_spoken(context):
            # The ring-time session is gone (dropped, or another key): this fresh one gets the
            # conversation, greeting included, and no response; the caller heard the greeting.
            self._context = context
            await self._process_completed_function_calls(send_new_results=False)
            if self._api_session_ready:
                await self._setup_conversation()
            else:
                self._setup_when_ready = True
            return
        # A session greeted at ring time holds a context of its own until this one replaces it;
        # a downstream context frame asks for no response (Pipecat's rule).
        await super()._handle_context(context, direction)

    async def _setup_conversation(self) -> None:
        if not self._llm_needs_conversation_setup:
            return
        assert self._context is not None  # noqa: S101 - every caller sets the context first
        params = await self.get_llm_adapter().get_llm_invocation_params(self._context)
        for item in params["messages"]:
            evt = events.ConversationItemCreateEvent(item=item)
            self._messages_added_manually[evt.item.id] = True  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped dict
            await self.send_client_event(evt)
        await self._send_session_update()
        self._llm_needs_conversation_setup = False

    async def _handle_evt_session_updated(self, evt: events.SessionUpdatedEvent) -> None:
        await super()._handle_evt_session_updated(evt)  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped evt parameter
        if self._setup_when_ready:
            self._setup_when_ready = False
            await self._setup_conversation()

    async def _send_user_audio(self, frame: InputAudioRawFrame) -> None:
        if not self._api_session_ready:
            return
        payload = base64.b64encode(audioop.lin2ulaw(frame.audio, 2)).decode()
        await self.send_client_event(events.InputAudioBufferAppendEvent(audio=payload))

    # The output transport cuts audio into 40 ms chunks and, when one response's TTSStoppedFrame is
    # played, discards a partial chunk still buffered: the start of the next response when it
    # arrived during playout (a fixed line right after a reply, a reply right after a filler).
    # Passing whole chunks only (the tail padded with silence at the end of the audio) leaves it
    # nothing to discard.
    _ALIGN = SAMPLE_RATE * 2 * 40 // 1000  # bytes of 40 ms linear16 (transport default chunk)
    _held = b""

    async def _handle_evt_audio_delta(self, evt: events.ResponseAudioDelta) -> None:
        pcm = self._held + audioop.ulaw2lin(base64.b64decode(evt.delta), 2)
        cut = len(pcm) - len(pcm) % self._ALIGN
        self._held = pcm[cut:]
        if not cut:
            return
        evt.delta = base64.b64encode(pcm[:cut]).decode()
        await super()._handle_evt_audio_delta(evt)  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped evt parameter

    async def _handle_evt_audio_done(self, evt: events.ResponseAudioDone) -> None:
        if self._held:
            tail = self._held + bytes(self._ALIGN - len(self._held))
            self._held = b""
            await super()._handle_evt_audio_delta(SimpleNamespace(  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped evt parameter
                item_id=evt.item_id, content_index=getattr(evt, "content_index", 0),
                delta=base64.b64encode(tail).decode()))
        await super()._handle_evt_audio_done(evt)  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped evt parameter

    async def _handle_interruption(self) -> None:
        self._held = b""
        await super()._handle_interruption()

    # --- exact text (say, goodbyes, silence prompts, voicemail): realtime mode has no TTS stage -------------
    _say_append = True
    _say_requested = False  # a say response.create is out and its response.created has not come

    async def say_exact(self, text: str, context: LLMContext, *, append: bool = True,
                        uninterruptible: bool = False) -> None:
        """Have the model speak ``text`` verbatim: one ``response.create`` whose instructions say so.

        Waits (bounded) for the session and for a running response to finish, since the API refuses
        a second one. ``uninterruptible`` (closing lines: end, transfer) stops sending caller audio for
        the rest of the call, so server VAD can neither cancel the line nor cut it while Twilio plays it.
        """
        deadline = time.monotonic() + 8.0
        while (not self._api_session_ready or self._response_active) and time.monotonic() < deadline:  # noqa: ASYNC110 - polls Pipecat's session/response flags; no event to await
            await asyncio.sleep(0.02)
        if self._context is None:
            self._context = context
        # Nothing was said yet (e.g. voicemail decided before the greeting): set up first.
        await self._setup_conversation()
        if uninterruptible:
            self.set_audio_input_paused(True)
        self._say_append = append
        self._say_requested = True
        self._response_active = True
        await self.push_frame(LLMFullResponseStartFrame())
        await self.send_client_event(events.ResponseCreateEvent(response=events.ResponseProperties(
            modalities=["text", "audio"], instructions=say_instructions(text))))

    async def _push_output_transcript_text_frames(self, text: str) -> None:
        if self._say_append:
            await super()._push_output_transcript_text_frames(text)
            return
        # Spoken but kept out of the context (fillers, the voicemail message recorded separately).
        frame = TTSTextFrame(text, text_type=TextType.SENTENCE)
        frame.includes_inter_frame_spaces = True
        frame.append_to_context = False
        await self.push_frame(frame)

    async def _handle_evt_response_created(self, evt: events.ResponseCreated) -> None:
        if not self._say_requested:
            await super()._handle_evt_response_created(evt)  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped evt parameter
            return
        # Pipecat assumes a response takes in every tool result delivered before it. A say response
        # is told to speak one line and nothing else, so a result that landed between its
        # response.create and now is still unanswered: keep it owed for when the line is done.
        self._say_requested = False
        awaiting = self._results_awaiting_response
        await super()._handle_evt_response_created(evt)  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped evt parameter
        self._results_awaiting_response = awaiting

    async def _handle_evt_response_done(self, evt: events.ResponseDone) -> None:
        self._say_append = True
        self._say_requested = False  # a say cancelled before it was created
        self._held = b""  # a cancelled response has no audio.done
        await super()._handle_evt_response_done(evt)  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped evt parameter


async def adopt_realtime(llm: MulawGrokRealtimeLLMService) -> ClientConnection | None:
    """The ring-time socket for ``llm`` (see ``MulawGrokRealtimeLLMService.adopt_ring_connection``)."""
    return await llm.adopt_ring_connection()


def build_llm(plan: CallPlan, key: str) -> MulawGrokRealtimeLLMService:
    """The realtime service: mu-law both ways, server VAD, the plan's prompt, voice and tools; no deflate."""
    s = get_settings()
    base = ws_url(s.xai_url.rstrip("/") + "/v1/realtime") if s.xai_url else "wss://api.x.ai/v1/realtime"
    props = events.SessionProperties(
        instructions=plan.system_prompt, voice=(plan.llm.get("voice") or "eve").lower(),
        turn_detection=events.TurnDetection(type="server_vad", silence_duration_ms=500),
        audio=events.AudioConfiguration(
            input=events.AudioInput(format=events.PCMUAudioFormat()),
            output=events.AudioOutput(format=events.PCMUAudioFormat())),
        tools=realtime_tools(plan.tools) or None)
    without_deflate(pipecat_xai_realtime, "websocket_connect")
    settings = MulawGrokRealtimeLLMService.Settings(session_properties=props)
    if plan.llm.get("model"):
        # Pipecat appends "?model=..." to base_url itself: a model put in the URL made a second "?".
        settings.model = plan.llm["model"]
    return MulawGrokRealtimeLLMService(api_key=key, base_url=base, settings=settings,
                                       first_message=plan.first_message)
