"""Post-call analysis use cases, one per step of ``call_analysis.asl.json`` (docs/workflows.md).

load -> summarize -> structured data -> store -> end-of-call report -> notification email ->
usage and balance -> GDPR cleanup. Each step is safe to retry: results are written onto the call
row, usage is claimed on the call before it is written (never billed twice).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from chalicelib import errors
from chalicelib.jsonvalue import as_list, as_object, schema_errors
from chalicelib.settings import get_settings
from chalicelib.storage.calls import Call, CallRepository
from chalicelib.templating import render
from chalicelib.timeutil import now_iso
from chalicelib.workflows.events import (
    AnalysisInput,
    LoadResult,
    StepFailure,
    StepResult,
    StoreInput,
    StructuredResult,
    SummaryResult,
)

log = logging.getLogger("voice.analysis")

CONVERSATION_ROLES = ("user", "assistant", "bot", "customer")
DEFAULT_STRUCTURED_SYSTEM = (
    "You extract structured data from a phone call transcript. Reply with one JSON object that "
    "matches this JSON Schema exactly:\n{{schema}}"
)
DEFAULT_STRUCTURED_USER = "Transcript:\n{{transcript}}\n\nThe call ended because: {{ended_reason}}"
# Keys removed from the stored call in GDPR mode once the end-of-call report is delivered.
GDPR_KEYS = ("messages", "transcript", "summary", "analysis_result", "analysis_error", "structured_data")


class CallNotFound(Exception):
    """The call row does not exist (nothing to analyse)."""


def _repo() -> CallRepository:
    return CallRepository()


def _call(org_id: str, call_id: str) -> Call:
    call = _repo().get(org_id, call_id)
    if call is None:
        raise CallNotFound(f"call {call_id} not found")
    return call


def _config(call: Call) -> dict[str, Any]:
    return call.data.get("config") or {}


def _plan(call: Call) -> dict[str, Any]:
    return _config(call).get("analysis_plan") or {}


def _structured_plan(call: Call) -> dict[str, Any]:
    plan = _plan(call)
    return plan.get("structured_data_plan") or plan.get("structuredDataPlan") or {}


def _conversation(call: Call) -> list[dict[str, Any]]:
    messages = [as_object(m) for m in as_list(call.data.get("messages"))]
    return [m for m in messages if m.get("role") in CONVERSATION_ROLES and str(m.get("content") or "").strip()]


def transcript_text(call: Call) -> str:
    """The conversation as ``Caller: ...`` / ``Assistant: ...`` lines."""
    lines: list[str] = []
    for m in _conversation(call):
        who = "Caller" if m["role"] in ("user", "customer") else "Assistant"
        lines.append(f"{who}: {str(m['content']).strip()}")
    return "\n".join(lines)


def _is_voicemail(call: Call) -> bool:
    answered_by = str(call.data.get("answered_by") or "")
    return call.data.get("end_reason") == "voicemail" or answered_by.startswith("machine")


# ---------------------------------------------------------------- step 1: load and decide
def load(inp: AnalysisInput) -> LoadResult:
    call = _call(inp.org_id, inp.call_id)
    plan, sdp = _plan(call), _structured_plan(call)
    structured = bool(sdp.get("enabled"))
    if _is_voicemail(call):
        left = " and the assistant left a message" if _config(call).get("voicemail_message") else ""
        return LoadResult(mode="voicemail", summary=f"Voicemail detected: the call reached an answering machine{left}.",
                          skip_reason="voicemail")
    threshold = int(plan.get("min_messages_threshold", plan.get("minMessagesThreshold", 2)) or 0)
    count = len(_conversation(call))
    if count < threshold:
        return LoadResult(mode="skip", summary="", skip_reason=f"below min_messages_threshold ({count} < {threshold})")
    if plan.get("summary_enabled") is False and not structured:
        return LoadResult(mode="skip", summary="", skip_reason="analysis disabled")
    return LoadResult(mode="llm", structured=structured)


def _llm(org_id: str):
    from chalicelib.integrations.openai_analysis import AnalysisLLM
    from chalicelib.services.byok import provider_key

    key, _ = provider_key(org_id, "openai")
    if not key:
        raise errors.InvalidRequest("No OpenAI key: set a BYOK key for openai or the platform's OPENAI_API_KEY.")
    return AnalysisLLM(key)


# ---------------------------------------------------------------- step 2: summary
def summarize(inp: AnalysisInput) -> SummaryResult:
    call = _call(inp.org_id, inp.call_id)
    if _plan(call).get("summary_enabled") is False:
        return SummaryResult(summary="")
    return SummaryResult(summary=_llm(inp.org_id).summarize(transcript_text(call)))


# ---------------------------------------------------------------- step 3: structured data
def _fill(text: str, values: dict[str, str], single_braces: bool) -> str:
    # Analysis templates also document {transcript}-style placeholders; unknown names stay as written.
    return render(text, values, single_braces=single_braces)


def structured_request(call: Call) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The messages and JSON schema for the structured-data step (plan messages or template)."""
    sdp = _structured_plan(call)
    schema = as_object(sdp.get("schema") or sdp.get("schema_"))
    messages: list[dict[str, Any]] = [dict(as_object(m)) for m in as_list(sdp.get("messages"))]
    single = False
    if sdp.get("template_id"):
        from chalicelib.services.templates import get_analysis_template_data

        template = get_analysis_template_data(call.org_id, sdp["template_id"])
        if template is None:
            raise errors.NotFound(f"Analysis template {sdp['template_id']} not found.")
        schema = schema or as_object(template.get("schema"))
        if not messages:
            single = True
            messages = [{"role": "system", "content": template.get("system_prompt") or DEFAULT_STRUCTURED_SYSTEM},
                        {"role": "user", "content": template.get("user_prompt") or DEFAULT_STRUCTURED_USER}]
    if not schema:
        raise errors.InvalidRequest("structured_data_plan has no schema (and no template with one).")
    if not messages:
        messages = [{"role": "system", "content": DEFAULT_STRUCTURED_SYSTEM},
                    {"role": "user", "content": DEFAULT_STRUCTURED_USER}]
    reason = str(call.data.get("end_reason") or "")
    values = {"schema": json.dumps(schema, indent=2), "transcript": transcript_text(call), "ended_reason": reason,
              "endedReason": reason, "duration": str(call.data.get("duration_seconds") or 0),
              "caller_number": str(call.data.get("caller_phone") or ""), "summary": str(call.data.get("summary") or "")}
    filled = [{"role": str(m.get("role", "user")), "content": _fill(str(m.get("content") or ""), values, single)}
              for m in messages]
    if not any("{{schema}}" in str(m.get("content") or "") for m in messages) and not single:
        # The schema always reaches the model (structured outputs enforce it; the text helps too).
        filled.insert(0, {"role": "system", "content": _fill(DEFAULT_STRUCTURED_SYSTEM, values, False)})
    return filled, schema


