"""Campaign API models (contract: Campaigns) and the typed events of the campaign-run tasks."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.models.common import ApiModel, LongStr, NonEmptyShortStr, ShortStr, UUIDStr

CampaignStatus = Literal["draft", "scheduled", "running", "paused", "completed", "cancelled"]
# What a client may set; `running` is the platform's own.
SettableStatus = Literal["draft", "scheduled", "paused", "completed", "cancelled"]
LeadStatus = Literal["pending", "calling", "completed", "failed", "no_answer", "busy", "voicemail", "skipped"]
TERMINAL_CAMPAIGN = ("completed", "cancelled")
ACTIVE_CAMPAIGN = ("scheduled", "running")
# Final lead statuses other than completed (counted in failed_leads).
FAILED_LEAD = ("failed", "no_answer", "busy", "voicemail", "skipped")
Outcome = Literal["completed", "no_answer", "busy", "voicemail", "failed"]

CAMPAIGN_DEFAULTS: dict[str, Any] = {
    "system_message_template": None,
    "number_id": None,
    "schedule_start_time": "09:00:00",
    "schedule_end_time": "17:00:00",
    "timezone": "Europe/Amsterdam",
    "max_concurrent_calls": 5,
    "max_attempts": 3,
    "retry_delay_minutes": 60,
    "calling_days": [1, 2, 3, 4, 5],
}

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")


def _time(value: str) -> str:
    if not _TIME_RE.match(value):
        raise ValueError("must be a time of day HH:MM:SS (24-hour)")
    return value if len(value) == 8 else value + ":00"


def _tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as Europe/Amsterdam") from None
    return value


def _days(value: list[int]) -> list[int]:
    if not value:
        raise ValueError("must name at least one day")
    if any(d < 1 or d > 7 for d in value):
        raise ValueError("days are ISO weekday numbers, 1 = Monday to 7 = Sunday")
    return sorted(set(value))


def _e164(value: str) -> str:
    from chalicelib.models.phone import normalize_e164

    return normalize_e164(value)


Variables = dict[str, Annotated[str, Field(max_length=10_000)]]


class LeadCreate(ApiModel):
    phone_number: ShortStr
    name: ShortStr | None = None
    variables: Variables | None = None

    @field_validator("phone_number")
    @classmethod
    def _phone(cls, value: str) -> str:
        return _e164(value)


class CampaignFields(ApiModel):
    name: NonEmptyShortStr | None = None
    status: SettableStatus | None = None
    system_message_template: LongStr | None = None
    schedule_start_time: str | None = None
    schedule_end_time: str | None = None
    timezone: ShortStr | None = None
    number_id: UUIDStr | None = None
    # No Map limit any more (one dispatcher task per run); Twilio CPS and media capacity bind first.
    max_concurrent_calls: int | None = Field(default=None, ge=1, le=1000)
    max_attempts: int | None = Field(default=None, ge=1, le=20)
    retry_delay_minutes: int | None = Field(default=None, ge=0, le=10_080)
    calling_days: list[int] | None = None

    @field_validator("schedule_start_time", "schedule_end_time")
    @classmethod
    def _times(cls, value: str | None) -> str | None:
        return None if value is None else _time(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _tz(value)

    @field_validator("calling_days")
    @classmethod
    def _calling_days(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else _days(value)


class CampaignCreate(CampaignFields):
    name: NonEmptyShortStr = Field(...)  # required here (optional in the fields it extends)
    agent_id: UUIDStr
    leads: Annotated[list[LeadCreate], Field(max_length=1000)] | None = None


class CampaignUpdate(CampaignFields):
    """PATCH body: every field optional; `null` clears nullable fields."""

    agent_id: UUIDStr | None = None


# ---------------------------------------------------------------- campaign-run task events
class TaskModel(BaseModel):
    """Task events carry the whole state of the execution; each task reads what it needs."""

    model_config = ConfigDict(extra="ignore", defer_build=True)  # built on first use (cold start)


class RunState(TaskModel):
    org_id: str
    campaign_id: str
    generation: int
    segment: int = 0
    ticks: int = 0
    dials_at_start: int = 0


class TickResult(RunState):
    action: Literal["run", "wait", "rotate", "stop"]
    wait_seconds: int = 0
    rotate_after: int = 0
    call_timeout: int = 60
    poll_seconds: int = 5
    max_polls: int = 20


class DialResult(TaskModel):
    call_id: str | None = None
    error: str | None = None


class DispatchResult(TaskModel):
    dialed: int = 0
    reason: str = ""


class RecordResult(TaskModel):
    outcome: str | None = None
    lead_status: str | None = None


class TaskAck(TaskModel):
    """Result of the tasks whose output the state machine discards (ResultPath null)."""

    ok: bool = True
    detail: str | None = None


class CampaignFailure(RunState):
    error: dict[str, Any] | None = None
