"""Deterministic checks, the sandbox judge and the run summary (pure functions of stored rows)."""

from __future__ import annotations

import json

import pytest

from chalicelib.services.eval_checks import latency_summary, run_check
from chalicelib.services.eval_judge import sandbox_verdict
from chalicelib.services.evals import summarize

CALL = {
    "end_reason": "assistant_hangup",
    "messages": [
        {"role": "assistant", "content": "Hi, thanks for calling Acme Dental."},
        {"role": "user", "content": "Can I book a cleaning on Tuesday?"},
        {"role": "tool_call", "name": "book", "arguments": json.dumps({"day": "tuesday", "slot": 15}),
         "tool_call_id": "t1"},
        {"role": "tool", "tool_call_id": "t1", "content": "booked"},
        {"role": "assistant", "content": "You're booked for a cleaning on Tuesday at 3pm."},
        {"role": "user", "content": "Thanks, bye!"},
    ],
    "latency": {"turns": [{"voice_to_voice_ms": v} for v in (600, 700, 900)], "greeting_ms": 80},
    "analysis_result": {"booked": True, "day": "tuesday"},
}
SLOT_SCHEMA = {"type": "object", "required": ["day"], "properties": {"day": {"enum": ["tuesday"]}}}


@pytest.mark.parametrize(("check", "passed"), [
    ({"type": "tool_called", "name": "book"}, True),
    ({"type": "tool_called", "name": "book", "arguments_schema": SLOT_SCHEMA}, True),
    ({"type": "tool_called", "name": "book", "arguments_schema": {**SLOT_SCHEMA, "required": ["name"]}}, False),
    ({"type": "tool_called", "name": "transferCall"}, False),
    ({"type": "tool_not_called", "name": "transferCall"}, True),
    ({"type": "end_reason", "equals": "assistant_hangup"}, True),
    ({"type": "end_reason", "equals": ["voicemail", "silence_timeout"]}, False),
    ({"type": "transcript_contains", "text": "3PM"}, True),
    ({"type": "transcript_contains", "text": "tuesday", "role": "user"}, True),
    ({"type": "transcript_not_contains", "text": "sorry"}, True),
    ({"type": "structured_data_equals", "key": "booked", "value": True}, True),
    ({"type": "structured_data_equals", "key": "day", "value": "monday"}, False),
    ({"type": "voice_to_voice_p95_below_ms", "ms": 1000}, True),
    ({"type": "voice_to_voice_p95_below_ms", "ms": 900}, False),
    ({"type": "no_unanswered_turn"}, True),
])
def test_checks_read_the_stored_call(check, passed):
    verdict = run_check(check, CALL)
    assert verdict["passed"] is passed, verdict
    assert verdict["type"] == check["type"] and verdict["detail"]


def test_an_unanswered_caller_turn_is_caught():
    data = {**CALL, "end_reason": "silence_timeout", "messages": CALL["messages"][:2]}
    assert run_check({"type": "no_unanswered_turn"}, data)["passed"] is False


def test_latency_summary_uses_nearest_rank_percentiles():
    assert latency_summary(CALL) == {"turns": 3, "voice_to_voice_p50_ms": 700, "voice_to_voice_p95_ms": 900,
                                     "greeting_ms": 80}


def test_sandbox_judge_looks_for_quoted_phrases():
    ok = sandbox_verdict("The assistant confirms the 'Tuesday' slot and says \"3pm\"", CALL["messages"])
    assert ok["passed"] is True and "found" in ok["reasoning"]
    no = sandbox_verdict("The assistant mentions 'insurance'", CALL["messages"])
    assert no["passed"] is False and "'insurance'" in no["reasoning"]
    assert sandbox_verdict("The assistant is polite", CALL["messages"])["passed"] is True
    assert sandbox_verdict("The assistant is polite", [])["passed"] is False


def test_summary_gives_pass_rates_and_the_ab_latency_difference():
    def row(name, variant, passed, p50):
        return {"scenario": name, "variant": variant, "passed": passed, "latency": {"voice_to_voice_p50_ms": p50}}

    rows = [row("s1", "a", True, 800), row("s1", "a", False, 900), row("s1", "b", True, 600),
            row("s1", "b", True, 650)]
    summary, comparison = summarize(rows)
    assert (summary["passed"], summary["failed"], summary["pass_rate"]) == (3, 1, 0.75)
    assert comparison == [{"scenario": "s1",
                           "a": {"passed": 1, "attempts": 2, "pass_rate": 0.5, "voice_to_voice_p50_ms": 800},
                           "b": {"passed": 2, "attempts": 2, "pass_rate": 1.0, "voice_to_voice_p50_ms": 600},
                           "latency_diff_ms": -200}]
    assert summarize(rows[:2])[1] is None  # one version: no comparison