def extract_structured(inp: AnalysisInput) -> StructuredResult:
    """Structured outputs, validated with jsonschema; one repair round trip, then stored as is
    with the validation error."""
    from chalicelib.integrations.openai_analysis import parse_json

    call = _call(inp.org_id, inp.call_id)
    messages, schema = structured_request(call)
    llm = _llm(inp.org_id)
    reply = llm.extract(messages, schema)
    problems: list[str] = []
    value: Any = None
    for attempt in range(2):
        try:
            value = parse_json(reply)
            problems = schema_errors(schema, value)
        except ValueError as exc:
            value, problems = None, [f"not valid JSON: {exc}"]
        if not problems:
            return StructuredResult(analysis_result=value)
        if attempt == 0:
            repair = messages + [
                {"role": "assistant", "content": reply},
                {"role": "user", "content": "That JSON does not match the schema:\n- " + "\n- ".join(problems)
                 + "\nReply with the corrected JSON object only."},
            ]
            reply = llm.extract(repair, schema)
    return StructuredResult(analysis_result=value, analysis_error="schema validation failed: " + "; ".join(problems))


# ---------------------------------------------------------------- step 4: store
def store(inp: StoreInput) -> StepResult:
    updates: dict[str, Any] = {"summary": inp.load.summary or ""}
    if inp.summary_out is not None:
        updates["summary"] = inp.summary_out.summary
    if inp.load.skip_reason:
        updates["analysis_skipped"] = inp.load.skip_reason
    if inp.structured_out is not None:
        updates["analysis_result"] = inp.structured_out.analysis_result
        updates["analysis_error"] = inp.structured_out.analysis_error
    updates["analyzed_at"] = now_iso()
    if _repo().update_data(inp.org_id, inp.call_id, updates) is None:
        raise CallNotFound(f"call {inp.call_id} not found")
    return StepResult()


# ---------------------------------------------------------------- step 5: end-of-call report
def deliver_report(inp: AnalysisInput) -> StepResult:
    from chalicelib.webhooks.delivery import emit

    call = _call(inp.org_id, inp.call_id)
    extra: dict[str, Any] = {"summary": call.data.get("summary") or ""}
    if call.data.get("analysis_result") is not None:
        extra["analysis"] = call.data.get("analysis_result")
    emit(inp.org_id, "end-of-call-report", call, extra)
    _repo().update_data(inp.org_id, inp.call_id, {"report_emitted_at": now_iso()})
    return StepResult()


# ---------------------------------------------------------------- step 6: notification email
def notification_body(call: Call) -> tuple[str, str]:
    cfg = _config(call)
    name = cfg.get("name") or "your assistant"
    other = call.data.get("caller_phone") if call.direction == "inbound" else call.data.get("customer_number")
    other = other or call.data.get("caller_phone") or call.data.get("destination") or "unknown number"
    if cfg.get("gdpr_mode"):
        from chalicelib.observability import mask_number

        other = mask_number(other) or "unknown number"
    subject = f"Call {call.direction or ''} with {other} ({name})".replace("  ", " ")
    lines = [f"Assistant: {name}", f"Direction: {call.direction}", f"Number: {other}",
             f"Duration: {int(call.data.get('duration_seconds') or 0)} s",
             f"Ended: {call.data.get('end_reason') or call.status}", "", "Summary:",
             call.data.get("summary") or "(no summary)"]
    if call.data.get("analysis_result") is not None:
        lines += ["", "Structured data:", json.dumps(call.data["analysis_result"], indent=2, ensure_ascii=False)]
    lines += ["", f"Call id: {call.id}"]
    return subject, "\n".join(lines)


