"""Assistant configuration: the contract's STT/LLM/TTS blocks, tools, analysis plan.

Shared by the API (validation) and the media service (pipeline assembly).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator

from chalicelib.models.common import (
    ApiModel,
    DescriptionStr,
    Email,
    FreeForm,
    LongStr,
    NonEmptyShortStr,
    ShortStr,
    Url,
    UUIDStr,
)

STT_PROVIDERS = ("deepgram", "elevenlabs", "gladia", "mistral")
LLM_PROVIDERS = ("openai", "xai_realtime", "xai", "mistral")
TTS_PROVIDERS = ("elevenlabs", "inworld")
XAI_VOICES = ("ara", "rex", "sal", "eve", "leo")
WEBHOOK_EVENTS = ("assistant-request", "tool-calls", "status-update", "end-of-call-report")
TOOL_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


class STTConfig(ApiModel):
    provider: Literal["deepgram", "elevenlabs", "gladia", "mistral"]
    model: ShortStr | None = None
    language: ShortStr | None = None
    keyterms: list[ShortStr] | None = Field(default=None, max_length=100)
    tag_audio_events: bool | None = None
    include_timestamps: bool | None = None
    sample_rate: Literal[8000, 16000] | None = None
    languages: list[ShortStr] | None = None
    code_switching: bool | None = None
    region: Literal["eu-west", "us-west"] | None = None
    endpointing: float | None = Field(default=None, ge=0, le=10)
    custom_vocabulary: list[ShortStr] | None = Field(default=None, max_length=1000)
    translation_enabled: bool | None = None
    translation_target_languages: list[ShortStr] | None = None


class TranscriptionEndpointingPlan(ApiModel):
    """How long to wait after the caller's last word, by how the transcript ends (Vapi's names)."""

    on_punctuation_seconds: float = Field(default=0.1, ge=0, le=3)
    on_no_punctuation_seconds: float = Field(default=1.5, ge=0, le=5)
    on_number_seconds: float = Field(default=1.2, ge=0, le=5)


class StartSpeakingPlan(ApiModel):
    """When the agent starts its reply (Vapi's startSpeakingPlan; docs/media.md "How a turn ends")."""

    wait_seconds: float = Field(default=0.0, ge=0, le=5)
    smart_endpointing_enabled: bool = True
    max_wait_seconds: float = Field(default=3.0, ge=0.2, le=10)
    transcription_endpointing_plan: TranscriptionEndpointingPlan | None = None


class StopSpeakingPlan(ApiModel):
    """When caller speech stops the agent (Vapi's stopSpeakingPlan; docs/media.md "Interruptions")."""

    num_words: int = Field(default=0, ge=0, le=10)
    voice_seconds: float = Field(default=0.1, ge=0.05, le=2)
    backoff_seconds: float = Field(default=1.0, ge=0.2, le=10)
    acknowledgement_phrases: list[ShortStr] | None = Field(default=None, max_length=100)


class Message(ApiModel):
    role: Literal["system", "user", "assistant"]
    content: LongStr


class FunctionTool(ApiModel):
    type: Literal["function"] = "function"
    name: ShortStr
    description: DescriptionStr = ""
    parameters: FreeForm | None = None
    url: Url | None = None
    async_: bool = Field(default=False, alias="async")
    async_response: LongStr | None = None
    secret: ShortStr | None = None  # per-tool signing secret (write-only, encrypted at rest)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TOOL_NAME_RE.match(value):
            raise ValueError("must start with a letter or underscore, then letters, digits, _ or -, at most 64")
        return value


class EndCallTool(ApiModel):
    type: Literal["endCall"] = "endCall"
    name: ShortStr | None = None
    description: DescriptionStr | None = None
    message: LongStr | None = None


class TransferDestination(ApiModel):
    type: Literal["number", "sip"] = "number"
    number: ShortStr | None = None
    sip_uri: ShortStr | None = None
    description: DescriptionStr | None = None
    message: LongStr | None = None

    @model_validator(mode="after")
    def _target(self) -> TransferDestination:
        if self.type == "number":
            from chalicelib.models.phone import normalize_e164

            if not self.number:
                raise ValueError("a 'number' destination needs 'number' (E.164)")
            self.number = normalize_e164(self.number)
        elif not (self.sip_uri or "").startswith("sip:"):
            raise ValueError("a 'sip' destination needs 'sip_uri' starting with 'sip:'")
        return self


class TransferCallTool(ApiModel):
    type: Literal["transferCall"] = "transferCall"
    name: ShortStr | None = None
    description: DescriptionStr | None = None
    destinations: list[TransferDestination] = Field(min_length=1, max_length=50)


_BUILTIN_SPELLINGS = {"endCall": "endCall", "end_call": "endCall", "transferCall": "transferCall",
                      "transfer_call": "transferCall"}


def normalize_tool(raw: Any) -> Any:
    """Accept the flat, the OpenAI-nested and the built-in shapes; return one normalized dict."""
    if not isinstance(raw, dict):
        return raw
    data = dict(raw)
    kind = data.get("type")
    if kind in _BUILTIN_SPELLINGS:
        data["type"] = _BUILTIN_SPELLINGS[kind]
        return data
    if kind in (None, "function"):
        if isinstance(data.get("function"), dict):
            fn = data.pop("function")
            server = data.pop("server", None)
            out: dict[str, Any] = {"type": "function", **fn}
            if isinstance(server, dict):
                if "url" in server:
                    out["url"] = server["url"]
                if "secret" in server:
                    out["secret"] = server["secret"]
                extra = set(server) - {"url", "secret", "timeoutSeconds", "timeout_seconds"}
                if extra:
                    out[f"server.{sorted(extra)[0]}"] = True  # rejected below, naming the field
            elif server is not None:
                out["server"] = server
            for key, value in data.items():
                if key != "type":
                    out[key] = value
            return out
        data["type"] = "function"
        return data
    return data


def _tool_tag(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "function"))
    return str(getattr(value, "type", "function"))


