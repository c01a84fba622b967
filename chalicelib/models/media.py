"""The contract between the control plane and the media service (both directions, versioned).

Control plane -> media (HTTP, signed with MEDIA_CONTROL_SECRET; ``chalicelib.services.media_client``):
``PrepareCall`` to ``POST /calls/{id}/prepare``, ``CommandEnvelope`` to ``POST /calls/{id}/control``,
answered with ``CommandResult``; ``RunCaller`` to ``POST /calls/{id}/caller`` (an eval's simulated
caller on the web call's socket, docs/evals.md).

Media -> control plane (in process, through ``chalicelib.services.media_gateway``, which the media
service reaches only through its port ``media.controlplane``): ``CallSetup`` (what a call needs to
start), ``CallStarted``, ``CallProgress``, ``CallEnded``, ``PreparedGreeting``, ``TransferRequest``, ``ToolInvocation``.

Every message carries ``version``; a receiver refuses a version it does not know (400 on the wire).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.models.calls import EndCallCommand, InjectContextCommand, SayCommand, TransferCommand

MEDIA_CONTRACT_VERSION = 1


class MediaMessage(BaseModel):
    """Base of every message between the planes: strict (unknown fields refused) and versioned."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = MEDIA_CONTRACT_VERSION


# ---------------------------------------------------------------- control plane -> media
class AmdVerdict(BaseModel):
    """Twilio's answering-machine verdict, forwarded to the call's media task."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["amd"] = "amd"
    answered_by: Annotated[str, Field(min_length=1, max_length=64)]


MediaCommand = Annotated[
    InjectContextCommand | SayCommand | EndCallCommand | TransferCommand | AmdVerdict,
    Field(discriminator="type"),
]


class PrepareCall(MediaMessage):
    """Ring-time warm-up of a call about to be answered."""

    call_id: str
    org_id: str


class CommandEnvelope(MediaMessage):
    """One command for a live call; ``org_id`` must match the call the task holds."""

    call_id: str
    org_id: str
    command: MediaCommand


class CallerTurn(BaseModel):
    """One scripted line of a simulated caller (``chalicelib.models.evals.CallerLine`` resolved)."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(max_length=100_000)] = ""
    pause_ms: Annotated[int, Field(ge=0, le=10_000)] = 200
    barge_in_after_ms: Annotated[int, Field(ge=0, le=30_000)] | None = None
    dtmf: Annotated[str, Field(max_length=32)] | None = None


class RunCaller(MediaMessage):
    """Run an eval's simulated caller against a web call's socket: scripted ``lines`` or a persona."""

    call_id: str
    org_id: str
    websocket_url: Annotated[str, Field(pattern=r"^wss?://", max_length=2000)]
    lines: list[CallerTurn] | None = None
    instructions: Annotated[str, Field(min_length=1, max_length=10_000)] | None = None
    max_turns: Annotated[int, Field(ge=1, le=50)] = 10
    voice: Annotated[str, Field(max_length=200)] | None = None
    language: Annotated[str, Field(max_length=200)] | None = None
    pace: Annotated[float, Field(ge=0.5, le=2.0)] = 1.0


class CommandResult(BaseModel):
    """What the media task answers to a command (``error`` is a contract error code)."""

    success: bool
    message: str | None = None
    error: str | None = None


# ---------------------------------------------------------------- media -> control plane
class CallSetup(MediaMessage):
    """What the media service reads to run a call: the row's resolved config and parties."""

    org_id: str
    call_id: str
    direction: str
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def answered_by(self) -> str | None:
        """Twilio's AMD verdict if the control plane stored one before the stream started."""
        value = self.data.get("answered_by")
        return str(value) if value else None


class CallStarted(MediaMessage):
    """The media task accepted the stream; commands for the call go to ``control_url``."""

    org_id: str
    call_id: str
    control_url: str


class CallProgress(MediaMessage):
    """The holding task's heartbeat (every 10 s) and the transcript so far (after each message)."""

    org_id: str
    call_id: str
    messages: list[dict[str, Any]] | None = None


class PreparedGreeting(MediaMessage):
    """A call's first message synthesized at ring time (mu-law 8 kHz), kept for whichever task gets the
    stream. ``fingerprint`` names the text and voice, so a task plays it only for the config it runs."""

    org_id: str
    call_id: str
    fingerprint: Annotated[str, Field(min_length=1, max_length=128)]
    audio: bytes


class CallEnded(MediaMessage):
    """The media task's final report of a call."""

    org_id: str
    call_id: str
    end_reason: str
    messages: list[dict[str, Any]] = Field(default_factory=list)
    latency: dict[str, Any] | None = None
    duration_seconds: int | None = None
    error: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class TransferRequest(MediaMessage):
    """Hand the caller to a phone number or SIP URI (the number's transfer trunk when it has one)."""

    org_id: str
    call_id: str
    call_sid: str
    destination: str
    caller_id: str | None = None
    number_id: str | None = None


class ToolInvocation(MediaMessage):
    """A function tool call to deliver to the tool's URL (or the assistant's server URL)."""

    org_id: str
    call_id: str
    assistant_id: str | None = None
    tool_name: str
    url: str
    own_url: bool
    payload: dict[str, Any]
    timeout_seconds: float = 10.0


class LiveEvent(MediaMessage):
    """A live conversation event for the assistant's webhook (transcript, speech-update, conversation-update)."""

    org_id: str
    call_id: str
    event: Literal["transcript", "speech-update", "conversation-update"]
    data: dict[str, Any] = Field(default_factory=dict)
