"""Typed events of the call-analysis tasks (the state machine's JSON, validated in and dumped out)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """Task events carry the execution's whole state; each task reads the part it needs."""

    model_config = ConfigDict(extra="ignore", defer_build=True)  # built on first use (cold start)


class AnalysisInput(Event):
    org_id: str
    call_id: str


class LoadResult(Event):
    mode: Literal["llm", "skip", "voicemail"]
    structured: bool = False
    summary: str | None = None  # set here for voicemail and skipped calls
    skip_reason: str | None = None


class SummaryResult(Event):
    summary: str


class StructuredResult(Event):
    analysis_result: Any = None
    analysis_error: str | None = None


class StoreInput(AnalysisInput):
    load: LoadResult
    summary_out: SummaryResult | None = None
    structured_out: StructuredResult | None = None


class StepFailure(AnalysisInput):
    step: str
    error: dict[str, Any] | None = None


class StepResult(Event):
    done: bool = True
    detail: str | None = None
