"""Response objects of the REST API, for the OpenAPI document (chalicelib/api/openapi.py).

Each model lists every field its service emits, under its wire name, with OpenAPI 3.1 types:
nullable fields are ``anyOf [X, null]``, times ``format: date-time``, ids ``format: uuid``, E.164
numbers carry their pattern and every closed set is an enum. ``extra="forbid"`` makes the document
say ``additionalProperties: false``, so the contract tests (tests/resources/test_contract_responses.py
and the schemathesis run) fail when a handler starts emitting a field that is not documented here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.models.assistant import (
    AnalysisPlan,
    LLMConfig,
    StartSpeakingPlan,
    StopSpeakingPlan,
    STTConfig,
    TTSConfig,
    WebhookEvent,
)
from chalicelib.models.campaigns import CampaignStatus, LeadStatus
from chalicelib.models.end_reasons import EndReason

DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Uuid = Annotated[str, Field(json_schema_extra={"format": "uuid"})]
E164 = Annotated[str, Field(pattern=r"^\+[1-9]\d{1,14}$", description="E.164 phone number")]
FreeForm = dict[str, Any]


class ResponseModel(BaseModel):
    """A documented response object (documentation only: handlers return plain dicts)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class Resource(ResponseModel):
    id: Uuid
    org_id: Uuid
    created_at: DateTime
    updated_at: DateTime


class Error(ResponseModel):
    """Every error response: ``{"error", "message", "param"?, "details"?}``."""

    error: str = Field(description="Machine code: invalid_request, missing_field, invalid_parameter, unauthorized, "
                                   "forbidden, not_found, method_not_allowed, conflict, insufficient_credits, "
                                   "payload_too_large, unsupported_media_type, rate_limit_exceeded, "
                                   "call_not_active, upstream_error, internal_error")
    message: str
    param: str | None = Field(default=None, description="The offending field, when one is at fault")
    details: list[str] | None = Field(default=None, description="One line per invalid field")


class Success(ResponseModel):
    success: Literal[True]


# ---------------------------------------------------------------- assistants
class Assistant(Resource):
    """An assistant; ``webhook_secret`` is write-only (``webhook_secret_set`` says whether one is stored).

    Function tools in ``llm_config.tools`` carry ``secret_set`` in place of their write-only ``secret``.
    """

    name: str
    business_name: str | None = None
    notification_email: str | None = None
    first_message: str | None = None
    # The settings below have defaults (true, 600, false, 7, false, false, true) but an explicit null
    # sent on create or update is stored and returned as null (and then acts as false / the runtime default).
    is_active: bool | None
    max_duration_seconds: int | None
    autonomous_silence_handling: bool | None
    silence_timeout_seconds: int | None
    voicemail_detection: bool | None
    voicemail_message: str | None = None
    gdpr_mode: bool | None
    recording_enabled: bool | None
    webhook_url: str | None = None
    webhook_secret_set: bool
    webhook_events: list[WebhookEvent] | None = Field(
        default=None, description="Events sent to webhook_url; null or [] sends none")
    analysis_plan: AnalysisPlan | None = None
    stt_config: STTConfig | None = None
    llm_config: LLMConfig | None = None
    tts_config: TTSConfig | None = None
    start_speaking_plan: StartSpeakingPlan | None = None
    stop_speaking_plan: StopSpeakingPlan | None = None
    metadata: FreeForm | None = None


class ToolTemplate(Resource):
    name: str
    description: str | None = None
    tool_type: Literal["function", "endCall", "transferCall"]
    tool_config: FreeForm


class AnalysisTemplate(Resource):
    name: str
    description: str | None = None
    system_prompt: str | None = None
    user_prompt: str | None = None
    schema_: FreeForm = Field(alias="schema", description="JSON Schema (draft 2020-12) of the structured data")


# ---------------------------------------------------------------- calls
CallStatus = Literal["queued", "ringing", "in-progress", "ended", "failed"]


class CallMonitor(ResponseModel):
    """How to follow a live call: listen in (WebSocket, docs/web-calls.md) and control it (REST)."""

    listen_url: str | None = Field(
        default=None, description="Read-only WebSocket streaming both sides' audio (tagged PCM s16le 16 kHz) and "
                                  "the call's JSON events; a fresh token valid 10 minutes on every read; null "
                                  "unless the call is in progress")
    control_url: str = Field(description="POST /calls/{id}/control of this call")


