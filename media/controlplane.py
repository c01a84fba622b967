"""The media service's port to the control plane: the one place media code reaches chalicelib services.

``ControlPlane`` is the interface the call code depends on; ``InProcessControlPlane`` is the adapter
used in production and locally (the media task has the same DynamoDB/KMS/Twilio access as the
Lambdas, so the control plane's ``media_gateway`` service runs in process). Every method blocks:
callers on the event loop run it with ``asyncio.to_thread``. Messages are the typed models of
``chalicelib.models.media``, shared with the control plane.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

from chalicelib.models.media import (
    CallEnded,
    CallProgress,
    CallSetup,
    CallStarted,
    LiveEvent,
    PreparedGreeting,
    ToolInvocation,
    TransferRequest,
)
from chalicelib.services import media_gateway


class ControlPlane(Protocol):
    """What the media service needs from the control plane."""

    def load_call(self, org_id: str, call_id: str) -> CallSetup | None:
        """The call's resolved config, or None when it does not exist."""
        ...

    def claim_web_call(self, org_id: str, call_id: str) -> bool:
        """Take a browser call's socket, once (False: no such web call, or already taken)."""
        ...

    def live_call_owner(self, org_id: str, call_id: str) -> str | None:
        """The control address of the task holding a call in progress, or None."""
        ...

    def call_started(self, event: CallStarted) -> None:
        """Report that this task holds the call (its control address)."""
        ...

    def call_progress(self, event: CallProgress) -> bool:
        """Heartbeat with the transcript so far; False when the call is no longer in progress."""
        ...

    def call_ended(self, event: CallEnded) -> None:
        """Report the end of the call with its transcript and figures."""
        ...

    def store_greeting(self, greeting: PreparedGreeting) -> bool:
        """Keep the call's ring-time greeting for whichever task gets the stream; False if not stored."""
        ...

    def load_greeting(self, org_id: str, call_id: str) -> PreparedGreeting | None:
        """The call's ring-time greeting stored by another (or this) task, or None."""
        ...

    def live_event(self, event: LiveEvent) -> None:
        """Deliver a live conversation event to the call's webhook."""
        ...

    def provider_key(self, org_id: str, provider: str) -> tuple[str, bool]:
        """(key, is_byok) for a provider, cached by the control plane."""
        ...

    def invoke_tool(self, invocation: ToolInvocation) -> Any:
        """Deliver a function tool call; its result (or ``{"error": ...}``)."""
        ...

    def hang_up(self, call_sid: str | None) -> bool:
        """End the call at Twilio."""
        ...

    def transfer(self, request: TransferRequest) -> bool:
        """Redirect the call to a transfer destination."""
        ...

    def recording_enabled(self) -> bool:
        """Whether recordings can be stored."""
        ...

    def store_recording(self, org_id: str, call_id: str, wav: bytes) -> str:
        """Store a call's WAV; its object key."""
        ...


class InProcessControlPlane:
    """The adapter: calls ``chalicelib.services.media_gateway`` in this process."""

    def load_call(self, org_id: str, call_id: str) -> CallSetup | None:
        return media_gateway.load_call(org_id, call_id)

    def claim_web_call(self, org_id: str, call_id: str) -> bool:
        return media_gateway.claim_web_call(org_id, call_id)

    def live_call_owner(self, org_id: str, call_id: str) -> str | None:
        return media_gateway.live_call_owner(org_id, call_id)

    def call_started(self, event: CallStarted) -> None:
        media_gateway.call_started(event)

    def call_progress(self, event: CallProgress) -> bool:
        return media_gateway.call_progress(event)

    def call_ended(self, event: CallEnded) -> None:
        media_gateway.call_ended(event)

    def store_greeting(self, greeting: PreparedGreeting) -> bool:
        return media_gateway.store_greeting(greeting)

    def load_greeting(self, org_id: str, call_id: str) -> PreparedGreeting | None:
        return media_gateway.load_greeting(org_id, call_id)

    def live_event(self, event: LiveEvent) -> None:
        media_gateway.live_event(event)

    def provider_key(self, org_id: str, provider: str) -> tuple[str, bool]:
        return media_gateway.provider_key(org_id, provider)

    def invoke_tool(self, invocation: ToolInvocation) -> Any:
        return media_gateway.invoke_tool(invocation)

    def hang_up(self, call_sid: str | None) -> bool:
        return media_gateway.hang_up(call_sid)

    def transfer(self, request: TransferRequest) -> bool:
        return media_gateway.transfer(request)

    def recording_enabled(self) -> bool:
        return media_gateway.recording_enabled()

    def store_recording(self, org_id: str, call_id: str, wav: bytes) -> str:
        return media_gateway.store_recording(org_id, call_id, wav)


@lru_cache(maxsize=1)
def control_plane() -> ControlPlane:
    """The process's control-plane adapter (built on first use, never at import)."""
    return InProcessControlPlane()
