"""What every provider module shares, and the extension point for ring-time warm-up.

Adding a provider
-----------------
Write ``media/providers/<vendor>.py`` with a builder per pipeline slot it serves, e.g.
``build_stt(plan: CallPlan, key: str) -> STTService``: read the slot's config from the plan, take URLs
from ``chalicelib.settings`` (so a protocol-faithful fake can stand in) and build the Pipecat service
at ``SAMPLE_RATE``. The module may import Pipecat at its top: ``media.providers.factory`` imports a
vendor module on first use, so nothing loads at ``media.providers`` import. Then dispatch to it from
the slot's ``build_*`` in ``factory`` (and add it to ``media.plan``'s supported lists). A vendor module
imports ``chalicelib.settings``, ``media.plan``, ``media.providers.base``/``ringtime``/``pool`` and at
most another vendor module's shared piece (Mistral's LLM reuses ``openai.PooledClientMixin``); never
the call modules (session, pipeline, server, processors): imports point down.

Making a provider warmable at ring time
---------------------------------------
While the phone rings, ``media.providers.warm.warm_up`` builds the call's services and asks each one
that implements :class:`RingTimeWarmable` to open its connection now (``hold_ring_connection``). The
service opens it exactly as its own connect would (same URL, query, headers and key), keeps it alive,
and returns a :class:`HeldConnection` (normally a ``media.providers.ringtime.HeldSocket``). When the
pipeline starts, the service's *own* connect (its overridden ``_connect``/``_connect_websocket``)
adopts the held connection instead of dialling, or dials as usual if it is gone. A connection no call
adopted is closed through the :class:`HeldConnection` by whoever holds the ``Warm``.

So a warmable service is a subclass of the Pipecat service in the vendor module that:

1. implements ``hold_ring_connection() -> HeldConnection`` (called inside the event loop),
2. overrides its connect to adopt the held connection once, and
3. is listed in ``factory.RING_TIME_PROVIDERS`` (so ``warm_up`` builds it while the phone rings).

That subclass is the only code allowed to touch the Pipecat service's protected members; everything
else (``warm``, ``factory``, the call) uses these protocols. An HTTP service that pools connections
implements :class:`PoolWarmable` instead; a speech-to-speech service that can speak the first message
on its held session implements :class:`RingTimeGreeter`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.services.llm_service import LLMService
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService
    from pipecat.transcriptions.language import Language

SAMPLE_RATE = 8000  # the pipeline's rate: Twilio's 8 kHz mu-law decoded to linear16

Slot = Literal["stt", "llm", "tts"]
ProviderKey = tuple[str, bool]  # (key, is_byok)
# An LLM service whatever its adapter (OpenAI-compatible, Grok realtime, ...): the type parameter differs by vendor.
AnyLLMService: TypeAlias = "LLMService[Any]"


@dataclass
class Services:
    """The call's services: STT, LLM and TTS, or one speech-to-speech LLM (``stt``/``tts`` None)."""

    stt: STTService | None
    llm: AnyLLMService
    tts: TTSService | None
    byok: dict[str, bool]  # slot -> the org's own key was used


# --- the extension point -------------------------------------------------------------------------------------
@runtime_checkable
class HeldConnection(Protocol):
    """A provider connection opened at ring time and held until the call's service adopts it."""

    @property
    def conn(self) -> object | None:
        """The open connection (None before it opened, after it failed or closed)."""
        ...

    async def wait_open(self, timeout: float = ...) -> bool:  # noqa: ASYNC109 - part of the RingTimeWarmable protocol
        """Wait until the connection is open (True) or failed (False; a timeout closes it)."""
        ...

    def close_soon(self) -> None:
        """Close it in the background unless a service adopted it."""
        ...

    async def aclose(self) -> None:
        """Close it unless a service adopted it (the service closes what it adopted)."""
        ...


@runtime_checkable
class RingTimeWarmable(Protocol):
    """A service that opens its connection at ring time and adopts it at pipeline start."""

    def hold_ring_connection(self) -> HeldConnection:
        """Open the connection the service's own connect would open, now; its connect adopts it."""
        ...


@runtime_checkable
class PoolWarmable(Protocol):
    """An HTTP service on a shared keep-alive pool: warming opens pooled connections ahead of use."""

    async def warm_connections(self, count: int) -> bool:
        """Open ``count`` pooled connections to the API with cheap requests (False when that failed)."""
        ...


@runtime_checkable
class RingTimeGreeter(Protocol):
    """A speech-to-speech service that can speak the first message on its held session, at ring time."""

    async def greet_at_ring_time(self, context: LLMContext) -> bytes:
        """Set the held session up with ``context``, have the model greet, return the audio (raises on failure)."""
        ...


# --- helpers for vendor modules ------------------------------------------------------------------------------
def ws_url(url: str) -> str:
    """``url`` with its http(s) scheme swapped for ws(s)."""
    return url.replace("https://", "wss://").replace("http://", "ws://")


def http_url(url: str) -> str:
    """``url`` with its ws(s) scheme swapped for http(s)."""
    return url.replace("wss://", "https://").replace("ws://", "http://")


def language(code: str | None) -> Language | str | None:
    """Pipecat's ``Language`` for a code, the code itself when Pipecat has no such member, or None."""
    from pipecat.transcriptions.language import Language

    if not code:
        return None
    try:
        return Language(code)
    except ValueError:
        return code


def without_deflate(module: ModuleType, name: str) -> None:
    """Make ``module.<name>`` (the websockets connect an SDK calls) offer no permessage-deflate.

    Deflating every 20 ms audio frame (PCM, or base64 in JSON) gains little and cost ~6% of the media
    process's CPU per socket against a server that accepts it. Neither the Deepgram SDK nor Pipecat's
    xAI realtime service has an option for it, so the name they call is wrapped, once.
    """
    connect: Callable[..., object] = getattr(module, name)
    if getattr(connect, "no_deflate", False):
        return

    def no_deflate(*args: object, **kwargs: object) -> object:
        kwargs.setdefault("compression", None)
        return connect(*args, **kwargs)

    no_deflate.no_deflate = True  # pyright: ignore[reportFunctionMemberAccess] - a marker: the name is wrapped once
    setattr(module, name, no_deflate)
