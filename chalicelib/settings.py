"""Deployment settings of the control plane: one pydantic-settings model, validated once, cached.

Every process that runs chalicelib code reads it: the API Lambda, the workflow-task and queue Lambdas (the
stack gives all Chalice functions one environment, so one model serves them) and the media service (which
adds ``media.settings.MediaSettings``). Each field is read from its upper-case name; the CDK stack sets the
same names, and ``tests/infra/test_settings_contract.py`` fails when the stack sets a variable no model
declares or leaves out a field marked ``deployed()`` (its default is a local-development value).

Nothing here talks to AWS at import. Secrets that live in Secrets Manager on AWS (named by ``*_SECRET_ARN``)
fill in their plain variables when the settings are first built (``chalicelib.secrets``); locally they come
from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

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


def deployed(default: Any = None, **kwargs: Any) -> Any:
    """A field every deployment sets (its default only suits local development): ``Field`` plus the mark
    ``deployed_fields`` reads."""
    return Field(default=default, json_schema_extra={"deployed": True}, **kwargs)


def deployed_fields(model: type[BaseModel]) -> list[str]:
    """The fields of a settings model that every deployment must set."""
    return [name for name, field in model.model_fields.items()
            if isinstance(field.json_schema_extra, Mapping) and field.json_schema_extra.get("deployed")]


class Settings(BaseSettings):
    """Environment of a control-plane process (names are the upper-case field names)."""

    # Empty variables count as unset (``KMS_KEY_ID=`` means no key, not an empty key id).
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, env_ignore_empty=True, frozen=True)

    stage: str = deployed("dev")
    # boto3's own variables (the Lambda runtime sets AWS_REGION).
    region: str = Field(default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))
    rate_limit_per_minute: int = Field(default=100, ge=1)
    control_rate_limit_per_minute: int = Field(default=10, ge=1)
    # Public base URL of the API deployment (no trailing slash, no /api/v1), e.g.
    # https://abc.execute-api.eu-west-1.amazonaws.com/api. Twilio callbacks are built from it.
    public_base_url: str = deployed("http://127.0.0.1:8000")
    # wss:// URL of the media service's Twilio stream endpoint.
    media_ws_url: str = deployed("ws://127.0.0.1:8765/twilio/stream")
    billing_enforcement: bool = False
    # Let webhooks, tools and assistant-request URLs reach loopback/private addresses (local development
    # only: the dev stack's receiver). Off, such URLs are refused at input and again at connect time.
    allow_private_urls: bool = False
    currency: str = "EUR"
    price_per_minute: float = 0.10
    default_minutes_balance: float = 0.0
    kms_key_id: str | None = deployed()
    # Used instead of KMS when no key id is configured (local development only).
    local_secret_key: str = "local-dev-secret-key-change-me"  # noqa: S105 - local-only default, set on AWS
    call_token_secret: str = deployed("local-call-token-secret")  # local-only default, set on AWS
    media_control_secret: str = deployed("local-media-control-secret")  # local-only default, set on AWS
    twilio_account_sid: str | None = deployed()
    twilio_auth_token: str | None = deployed()
    twilio_api_url: str | None = None
    webhook_queue_url: str | None = deployed()
    call_analysis_state_machine_arn: str | None = deployed()
    campaign_state_machine_arn: str | None = deployed()
    eval_state_machine_arn: str | None = deployed()
    log_caller_numbers: bool = True
    # Internal URL of the media service's control endpoint used before a call has an owner
    # (ring-time warm-up); after the stream connects the call row names the owning process.
    media_control_url: str | None = deployed()
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
    # Set by the Lambda runtime, not the stack: this process is a deployed function.
    aws_lambda_function_name: str | None = None

    def deployment_problem(self) -> str | None:
        """Why a deployed function must not run with these settings (fail closed), or None.

        It must not sign call tokens or control requests, or encrypt tenants' keys, with the well-known
        local defaults: better no request served than forged tokens accepted."""
        if not self.aws_lambda_function_name:
            return None
        fields = type(self).model_fields
        local = [f"{name.upper()} (or {name.upper()}_ARN)" for name in ("call_token_secret", "media_control_secret")
                 if getattr(self, name) == fields[name].default]
        if not self.kms_key_id and self.local_secret_key == fields["local_secret_key"].default:
            local.append("KMS_KEY_ID")
        return f"running on Lambda with local-development defaults; set {', '.join(local)}" if local else None

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @field_validator("eval_judge", "eval_caller_backend", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # A plain variable wins over its secret (the media task gets the values injected by ECS).
        return init_settings, env_settings, _DeploymentSecrets(settings_cls)


class _DeploymentSecrets(EnvSettingsSource):
    """The values of the secrets named by ``*_SECRET_ARN`` variables, read like environment variables."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        from chalicelib.secrets import deployment_secrets

        return {name.lower(): value for name, value in deployment_secrets().items() if value}


class SettingsRefused(RuntimeError):
    """The environment is invalid, or not fit for a deployed process (the message says what to set)."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read and validate the settings once per process.

    SettingsRefused, not pydantic's ValidationError, for a bad environment: the API maps ValidationError to a
    client's 400, and a deployment's mistake is a 500 (logged with this message)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        raise SettingsRefused(f"invalid settings: {exc}") from exc
    problem = settings.deployment_problem()
    if problem:
        raise SettingsRefused(problem)
    return settings


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