_ToolUnion = (
    Annotated[FunctionTool, Tag("function")]
    | Annotated[EndCallTool, Tag("endCall")]
    | Annotated[TransferCallTool, Tag("transferCall")]
)
Tool = Annotated[_ToolUnion, Discriminator(_tool_tag), BeforeValidator(normalize_tool)]


class LLMConfig(ApiModel):
    provider: Literal["openai", "xai_realtime", "xai", "mistral"]
    model: ShortStr | None = None
    voice: Literal["ara", "rex", "sal", "eve", "leo"] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    messages: list[Message] | None = Field(default=None, max_length=500)
    tools: list[Tool] | None = Field(default=None, max_length=128)

    @field_validator("voice", mode="before")
    @classmethod
    def _voice_case(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _checks(self) -> LLMConfig:
        if self.voice is not None and self.provider != "xai_realtime":
            raise ValueError("'voice' is only used with provider 'xai_realtime'")
        names = [t.name for t in (self.tools or []) if isinstance(t, FunctionTool)]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"tool names must be unique: {sorted(dupes)[0]}")
        return self


def _tts_provider(value: Any) -> Any:
    return "elevenlabs" if value == "11labs" else value


class TTSConfig(ApiModel):
    provider: Annotated[Literal["elevenlabs", "inworld"], BeforeValidator(_tts_provider)]
    voice_id: ShortStr
    model: ShortStr | None = None
    language: ShortStr | None = None
    stability: float | None = Field(default=None, ge=0, le=1)
    similarity_boost: float | None = Field(default=None, ge=0, le=1)
    use_speaker_boost: bool | None = None
    speed: float | None = Field(default=None, ge=0.5, le=2)
    style: float | None = Field(default=None, ge=0, le=1)