class Call(Resource):
    """One call (phone or browser): ``GET /calls/{id}`` returns it bare, ``GET /calls`` in ``calls``."""

    direction: Literal["inbound", "outbound", "web"]
    status: CallStatus
    end_reason: EndReason | None = Field(default=None, description="Why the call ended (docs/calls.md, End reasons)")
    error: str | None = None
    caller_phone: str | None = Field(default=None, description="The customer's number (E.164)")
    assistant_phone: str | None = Field(default=None, description="Our number on the call (E.164)")
    phone_number: str | None = Field(default=None, description="Same as assistant_phone")
    agent_id: Uuid | None = None
    assistant_id: Uuid | None = None
    number_id: Uuid | None = None
    agent_name: str | None = None
    business_name: str | None = None
    first_message: str | None = Field(default=None, description="The first message as rendered for this call")
    context: FreeForm | None = Field(default=None, description="Variables the call was started with")
    campaign_id: Uuid | None = None
    lead_id: Uuid | None = None
    test_run_id: Uuid | None = Field(default=None, description="Set on an eval's test call (docs/evals.md): not billed")
    started_at: DateTime | None = None
    ended_at: DateTime | None = None
    duration_seconds: int | None = None
    summary: str | None = None
    analysis_result: FreeForm | None = None
    messages: list[FreeForm] | None = Field(default=None, description="Transcript: what was actually heard")
    latency: FreeForm | None = None
    costs: FreeForm | None = None
    metadata: FreeForm | None = None
    recording_url: str | None = Field(
        default=None,
        description="Presigned HTTPS GET URL of the stereo WAV recording (caller left, agent right), made on every "
                    "read and valid for RECORDING_URL_EXPIRY_SECONDS (default 1 hour); null when the call was not "
                    "recorded (gdpr_mode, recording_enabled false).")
    answered_by: str | None = None
    room_name: None = None
    twilio_call_sid: str | None = None
    monitor: CallMonitor


class Pagination(ResponseModel):
    total: int
    limit: int
    offset: int


class WebhookAttempt(ResponseModel):
    at: DateTime
    status_code: int | None = None
    error: str | None = None
    duration_ms: int


class WebhookDelivery(ResponseModel):
    id: Uuid
    event: Literal["status-update", "end-of-call-report"]
    status: Literal["held", "pending", "delivered", "failed"] = Field(
        description="held: waiting behind an earlier event of the same call; pending: a retry is scheduled")
    sequence: int | None = Field(default=None, description="The event's number within its call")
    url: str | None = None
    attempts: list[WebhookAttempt]
    last_error: str | None = None
    created_at: DateTime
    updated_at: DateTime


class OutboundCallResult(ResponseModel):
    success: Literal[True]
    call_id: Uuid
    status: Literal["dialing"]


class WebCallResult(ResponseModel):
    """``POST /calls/web``: where the browser connects (docs/web-calls.md)."""

    call_id: Uuid
    websocket_url: str = Field(description="wss://.../web/{call_id}?token=...: opens one socket, once, before "
                                           "expires_at")
    expires_at: DateTime


# ---------------------------------------------------------------- campaigns
class Campaign(Resource):
    name: str
    status: CampaignStatus
    agent_id: Uuid
    number_id: Uuid | None = None
    system_message_template: str | None = None
    schedule_start_time: str = Field(examples=["09:00:00"])
    schedule_end_time: str = Field(examples=["17:00:00"])
    timezone: str = Field(examples=["Europe/Amsterdam"])
    calling_days: list[Annotated[int, Field(ge=1, le=7)]]
    max_concurrent_calls: int
    max_attempts: int
    retry_delay_minutes: int
    total_leads: int
    completed_leads: int
    failed_leads: int
    pending_leads: int
    active_calls: int
    error: str | None = None
    started_at: DateTime | None = None
    completed_at: DateTime | None = None


class CampaignLead(ResponseModel):
    id: Uuid
    campaign_id: Uuid
    phone_number: E164
    name: str | None = None
    variables: dict[str, Any]
    status: LeadStatus
    call_id: Uuid | None = None
    attempts: int
    last_attempt_at: DateTime | None = None
    next_attempt_at: DateTime | None = None
    last_outcome: str | None = None
    created_at: DateTime
    updated_at: DateTime


# ---------------------------------------------------------------- numbers, trunks, voices, usage
class PhoneNumber(Resource):
    phone_number: E164
    name: str | None = None
    agent_id: Uuid | None = None
    agent_name: str | None = None
    business_name: str | None = None
    transfer_trunk_id: Uuid | None = None
    transfer_trunk_name: str | None = None
    source: Literal["twilio", "sip_forwarding"] = Field(
        description="twilio: the deployment's Twilio account owns the number and its webhooks point here; "
                    "sip_forwarding: the customer forwards calls to the deployment.")
    is_active: bool


class SipTrunk(Resource):
    """A SIP trunk; ``password`` is write-only (``password_set``)."""

    name: str
    host: str
    port: int
    transport: Literal["udp", "tcp", "tls"]
    username: str | None = None
    password_set: bool


class Voice(ResponseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)  # ElevenLabs may add labels

    id: str
    name: str
    provider: Literal["elevenlabs", "xai"]
    language: str | None = None
    description: FreeForm | str | None = None
    preview_url: str | None = None
    style: str | None = Field(default=None, description="xAI realtime voices only")


