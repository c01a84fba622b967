"""Deterministic checks of a scenario's call (the ``expect`` list; docs/evals.md).

Each check reads the finished call row only: the transcript (what the caller heard), tool calls,
end reason, structured data and per-turn latency. Nothing here calls a model.
"""

from __future__ import annotations

import json
import math
from typing import Any

from chalicelib.jsonvalue import as_list, as_object, schema_errors


def transcript(call_data: dict[str, Any]) -> list[dict[str, Any]]:
    return [as_object(m) for m in as_list(call_data.get("messages"))]


def voice_to_voice(call_data: dict[str, Any]) -> list[float]:
    """The per-turn voice-to-voice figures (ms) the media service recorded."""
    turns = as_list(as_object(call_data.get("latency")).get("turns"))
    out: list[float] = []
    for t in turns:
        v = as_object(t).get("voice_to_voice_ms")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v))
    return out


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation: with few turns it is one of the measured values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def latency_summary(call_data: dict[str, Any]) -> dict[str, Any]:
    v2v = voice_to_voice(call_data)
    p50, p95 = percentile(v2v, 50), percentile(v2v, 95)
    return {"turns": len(v2v), "voice_to_voice_p50_ms": round(p50) if p50 is not None else None,
            "voice_to_voice_p95_ms": round(p95) if p95 is not None else None,
            "greeting_ms": as_object(call_data.get("latency")).get("greeting_ms")}


def _tool_calls(call_data: dict[str, Any], name: str) -> list[Any]:
    out: list[Any] = []
    for m in transcript(call_data):
        if m.get("role") == "tool_call" and m.get("name") == name:
            raw = m.get("arguments")
            try:
                out.append(json.loads(raw) if isinstance(raw, str) else (raw or {}))
            except ValueError:
                out.append(raw)
    return out


def _text(call_data: dict[str, Any], role: str) -> str:
    roles = ("assistant", "user") if role == "any" else (role,)
    return "\n".join(str(m.get("content") or "") for m in transcript(call_data) if m.get("role") in roles)


def _schema_error(value: Any, schema: dict[str, Any]) -> str | None:
    from jsonschema.exceptions import SchemaError

    try:
        problems = schema_errors(schema, value, limit=1)
    except SchemaError as exc:
        return f"the arguments_schema is not a valid JSON schema: {exc.message}"
    return problems[0] if problems else None


def _unanswered(call_data: dict[str, Any]) -> int:
    """Caller turns the agent never answered (no agent speech or tool call before the next caller turn)."""
    missing = 0
    waiting = False
    for m in transcript(call_data):
        role = m.get("role")
        if role == "user":
            missing += waiting
            waiting = True
        elif role in ("assistant", "tool_call"):
            waiting = False
    # The last caller turn may be a goodbye the agent answered by hanging up.
    if waiting and call_data.get("end_reason") not in ("assistant_hangup", "customer_hangup"):
        missing += 1
    return missing


def run_check(check: dict[str, Any], call_data: dict[str, Any]) -> dict[str, Any]:
    """One check's verdict: ``{"type", "passed", "detail", ...the check's own fields}``."""
    kind = check.get("type")
    passed, detail = False, ""
    if kind == "tool_called":
        calls = _tool_calls(call_data, check["name"])
        schema = check.get("arguments_schema")
        if not calls:
            detail = f"{check['name']} was not called"
        elif schema:
            problems = [_schema_error(args, schema) for args in calls]
            passed = any(p is None for p in problems)
            detail = (f"{check['name']} called with matching arguments" if passed
                      else f"{check['name']} called, but its arguments do not match: {problems[0]}")
        else:
            passed, detail = True, f"{check['name']} called {len(calls)} time(s)"
    elif kind == "tool_not_called":
        n = len(_tool_calls(call_data, check["name"]))
        passed, detail = n == 0, f"{check['name']} called {n} time(s)"
    elif kind == "end_reason":
        want: list[Any] = as_list(check["equals"]) or [check["equals"]]
        got = call_data.get("end_reason")
        passed, detail = got in want, f"end reason {got}"
    elif kind in ("transcript_contains", "transcript_not_contains"):
        found = check["text"].casefold() in _text(call_data, check.get("role") or "assistant").casefold()
        passed = found if kind == "transcript_contains" else not found
        where = check.get("role") or "assistant"
        detail = f"{check['text']!r} {'found' if found else 'not found'} in the {where} turns"
    elif kind == "structured_data_equals":
        data = call_data.get("analysis_result")
        got = as_object(data).get(check["key"])
        passed = isinstance(data, dict) and check["key"] in data and got == check.get("value")
        detail = "no structured data" if not isinstance(data, dict) else f"{check['key']} = {json.dumps(got)}"
    elif kind == "voice_to_voice_p95_below_ms":
        p95 = percentile(voice_to_voice(call_data), 95)
        passed = p95 is not None and p95 < check["ms"]
        detail = "no measured turn" if p95 is None else f"voice-to-voice p95 {round(p95)} ms"
    elif kind == "no_unanswered_turn":
        n = _unanswered(call_data)
        passed, detail = n == 0, f"{n} caller turn(s) left unanswered"
    else:
        detail = f"unknown check type {kind!r}"
    return {**check, "passed": passed, "detail": detail}


def needs_structured_data(checks: list[dict[str, Any]]) -> bool:
    return any(c.get("type") == "structured_data_equals" for c in checks)
