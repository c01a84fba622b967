"""What a call needs from the socket its audio travels on, whichever protocol it speaks.

A call keeps mu-law 8 kHz as its own currency (the pipeline's rate, the recording, the playout clock);
a ``StreamWire`` turns that into the peer's messages. A ``CallTransport`` also makes the Pipecat
serializer of the peer's protocol (``media.transports.twilio``, ``media.transports.web``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pipecat.serializers.base_serializer import FrameSerializer

    from media.transports.twilio import StreamHost


class StreamWire(Protocol):
    """The peer's messages for agent audio, marks and clear."""

    @property
    def echoes_marks(self) -> bool:
        """Does the peer echo marks when the audio before them has played? (Twilio does, a browser not.)"""
        ...

    def media(self, ulaw: bytes) -> str | bytes:
        """One message of agent audio."""
        ...

    def mark(self, name: str) -> str | None:
        """A mark message, or None when the peer has no marks (the call then keeps time itself)."""
        ...

    def clear(self) -> str:
        """The message telling the peer to drop the agent audio it has queued."""
        ...


class CallTransport(Protocol):
    """A call's socket protocol: its wire and the serializer the pipeline's transport uses."""

    @property
    def wire(self) -> StreamWire:
        """The peer's messages."""
        ...

    @property
    def events_to_peer(self) -> bool:
        """Does the peer get the call's JSON events (transcripts, speech updates)?"""
        ...

    def serializer(self, host: StreamHost) -> FrameSerializer:
        """The Pipecat serializer between the peer's messages and the pipeline's frames."""
        ...