def notify(inp: AnalysisInput) -> StepResult:
    call = _call(inp.org_id, inp.call_id)
    to = _config(call).get("notification_email")
    if not to:
        return StepResult(done=False, detail="no notification_email")
    if call.data.get("notification_sent_at"):
        return StepResult(detail="already sent")
    from chalicelib.services.domains import send_call_notification

    subject, body = notification_body(call)
    email_id = send_call_notification(inp.org_id, to, subject, body)
    _repo().update_data(inp.org_id, inp.call_id, {"notification_sent_at": now_iso(), "notification_id": email_id})
    return StepResult(done=email_id is not None, detail=email_id)


# ---------------------------------------------------------------- step 7: usage and balance
def _byok(org_id: str, provider: str | None) -> bool:
    if not provider:
        return False
    from chalicelib.services.byok import provider_key

    try:
        return provider_key(org_id, provider)[1]
    except Exception:  # noqa: BLE001 - a missing/undecryptable key means "not BYOK" for billing flags
        return False


def record_usage(inp: AnalysisInput) -> StepResult:
    """One usage row and an atomic balance decrement, at most once per call: the call row is
    marked first, so a retry after a crash never bills twice."""
    call = _call(inp.org_id, inp.call_id)
    if call.data.get("test_run_id"):
        return StepResult(detail="test call of an eval run: not billed")
    if call.data.get("usage_claimed_at"):
        return StepResult(detail="already recorded")
    _repo().update_data(inp.org_id, inp.call_id, {"usage_claimed_at": now_iso()})
    cfg = _config(call)
    seconds = max(int(round(float(call.data.get("duration_seconds") or 0))), 0)
    minutes = math.ceil(seconds / 60)
    s = get_settings()
    cost = round(minutes * s.price_per_minute, 4)
    record = {
        "call_id": call.id, "duration_seconds": seconds, "duration_sec": seconds, "minutes_used": minutes,
        "cost": cost, "currency": s.currency,
        "byok_stt": _byok(inp.org_id, as_object(cfg.get("stt_config")).get("provider")),
        "byok_llm": _byok(inp.org_id, as_object(cfg.get("llm_config")).get("provider")),
        "byok_tts": _byok(inp.org_id, as_object(cfg.get("tts_config")).get("provider")),
        "phone_number": call.data.get("assistant_phone"), "agent_name": cfg.get("name"),
        "business_name": cfg.get("business_name"), "call_type": call.direction,
    }
    from chalicelib.storage.orgs import OrgRepository
    from chalicelib.storage.usage import UsageRepository

    stored = UsageRepository().add(inp.org_id, record)
    if minutes:
        OrgRepository().add_usage(inp.org_id, minutes, now_iso()[:7])
    _repo().update_data(inp.org_id, inp.call_id, {"usage_id": stored["id"], "minutes_used": minutes, "cost": cost})
    return StepResult(detail=stored["id"])


# ---------------------------------------------------------------- step 8: GDPR cleanup
def gdpr_cleanup(inp: AnalysisInput) -> StepResult:
    call = _call(inp.org_id, inp.call_id)
    if not _config(call).get("gdpr_mode"):
        return StepResult(done=False)
    updates: dict[str, Any] = {k: None for k in GDPR_KEYS if call.data.get(k) is not None}
    if call.data.get("recording_key"):
        # gdpr_mode calls are never recorded; a recording that exists anyway (config changed, older
        # media service) is deleted too. A failure raises, so the step retries.
        from chalicelib.services.recordings import delete

        delete(call.data["recording_key"])
        updates["recording_key"] = None
    updates["gdpr_cleaned_at"] = now_iso()
    _repo().update_data(inp.org_id, inp.call_id, updates)
    return StepResult()


# ---------------------------------------------------------------- failures
def record_failure(inp: StepFailure) -> StepResult:
    """A step failed after its retries: keep the error on the call (visible in GET /calls/{id})."""
    err = inp.error or {}
    cause = str(err.get("Cause") or "")
    try:
        message = json.loads(cause).get("errorMessage") or cause
    except (ValueError, AttributeError):
        message = cause
    entry = {"step": inp.step, "error": err.get("Error") or "Error", "message": str(message)[:500], "at": now_iso()}
    log.warning("call analysis step %s failed for call %s: %s", inp.step, inp.call_id, entry["error"])
    call = _repo().get(inp.org_id, inp.call_id)
    if call is None:
        return StepResult(done=False, detail="call not found")
    failures = list(call.data.get("analysis_failures") or [])[-9:] + [entry]
    _repo().update_data(inp.org_id, inp.call_id, {"analysis_failures": failures})
    return StepResult()
