"""The one typed configuration of a deployment stage: names, sizes and switches, validated once.

Defaults live here per stage; any field can be overridden from CDK context, either one key at a time
(``cdk deploy -c stage=prod -c certificate_arn=arn:...``) or as an object under ``voice:<stage>`` in
``cdk.json``. Nothing in the stacks hard-codes a name or a size: it reads this model.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

REPO_ROOT = Path(__file__).resolve().parents[1]

Stage = Literal["dev", "prod"]

# The values CloudWatch Logs accepts for RetentionInDays.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)

# Custom metric the media service publishes (one datapoint per task, the calls it holds right now);
# the Fargate service scales on its per-task average. docs/deploy.md documents the contract.
ACTIVE_CALLS_NAMESPACE = "VoicePlatform"
ACTIVE_CALLS_METRIC = "ActiveCalls"
ACTIVE_CALLS_DIMENSION = "Service"


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: Stage
    app_name: str = Field(default="voice", pattern=r"^[a-z][a-z0-9-]{1,20}$")
    account: str | None = None  # None: environment-agnostic (the CLI's credentials decide)
    region: str | None = None

    # Data: prod keeps everything when the stack goes away.
    retain_data: bool = False
    deletion_protection: bool = False
    point_in_time_recovery: bool = True
    log_retention_days: int = 30

    # Control plane (Lambda). Step Functions tasks and the queue consumer get the longer timeout.
    api_gateway_stage: str = "api"
    lambda_memory_mb: int = Field(default=512, ge=128, le=10240)
    api_timeout_seconds: int = Field(default=30, ge=3, le=900)
    task_timeout_seconds: int = Field(default=120, ge=3, le=900)
    # Campaign dispatcher (docs/scale.md): one task keeps a run's slots full for this long, dialing
    # with this many Twilio creates at once; it must end well before the task timeout.
    campaign_dispatch_seconds: int = Field(default=60, ge=5, le=840)
    campaign_dial_threads: int = Field(default=16, ge=1, le=100)
    # Absolute base URL Twilio calls back (no trailing slash). Breaks the API <-> handler cycle: the
    # handler cannot read its own API's URL from the template. Set it after the first deploy (ApiUrl
    # output) or use api_domain.
    public_base_url: str | None = None
    api_domain: str | None = None
    api_certificate_arn: str | None = None  # ACM certificate for api_domain, in us-east-1 (edge-optimized API)

    # Network.
    max_azs: int = Field(default=2, ge=2, le=3)
    nat_gateways: int = Field(default=1, ge=1, le=3)

    # Media service (Fargate) and its load balancer.
    media_domain: str | None = None  # e.g. media.example.com: the wss:// host Twilio connects to
    certificate_arn: str | None = None  # ACM certificate for media_domain (TLS on the load balancer)
    hosted_zone_id: str | None = None  # optional: create the DNS alias record for media_domain
    hosted_zone_name: str | None = None
    media_port: int = 8765  # Twilio Media Streams WebSocket + /healthz (behind the load balancer)
    media_control_port: int = 8766  # internal control endpoint (only the Lambdas may reach it)
    media_stream_path: str = "/twilio/stream"
    media_cpu: int = 1024
    media_memory_mib: int = 2048
    media_min_tasks: int = Field(default=1, ge=1)
    media_max_tasks: int = Field(default=4, ge=1)
    target_calls_per_task: int = Field(default=20, ge=1)
    # MEDIA_MAX_CALLS of each 1-vCPU task (one Python process serves one core): the bench's calls per core.
    media_max_calls: int = Field(default=30, ge=1)
    cpu_target_percent: int = Field(default=60, ge=10, le=90)
    # Long enough for a call to finish on a task being drained (ALB maximum is 3600 s).
    deregistration_delay_seconds: int = Field(default=900, ge=0, le=3600)
    media_context_dir: str = str(REPO_ROOT)  # Docker build context (the media image also needs chalicelib/)
    media_dockerfile: str = "media/Dockerfile"  # relative to media_context_dir

    # Workflows: the ASL files (JSONPath) the workflows code ships.
    asl_dir: str = str(REPO_ROOT / "chalicelib" / "workflows" / "asl")

    # Alarms go to an SNS topic; an optional e-mail subscription.
    alarm_email: str | None = None
    webhook_max_receive_count: int = Field(default=5, ge=1)

    # Call recordings (S3): objects expire after this many days (lifecycle rule).
    recordings_retention_days: int = Field(default=90, ge=1, le=3650)

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, v: int) -> int:
        if v not in LOG_RETENTION_DAYS:
            raise ValueError(f"log_retention_days must be one of {LOG_RETENTION_DAYS}")
        return v

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _check(self) -> StageConfig:
        if self.media_min_tasks > self.media_max_tasks:
            raise ValueError("media_min_tasks must not exceed media_max_tasks")
        if bool(self.certificate_arn) != bool(self.media_domain):
            raise ValueError("certificate_arn and media_domain go together (TLS for the media WebSocket)")
        if bool(self.hosted_zone_id) != bool(self.hosted_zone_name):
            raise ValueError("hosted_zone_id and hosted_zone_name go together")
        if bool(self.api_domain) != bool(self.api_certificate_arn):
            raise ValueError("api_domain and api_certificate_arn go together")
        if self.campaign_dispatch_seconds + 30 > self.task_timeout_seconds:
            raise ValueError("campaign_dispatch_seconds must leave 30 s of task_timeout_seconds "
                             "(a pass of dials may still be running when the time is up)")
        if self.media_port == self.media_control_port:
            raise ValueError("media_control_port must differ from media_port (it must not be public)")
        if self.stage == "prod" and not self.certificate_arn:
            # Twilio only connects Media Streams over wss://: prod cannot work without TLS.
            raise ValueError("prod needs certificate_arn and media_domain (Twilio requires wss://); "
                             "pass -c certificate_arn=arn:aws:acm:... -c media_domain=media.example.com")
        return self

    # ------------------------------------------------------------------ derived names
    @property
    def stack_name(self) -> str:
        return f"{self.app_name}-{self.stage}"

    @property
    def prefix(self) -> str:
        return f"{self.app_name}-{self.stage}-"

    def table_name(self, logical: str) -> str:
        """Physical table name; the same rule as chalicelib.settings.table_name with TABLE_PREFIX."""
        return self.prefix + logical

    @property
    def webhook_queue_name(self) -> str:
        return self.prefix + "webhook-retries"

    @property
    def webhook_dlq_name(self) -> str:
        return self.prefix + "webhook-retries-dlq"

    @property
    def call_analysis_state_machine_name(self) -> str:
        return self.prefix + "call-analysis"

    @property
    def campaign_state_machine_name(self) -> str:
        return self.prefix + "campaign-run"

    @property
    def eval_state_machine_name(self) -> str:
        return self.prefix + "eval-run"

    @property
    def media_service_name(self) -> str:
        """Also the value of the ActiveCalls metric's Service dimension."""
        return self.prefix + "media"

    @property
    def service_discovery_namespace(self) -> str:
        return f"{self.stage}.{self.app_name}.internal"

    @property
    def media_control_url(self) -> str:
        return f"http://media.{self.service_discovery_namespace}:{self.media_control_port}"

    @property
    def tls(self) -> bool:
        return bool(self.certificate_arn)


