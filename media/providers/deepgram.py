"""Deepgram live STT (``/v1/listen``), warmable at ring time.

``DeepgramSTTService`` here is Pipecat's service (same class name: Pipecat names processors after it)
that implements :class:`~media.providers.base.RingTimeWarmable`: ``hold_ring_connection`` opens the
socket its own connect would open (same URL, query, key) and keeps it alive with KeepAlive (Deepgram
drops a socket after 10 s without audio or KeepAlive); the service's first connect adopts it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Self, cast

import deepgram.listen.v1.client as listen_v1
from pipecat.services.deepgram import stt as pipecat_deepgram

from chalicelib.settings import get_settings
from media.providers.base import SAMPLE_RATE, without_deflate
from media.providers.ringtime import HeldSocket

if TYPE_CHECKING:
    from deepgram import AsyncDeepgramClient
    from deepgram.listen.v1.socket_client import AsyncV1SocketClient

    from media.plan import CallPlan


class _RingTimeClient:
    """The service's Deepgram client as Pipecat's connection handler reaches it.

    Pipecat 1.14 opens the live socket only through ``self._client.listen.v1.connect(**kwargs)``. This
    stand-in answers that path (``listen`` and ``v1`` lead back to it): a connect with the kwargs the
    ring-time socket was opened with adopts that socket, once; any other connect (reconnects, changed
    settings, the socket is gone) goes to the SDK. Every other attribute is the SDK client's.
    """

    def __init__(self, sdk: AsyncDeepgramClient) -> None:
        self._sdk = sdk
        self._held: HeldSocket[AsyncV1SocketClient] | None = None
        self._held_kwargs: dict[str, Any] | None = None

    @property
    def listen(self) -> Self:
        return self

    @property
    def v1(self) -> Self:
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sdk, name)

    def sdk_connect(self, **kwargs: Any) -> AbstractAsyncContextManager[AsyncV1SocketClient]:
        """The SDK's own connect (a fresh socket)."""
        return self._sdk.listen.v1.connect(**kwargs)

    def hold(self, held: HeldSocket[AsyncV1SocketClient], kwargs: dict[str, Any]) -> None:
        """``held`` was opened with ``kwargs``: the next connect with the same kwargs adopts it."""
        self._held, self._held_kwargs = held, kwargs

    @asynccontextmanager
    async def connect(self, **kwargs: Any) -> AsyncGenerator[AsyncV1SocketClient]:
        held = self._held
        conn = held.adopt() if held is not None and kwargs == self._held_kwargs else None
        if held is None or conn is None:  # reconnects, changed settings, or the ring-time socket is gone
            async with self.sdk_connect(**kwargs) as fresh:
                yield fresh
            return
        try:
            yield conn
        finally:
            await held.release()


class DeepgramSTTService(pipecat_deepgram.DeepgramSTTService):
    """Pipecat's Deepgram live STT that can open its socket while the phone rings (RingTimeWarmable)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        # Pipecat's client (built from api_key and base_url) behind a stand-in on the one path Pipecat
        # connects through (see _RingTimeClient).
        self._ring_client = _RingTimeClient(self._client)  # pyright: ignore[reportArgumentType] - read before the swap
        self._client = self._ring_client

    def hold_ring_connection(self) -> HeldSocket[AsyncV1SocketClient]:
        """Open the socket now; the service's first connect at pipeline start adopts it."""
        if not self._init_sample_rate:
            raise ValueError("STT built without a sample rate")
        kwargs = cast("dict[str, Any]", self._build_connect_kwargs())  # pyright: ignore[reportUnknownMemberType] - Pipecat returns a bare dict
        # The service learns its rate at setup (the rate it was built with, else the pipeline's); build_stt
        # always passes one, so this is what its own connect will ask for.
        kwargs["sample_rate"] = str(self._init_sample_rate)
        client = self._ring_client
        held = HeldSocket(
            "deepgram", lambda: client.sdk_connect(**kwargs),
            lambda conn: conn._websocket,  # pyright: ignore[reportPrivateUsage, reportUnknownMemberType, reportUnknownLambdaType] - no public accessor in the SDK
            lambda conn: conn.send_keep_alive(), lambda conn: conn.send_close_stream())
        client.hold(held, kwargs)
        return held


def build_stt(plan: CallPlan, key: str) -> DeepgramSTTService:
    """Deepgram live STT with the assistant's model, language and keyterms; no permessage-deflate."""
    cfg = plan.stt or {}
    settings = DeepgramSTTService.Settings(
        model=cfg.get("model") or "nova-3-general", language=cfg.get("language") or "en",
        interim_results=True, punctuate=True, smart_format=False, endpointing=plan.turn.stt_endpointing_ms,
        utterance_end_ms=1000, profanity_filter=False, extra={"vad_events": True})
    if cfg.get("keyterms"):
        settings.keyterm = list(cfg["keyterms"])
    without_deflate(listen_v1, "websockets_client_connect")
    return DeepgramSTTService(api_key=key, base_url=get_settings().deepgram_url or "", sample_rate=SAMPLE_RATE,
                              encoding="linear16", tag=plan.call_id, settings=settings)
