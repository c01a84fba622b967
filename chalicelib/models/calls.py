"""Calls API models: the outbound request, assistant overrides and the four control commands."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, RootModel, Tag, field_validator, model_validator

from chalicelib.models.assistant import AssistantFields
from chalicelib.models.common import ApiModel, FreeForm, LongStr, ShortStr, UUIDStr

# Deprecated spellings accepted on outbound requests (contract: "Assistants vs agents").
OUTBOUND_ALIASES = {"agent_id": "assistant_id", "agentId": "assistant_id", "agent": "assistant",
                    "agent_config": "assistant_override", "agentConfig": "assistant_override"}


class TransientAssistant(AssistantFields):
    """A full one-off assistant config (transient mode) or a partial one (hybrid overrides)."""


class CallAssistantRequest(ApiModel):
    """The assistant of a new call: reference, transient or hybrid mode, plus per-call extras."""

    assistant_id: UUIDStr | None = None
    assistant: TransientAssistant | None = None
    assistant_override: TransientAssistant | None = None
    first_message: LongStr | None = None
    context: LongStr | None = None
    metadata: FreeForm | None = None

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for old, new in OUTBOUND_ALIASES.items():
            if old in out:
                value = out.pop(old)
                camel_new = {"assistant_id": "assistantId", "assistant_override": "assistantOverride"}.get(new)
                if new in out or (camel_new and camel_new in out):
                    raise ValueError(f"'{old}' and '{new}' are the same field; send only one")
                out[new] = value
        return out

    @model_validator(mode="after")
    def _mode(self) -> CallAssistantRequest:
        if self.assistant_id and self.assistant is not None:
            raise ValueError("send either 'assistant_id' (reference/hybrid mode) or 'assistant' (transient), not both")
        if not self.assistant_id and self.assistant is None:
            raise ValueError("one of 'assistant_id' or 'assistant' is required")
        if self.assistant_override is not None and not self.assistant_id:
            raise ValueError("'assistant_override' needs 'assistant_id' (hybrid mode)")
        return self


class OutboundCallRequest(CallAssistantRequest):
    destination: ShortStr
    number_id: UUIDStr | None = None


class WebCallRequest(CallAssistantRequest):
    """Body of ``POST /calls/web``: a browser call with the same assistant modes as outbound."""


class InjectContextCommand(ApiModel):
    type: Literal["inject-context"]
    content: Annotated[str, Field(min_length=1, max_length=100_000)]
    trigger_response: bool


class SayCommand(ApiModel):
    type: Literal["say"]
    content: Annotated[str, Field(min_length=1, max_length=100_000)]
    end_after: bool = False  # optional, as in Vapi: say the line and carry on


class EndCallCommand(ApiModel):
    type: Literal["end-call"]
    message: LongStr | None = None


class TransferCommand(ApiModel):
    type: Literal["transfer"]
    destination: Annotated[str, Field(min_length=1, max_length=255)]
    message: LongStr | None = None

    @field_validator("destination")
    @classmethod
    def _destination(cls, value: str) -> str:
        if value.startswith("sip:"):
            return value
        from chalicelib.models.phone import normalize_e164

        return normalize_e164(value)


def _command_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in COMMAND_TYPES else None


COMMAND_TYPES = ("inject-context", "say", "end-call", "transfer")
ControlCommand = Annotated[
    Annotated[InjectContextCommand, Tag("inject-context")]
    | Annotated[SayCommand, Tag("say")]
    | Annotated[EndCallCommand, Tag("end-call")]
    | Annotated[TransferCommand, Tag("transfer")],
    Discriminator(_command_tag, custom_error_type="invalid_command",
                  custom_error_message="'type' must be one of inject-context, say, end-call, transfer"),
]


class ControlRequest(RootModel[ControlCommand]):
    """Body of ``POST /calls/{id}/control``: one command, tagged by ``type`` (OpenAPI schema)."""

    model_config = ConfigDict(defer_build=True)  # built on first use (cold start)


# One parsed control command (the typed form of ``ControlRequest``).
ParsedCommand = InjectContextCommand | SayCommand | EndCallCommand | TransferCommand

COMMAND_MODELS: dict[str, type[ParsedCommand]] = {
    "inject-context": InjectContextCommand, "say": SayCommand, "end-call": EndCallCommand,
    "transfer": TransferCommand,
}


def parse_command(body: Any) -> ParsedCommand:
    """Validate a control body against the model its ``type`` names (errors name plain fields)."""
    from chalicelib import errors

    kind = body.get("type") if isinstance(body, dict) else None
    model = COMMAND_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise errors.InvalidRequest("'type' must be one of inject-context, say, end-call, transfer.", param="type")
    return model.model_validate(body)
