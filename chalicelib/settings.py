"""Deployment settings: one typed model read from the environment, validated once, cached.

Nothing here talks to AWS. Secrets that live in Secrets Manager on AWS are read lazily by
``chalicelib.secrets``; locally they come from the environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field

from chalicelib.aws import aws_region

# Every DynamoDB table the platform uses, by logical name. Physical name = TABLE_PREFIX + name,
# unless TABLE_<NAME> overrides it (CDK passes the generated names that way).
TABLE_NAMES = (
    "orgs",
    "api_keys",
    "rate_limits",
    "assistants",
    "tool_templates",
    "analysis_templates",
    "numbers",
    "number_claims",
    "sip_trunks",
    "byok_keys",
    "domains",
    "calls",
    "greetings",
    "campaigns",
    "leads",
    "test_suites",
    "test_runs",
    "test_results",
    "usage",
    "webhook_deliveries",
    "idempotency",
)


def table_name(logical: str) -> str:
    """Physical table name for a logical table (read from the environment, so tests can vary it)."""
    override = os.environ.get(f"TABLE_{logical.upper()}")
    if override:
        return override
    return os.environ.get("TABLE_PREFIX", "voice-dev-") + logical


class Settings(BaseModel):
    stage: str = "dev"
    region: str = "us-east-1"
    rate_limit_per_minute: int = Field(default=100, ge=1)
    control_rate_limit_per_minute: int = Field(default=10, ge=1)
    # Public base URL of the API deployment (no trailing slash, no /api/v1), e.g.
    # https://abc.execute-api.eu-west-1.amazonaws.com/api. Twilio callbacks are built from it.
    public_base_url: str = "http://127.0.0.1:8000"
    # wss:// URL of the media service's Twilio stream endpoint.
    media_ws_url: str = "ws://127.0.0.1:8765/twilio/stream"
    billing_enforcement: bool = False
    # Let webhooks, tools and assistant-request URLs reach loopback/private addresses (local development
    # only: the dev stack's receiver). Off, such URLs are refused at input and again at connect time.
    allow_private_urls: bool = False
    currency: str = "EUR"
    price_per_minute: float = 0.10
    default_minutes_balance: float = 0.0
    kms_key_id: str | None = None
    # Used instead of KMS when no key id is configured (local development only).
    local_secret_key: str = "local-dev-secret-key-change-me"  # noqa: S105 - local-only default, set on AWS
    call_token_secret: str = "local-call-token-secret"  # noqa: S105 - local-only default, set on AWS
    media_control_secret: str = "local-media-control-secret"  # noqa: S105 - local-only default, set on AWS
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_url: str | None = None
    webhook_queue_url: str | None = None
    call_analysis_state_machine_arn: str | None = None
    campaign_state_machine_arn: str | None = None
    eval_state_machine_arn: str | None = None
    log_caller_numbers: bool = True
    # Internal URL of the media service's control endpoint used before a call has an owner
    # (ring-time warm-up); after the stream connects the call row names the owning process.
    media_control_url: str | None = None
    # Local stand-in for Cloud Map's DNS: "name=addr,addr;name2=addr" answers for MEDIA_CONTROL_URL's host
    # (on AWS unset: the name resolves through DNS, one A record per media task).
    media_discovery_hosts: str | None = None
    # Provider endpoints: any protocol-faithful server can stand in (sandbox, proxies, regions).
    deepgram_url: str | None = None
    openai_base_url: str | None = None
    elevenlabs_url: str | None = None
    xai_url: str | None = None
    gladia_url: str | None = None
    mistral_url: str | None = None
    inworld_url: str | None = None
    resend_url: str | None = None
    # Workflows: call analysis model and campaign-run pacing (short values in tests).
    analysis_model: str = "gpt-4o-mini"
    campaign_call_timeout_seconds: int = Field(default=3900, ge=1)
    campaign_max_wait_seconds: int = Field(default=300, ge=1)
    campaign_rotate_after_dials: int = Field(default=300, ge=1)
    campaign_rotate_after_ticks: int = Field(default=200, ge=2)
    campaign_worker_poll_seconds: int = Field(default=5, ge=1)
    campaign_worker_max_polls: int = Field(default=20, ge=0)
    # The dispatcher task keeps slots full for this long per invocation (below the task Lambda's
    # timeout), polling the campaign row every ``campaign_dispatch_poll_ms`` and dialing with up to
    # ``campaign_dial_threads`` Twilio creates at once.
    campaign_dispatch_seconds: int = Field(default=60, ge=1, le=840)
    campaign_dispatch_poll_ms: int = Field(default=200, ge=10)
    campaign_dial_threads: int = Field(default=16, ge=1, le=100)
    # Call recordings: S3 bucket (unset = recording off), presigned GET lifetime on API reads and in
    # the end-of-call-report (longer: receivers may fetch it from a queue later). SigV4 allows 7 days, but
    # a URL signed with a role's temporary credentials also dies with that session (hours on Lambda).
    recordings_bucket: str | None = None
    # Evals (docs/evals.md): where simulated callers are reached (the sandbox control server in the
    # dev stack; unset = no simulated-caller backend), the judge (``llm``, or ``sandbox``: the
    # deterministic one), and how long a scenario's call may take before it counts as failed.
    sandbox_control_url: str | None = None
    # ``auto``: scripted lines through the sandbox (above) when it is set, everything else (personas; any
    # scenario on AWS) through a media task's caller on a web call; ``media``/``sandbox`` force one.
    eval_caller_backend: Literal["auto", "media", "sandbox"] = "auto"
    eval_judge: Literal["llm", "sandbox"] = "llm"
    eval_call_timeout_seconds: int = Field(default=900, ge=1)
    # One poll task waits this long for the call to end before handing back to the state machine
    # (below the task Lambda's timeout; bounds the execution's history per scenario).
    eval_poll_seconds: int = Field(default=60, ge=1, le=840)
    recording_url_expiry_seconds: int = Field(default=3600, ge=60, le=604800)
    recording_webhook_url_expiry_seconds: int = Field(default=21600, ge=60, le=604800)


def _caller_backend(raw: str) -> Literal["auto", "media", "sandbox"]:
    value = raw.strip().lower()
    return "media" if value == "media" else "sandbox" if value == "sandbox" else "auto"


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read and validate the settings once per process."""
    from chalicelib.secrets import deployment_secrets

    # On AWS, secrets named by *_SECRET_ARN fill in their plain variables (a plain variable still wins).
    env = {**deployment_secrets(), **os.environ}
    return Settings(
        stage=env.get("STAGE", "dev"),
        region=aws_region(),
        rate_limit_per_minute=int(env.get("RATE_LIMIT_PER_MINUTE", "100")),
        control_rate_limit_per_minute=int(env.get("CONTROL_RATE_LIMIT_PER_MINUTE", "10")),
        public_base_url=env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        media_ws_url=env.get("MEDIA_WS_URL", "ws://127.0.0.1:8765/twilio/stream"),
        billing_enforcement=_env_bool("BILLING_ENFORCEMENT", False),
        allow_private_urls=_env_bool("ALLOW_PRIVATE_URLS", False),
        currency=env.get("CURRENCY", "EUR"),
        price_per_minute=float(env.get("PRICE_PER_MINUTE", "0.10")),
        default_minutes_balance=float(env.get("DEFAULT_MINUTES_BALANCE", "0")),
        kms_key_id=env.get("KMS_KEY_ID") or None,
        local_secret_key=env.get("LOCAL_SECRET_KEY", "local-dev-secret-key-change-me"),
        call_token_secret=env.get("CALL_TOKEN_SECRET", "local-call-token-secret"),
        media_control_secret=env.get("MEDIA_CONTROL_SECRET", "local-media-control-secret"),
        twilio_account_sid=env.get("TWILIO_ACCOUNT_SID") or None,
        twilio_auth_token=env.get("TWILIO_AUTH_TOKEN") or None,
        twilio_api_url=env.get("TWILIO_API_URL") or None,
        webhook_queue_url=env.get("WEBHOOK_QUEUE_URL") or None,
        call_analysis_state_machine_arn=env.get("CALL_ANALYSIS_STATE_MACHINE_ARN") or None,
        campaign_state_machine_arn=env.get("CAMPAIGN_STATE_MACHINE_ARN") or None,
        eval_state_machine_arn=env.get("EVAL_STATE_MACHINE_ARN") or None,
        log_caller_numbers=_env_bool("LOG_CALLER_NUMBERS", True),
        media_control_url=env.get("MEDIA_CONTROL_URL") or None,
        media_discovery_hosts=env.get("MEDIA_DISCOVERY_HOSTS") or None,
        deepgram_url=env.get("DEEPGRAM_URL") or None,
        openai_base_url=env.get("OPENAI_BASE_URL") or None,
        elevenlabs_url=env.get("ELEVENLABS_URL") or None,
        xai_url=env.get("XAI_URL") or None,
        gladia_url=env.get("GLADIA_URL") or None,
        mistral_url=env.get("MISTRAL_URL") or None,
        inworld_url=env.get("INWORLD_URL") or None,
        resend_url=env.get("RESEND_URL") or None,
        analysis_model=env.get("ANALYSIS_MODEL", "gpt-4o-mini"),
        campaign_call_timeout_seconds=int(env.get("CAMPAIGN_CALL_TIMEOUT_SECONDS", "3900")),
        campaign_max_wait_seconds=int(env.get("CAMPAIGN_MAX_WAIT_SECONDS", "300")),
        campaign_rotate_after_dials=int(env.get("CAMPAIGN_ROTATE_AFTER_DIALS", "300")),
        campaign_rotate_after_ticks=int(env.get("CAMPAIGN_ROTATE_AFTER_TICKS", "200")),
        campaign_worker_poll_seconds=int(env.get("CAMPAIGN_WORKER_POLL_SECONDS", "5")),
        campaign_worker_max_polls=int(env.get("CAMPAIGN_WORKER_MAX_POLLS", "20")),
        campaign_dispatch_seconds=int(env.get("CAMPAIGN_DISPATCH_SECONDS", "60")),
        campaign_dispatch_poll_ms=int(env.get("CAMPAIGN_DISPATCH_POLL_MS", "200")),
        campaign_dial_threads=int(env.get("CAMPAIGN_DIAL_THREADS", "16")),
        recordings_bucket=env.get("RECORDINGS_BUCKET") or None,
        sandbox_control_url=env.get("SANDBOX_CONTROL_URL") or None,
        eval_caller_backend=_caller_backend(env.get("EVAL_CALLER_BACKEND", "auto")),
        eval_judge="sandbox" if env.get("EVAL_JUDGE", "llm").strip().lower() == "sandbox" else "llm",
        eval_call_timeout_seconds=int(env.get("EVAL_CALL_TIMEOUT_SECONDS", "900")),
        eval_poll_seconds=int(env.get("EVAL_POLL_SECONDS", "60")),
        recording_url_expiry_seconds=int(env.get("RECORDING_URL_EXPIRY_SECONDS", "3600")),
        recording_webhook_url_expiry_seconds=int(env.get("RECORDING_WEBHOOK_URL_EXPIRY_SECONDS", "21600")),
    )


# Platform (deployment-wide) provider keys: environment locally, Secrets Manager on AWS.
PLATFORM_KEY_ENV = {
    "deepgram": "DEEPGRAM_API_KEY",
    "openai": "OPENAI_API_KEY",
    "elevenlabs": "ELEVENLABS_API_KEY",
    "xai": "XAI_API_KEY",
    "resend": "RESEND_API_KEY",
    "gladia": "GLADIA_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "inworld": "INWORLD_API_KEY",
}


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
