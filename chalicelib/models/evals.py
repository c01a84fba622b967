"""Evals: test suite and test run API models, and the typed events of the eval-run tasks (docs/evals.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.models.common import ApiModel, FreeForm, LongStr, NonEmptyShortStr, ShortStr, UUIDStr

RunStatus = Literal["queued", "running", "completed", "failed"]
ACTIVE_RUN = ("queued", "running")
Criterion = Annotated[str, Field(min_length=1, max_length=2000)]


class CallerLine(ApiModel):
    """One scripted caller turn with its timing."""

    text: LongStr = ""
    pause_ms: int = Field(default=200, ge=0, le=10_000, description="Silence before speaking, after the agent")
    barge_in_after_ms: int | None = Field(default=None, ge=0, le=30_000,
                                          description="Speak over the agent this long after its audio starts")
    dtmf: Annotated[str, Field(pattern=r"^[0-9*#wW]{1,32}$")] | None = None

    @model_validator(mode="after")
    def _something(self) -> CallerLine:
        if not self.text.strip() and not self.dtmf:
            raise ValueError("a line needs 'text' or 'dtmf'")
        return self


class CallerSpec(ApiModel):
    """Who calls: scripted ``lines`` or a persona's ``instructions`` (exactly one)."""

    lines: Annotated[list[LongStr | CallerLine], Field(min_length=1, max_length=50)] | None = None
    instructions: Annotated[str, Field(min_length=1, max_length=10_000)] | None = None
    voice: ShortStr | None = Field(
        default=None, description="Caller voice: the ElevenLabs voice id of a media caller (default "
        "EVAL_CALLER_VOICE_ID); an espeak-ng voice (en-gb, de+f3, f3) for the sandbox's phone-path caller")
    language: ShortStr | None = None
    pace: float = Field(default=1.0, ge=0.5, le=2.0, description="Speaking pace (1.0 = normal)")
    pause_ms: int | None = Field(default=None, ge=0, le=10_000,
                                 description="Default silence before each line (think time)")
    interrupt_after_ms: int | None = Field(default=None, ge=0, le=30_000,
                                           description="Default barge-in: speak this long after the agent starts")

    @model_validator(mode="after")
    def _one_kind(self) -> CallerSpec:
        if (self.lines is None) == (self.instructions is None):
            raise ValueError("give exactly one of 'lines' (scripted) or 'instructions' (persona)")
        return self


class ToolCalledCheck(ApiModel):
    type: Literal["tool_called"]
    name: NonEmptyShortStr
    arguments_schema: FreeForm | None = Field(default=None, description="JSON schema the arguments must match")


class ToolNotCalledCheck(ApiModel):
    type: Literal["tool_not_called"]
    name: NonEmptyShortStr


class EndReasonCheck(ApiModel):
    type: Literal["end_reason"]
    equals: Annotated[list[ShortStr], Field(min_length=1, max_length=20)] | ShortStr


class TranscriptContainsCheck(ApiModel):
    type: Literal["transcript_contains", "transcript_not_contains"]
    text: Annotated[str, Field(min_length=1, max_length=2000)]
    role: Literal["assistant", "user", "any"] = "assistant"


class StructuredDataCheck(ApiModel):
    type: Literal["structured_data_equals"]
    key: NonEmptyShortStr
    value: Any = None


class LatencyCheck(ApiModel):
    type: Literal["voice_to_voice_p95_below_ms"]
    ms: int = Field(ge=1, le=60_000)


class NoUnansweredTurnCheck(ApiModel):
    type: Literal["no_unanswered_turn"]


Check = Annotated[ToolCalledCheck | ToolNotCalledCheck | EndReasonCheck | TranscriptContainsCheck
                  | StructuredDataCheck | LatencyCheck | NoUnansweredTurnCheck, Field(discriminator="type")]


class Scenario(ApiModel):
    name: NonEmptyShortStr
    caller: CallerSpec
    max_turns: int = Field(default=10, ge=1, le=50)
    criteria: Annotated[list[Criterion], Field(max_length=20)] = Field(default_factory=list)
    expect: Annotated[list[Check], Field(max_length=30)] = Field(default_factory=list)


Scenarios = Annotated[list[Scenario], Field(min_length=1, max_length=100)]


def _unique_names(scenarios: list[Scenario] | None) -> None:
    seen: set[str] = set()
    for s in scenarios or []:
        if s.name in seen:
            raise ValueError(f"scenario name {s.name!r} is used twice")
        seen.add(s.name)


class EvalSuiteCreate(ApiModel):

    name: NonEmptyShortStr
    assistant_id: UUIDStr
    description: Annotated[str, Field(max_length=10_000)] | None = None
    scenarios: Scenarios

    @field_validator("scenarios")
    @classmethod
    def _names(cls, value: list[Scenario] | None) -> list[Scenario] | None:
        _unique_names(value)
        return value


class EvalSuiteUpdate(ApiModel):

    name: NonEmptyShortStr | None = None
    assistant_id: UUIDStr | None = None
    description: Annotated[str, Field(max_length=10_000)] | None = None
    scenarios: Scenarios | None = None

    @field_validator("scenarios")
    @classmethod
    def _names(cls, value: list[Scenario] | None) -> list[Scenario] | None:
        _unique_names(value)
        return value


class AssistantVersion(ApiModel):
    """The assistant a run calls: a saved one, optionally with overrides (hybrid mode)."""

    assistant_id: UUIDStr | None = None
    assistant_overrides: FreeForm | None = None


class EvalRunCreate(AssistantVersion):

    concurrency: int = Field(default=3, ge=1, le=20, description="Scenario calls at once")
    repeat: int = Field(default=1, ge=1, le=20, description="Attempts per scenario (pass rate)")
    compare: AssistantVersion | None = Field(
        default=None, description="A second assistant version: every scenario runs against both (A/B)")


# ---------------------------------------------------------------- eval-run task events
class Event(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)  # built on first use (cold start)


class RunRef(Event):
    org_id: str
    run_id: str


class RunItem(Event):
    """One Map iteration: a scenario attempt against one assistant version."""

    org_id: str
    run_id: str
    index: int
    scenario_index: int
    variant: Literal["a", "b"] = "a"
    attempt: int = 1


class Prepared(RunRef):
    items: list[RunItem]
    concurrency: int


class ScenarioState(RunItem):
    """A scenario attempt between its tasks: the call placed, when to give up, whether it is done."""

    call_id: str | None = None
    deadline: float = 0.0  # unix seconds
    done: bool = False
    passed: bool | None = None


class RunFailure(RunRef):
    error: dict[str, Any] | None = None


class TaskAck(Event):
    ok: bool = True
    detail: str | None = None