STAGE_DEFAULTS: dict[str, dict[str, Any]] = {
    "dev": {},
    "prod": {
        "retain_data": True,
        "deletion_protection": True,
        "log_retention_days": 90,
        "nat_gateways": 2,
        "media_min_tasks": 2,
        "media_max_tasks": 50,
        "deregistration_delay_seconds": 3600,
        "lambda_memory_mb": 1024,
    },
}

_FIELDS = set(StageConfig.model_fields)


def load_config(stage: str, overrides: Mapping[str, Any] | None = None) -> StageConfig:
    """The stage's defaults with ``overrides`` applied (unknown keys are ignored: CDK adds its own)."""
    if stage not in STAGE_DEFAULTS:
        raise ValueError(f"unknown stage {stage!r}: use -c stage=dev or -c stage=prod")
    values: dict[str, Any] = {**STAGE_DEFAULTS[stage], "stage": stage}
    for key, value in (overrides or {}).items():
        if key in _FIELDS and key != "stage" and value is not None:
            values[key] = value
    return StageConfig.model_validate(values)


def config_from_context(node: Any) -> StageConfig:
    """Read the stage (``-c stage=...``, default dev) and its overrides from a CDK construct node."""
    stage = node.try_get_context("stage") or "dev"
    overrides: dict[str, Any] = dict(node.try_get_context(f"voice:{stage}") or {})
    for key in _FIELDS:
        value = node.try_get_context(key)
        if value is not None and key != "stage":
            overrides[key] = value
    return load_config(stage, overrides)