class PlanMessage(ApiModel):
    role: Literal["system", "user"]
    content: LongStr


class StructuredDataPlan(ApiModel):
    enabled: bool = False
    schema_: FreeForm | None = Field(default=None, alias="schema")
    messages: list[PlanMessage] | None = None
    template_id: UUIDStr | None = None


class AnalysisPlan(ApiModel):
    structured_data_plan: StructuredDataPlan | None = None
    min_messages_threshold: int = Field(default=2, ge=0, le=1000)
    summary_enabled: bool = True


WebhookEvent = Literal["assistant-request", "tool-calls", "status-update", "end-of-call-report", "transcript",
                       "speech-update", "conversation-update", "test-run.completed"]


class AssistantFields(ApiModel):
    """Every configurable assistant field, all optional (the base of create, update, overrides)."""

    name: NonEmptyShortStr | None = None
    business_name: ShortStr | None = None
    notification_email: Email | None = None
    first_message: LongStr | None = None
    is_active: bool | None = None
    max_duration_seconds: int | None = Field(default=None, ge=10, le=43_200)
    autonomous_silence_handling: bool | None = None
    silence_timeout_seconds: int | None = Field(default=None, ge=1, le=600)
    voicemail_detection: bool | None = None
    voicemail_message: LongStr | None = None
    gdpr_mode: bool | None = None
    # Stereo call recording (caller left, agent right); gdpr_mode always disables it.
    recording_enabled: bool | None = None
    webhook_url: Url | None = None
    webhook_secret: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    webhook_events: list[WebhookEvent] | None = None
    analysis_plan: AnalysisPlan | None = None
    stt_config: STTConfig | None = None
    llm_config: LLMConfig | None = None
    tts_config: TTSConfig | None = None
    start_speaking_plan: StartSpeakingPlan | None = None
    stop_speaking_plan: StopSpeakingPlan | None = None
    metadata: FreeForm | None = None

    @model_validator(mode="after")
    def _null_means_default(self) -> AssistantFields:
        # These settings have a default and no "unset" state: an explicit null asks for the default (stored
        # as null, the runtime read `recording_enabled: null` as false where the default is true).
        for name in NULL_MEANS_DEFAULT:
            if name in self.model_fields_set and getattr(self, name) is None:
                setattr(self, name, ASSISTANT_DEFAULTS[name])
        return self


class AssistantCreate(AssistantFields):
    name: NonEmptyShortStr = Field(...)  # required here (optional in the fields it extends)


class AssistantUpdate(AssistantFields):
    """PATCH body: top-level fields replace; a sent config block replaces the whole block."""

    @field_validator("name", "is_active")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields that were sent; these two are not nullable.
        if value is None:
            raise ValueError("cannot be null")
        return value


# Defaults applied on create (contract / documented defaults).
ASSISTANT_DEFAULTS: dict[str, Any] = {
    "business_name": None,
    "notification_email": None,
    "first_message": None,
    "is_active": True,
    "max_duration_seconds": 600,
    "autonomous_silence_handling": False,
    "silence_timeout_seconds": 7,
    "voicemail_detection": False,
    "voicemail_message": None,
    "gdpr_mode": False,
    "recording_enabled": True,
    "webhook_url": None,
    "webhook_events": None,
    "analysis_plan": None,
    "stt_config": None,
    "llm_config": None,
    "tts_config": None,
    "start_speaking_plan": None,  # null: the runtime defaults (StartSpeakingPlan())
    "stop_speaking_plan": None,
    "metadata": None,
}

# Settings whose explicit null means their default (AssistantFields._null_means_default).
NULL_MEANS_DEFAULT = ("is_active", "max_duration_seconds", "autonomous_silence_handling", "silence_timeout_seconds",
                      "voicemail_detection", "gdpr_mode", "recording_enabled")

SECRET_FIELDS = ("webhook_secret",)