class UsageLog(ResponseModel):
    id: str | None = None
    call_id: Uuid | None = None
    duration_seconds: int | float
    duration_sec: int | float
    minutes_used: int
    cost: float
    byok_stt: bool
    byok_llm: bool
    byok_tts: bool
    phone_number: str | None = None
    agent_name: str | None = None
    business_name: str | None = None
    call_type: Literal["phone", "web"]
    direction: Literal["inbound", "outbound"] | None = None
    created_at: DateTime | None = None


class UsageSummary(ResponseModel):
    total_calls: int
    total_duration_seconds: int | float
    total_duration_minutes: float
    total_minutes: int
    total_cost: float
    currency: str


# ---------------------------------------------------------------- organizations, BYOK, domains
class ChildOrganization(ResponseModel):
    id: Uuid
    name: str
    created_at: DateTime


class Organization(ResponseModel):
    id: Uuid
    name: str
    minutes_balance: float
    monthly_usage_minutes: float
    active_numbers: int
    active_agents: int
    active_calls: int
    has_local_models_access: bool
    parent_org_id: Uuid | None = None
    created_at: DateTime
    children: list[ChildOrganization] | None = Field(default=None, description="With include_children=true")


class OrganizationCreated(ResponseModel):
    id: Uuid
    name: str
    parent_org_id: Uuid | None = None
    api_key: str = Field(description="Shown once")
    created_at: DateTime


ByokProvider = Literal["deepgram", "openai", "elevenlabs", "xai", "resend", "gladia", "mistral"]


class ByokKeys(ResponseModel):
    """``<provider>_secret_id`` per provider: a reference to the stored key, or null (platform key)."""

    deepgram_secret_id: str | None = None
    openai_secret_id: str | None = None
    elevenlabs_secret_id: str | None = None
    xai_secret_id: str | None = None
    resend_secret_id: str | None = None
    gladia_secret_id: str | None = None
    mistral_secret_id: str | None = None


class ProviderModel(ResponseModel):
    id: str
    name: str
    default: bool


class Provider(ResponseModel):
    id: str
    name: str
    category: str
    docs_url: str
    byok: bool
    models: list[ProviderModel]


class Domain(ResponseModel):
    id: str | None = None
    org_id: Uuid
    domain_name: str | None = None
    resend_domain_id: str | None = None
    status: str | None = None
    region: str | None = None
    records: list[FreeForm]
    verified_at: DateTime | None = None
    created_at: DateTime
    updated_at: DateTime


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Error, Assistant, ToolTemplate, AnalysisTemplate, Call, Pagination, WebhookDelivery, OutboundCallResult,
    WebCallResult,
    Campaign, CampaignLead, PhoneNumber, SipTrunk, Voice, UsageLog, UsageSummary, Organization,
    OrganizationCreated, ByokKeys, Provider, Domain,
)


# ---------------------------------------------------------------- webhooks we send (docs/webhooks.md)
class WebhookCall(ResponseModel):
    id: Uuid
    type: Literal["inbound_phone_call", "outbound_phone_call", "web_call"]
    status: Literal["ringing", "in-progress", "ended", "ended-with-error"]
    campaign_id: Uuid | None = None
    lead_id: Uuid | None = None


class WebhookPhoneNumber(ResponseModel):
    id: Uuid | None = None
    number: str | None = None
    name: str | None = None


class WebhookCustomer(ResponseModel):
    number: str | None = None


class WebhookMessage(ResponseModel):
    """The body's ``message``; fields after ``assistant`` appear for the events named beside them."""

    type: Literal["assistant-request", "tool-calls", "status-update", "end-of-call-report", "transcript",
                  "speech-update", "conversation-update"]
    timestamp: DateTime = Field(description="When the event happened (a retry resends the same bytes)")
    sequence: int | None = Field(default=None, description="status-update, end-of-call-report: the event's "
                                                           "number within its call, from 1")
    call: WebhookCall
    phone_number: WebhookPhoneNumber | None = None
    customer: WebhookCustomer
    assistant: FreeForm = Field(description="The resolved assistant config with metadata, secrets removed")
    end_reason: EndReason | None = Field(default=None, description="status-update (final), end-of-call-report")
    error: str | None = Field(default=None, description="status-update of a failed call")
    duration_seconds: int | None = Field(default=None, description="end-of-call-report")
    summary: str | None = Field(default=None, description="end-of-call-report")
    messages: list[FreeForm] | None = Field(default=None, description="end-of-call-report: the transcript")
    started_at: DateTime | None = Field(default=None, description="end-of-call-report")
    ended_at: DateTime | None = Field(default=None, description="end-of-call-report")
    analysis: FreeForm | None = Field(default=None, description="end-of-call-report, when an analysis ran")
    recording_url: str | None = Field(default=None, description="end-of-call-report, when recorded")
    tool_call_list: list[FreeForm] | None = Field(default=None, description="tool-calls")
    tool_calls: list[FreeForm] | None = Field(default=None, description="tool-calls (same list)")


class WebhookEnvelope(ResponseModel):
    message: WebhookMessage


RESPONSE_MODELS = (*RESPONSE_MODELS, WebhookEnvelope)
