"""The judge of a scenario's natural-language criteria (docs/evals.md).

``llm``: one chat completion with a fixed rubric prompt and a JSON-schema response format, at
temperature 0, through the org's OpenAI key (BYOK) or the platform's. ``sandbox``: a deterministic
judge for the dev stack and tests, so verdicts do not depend on a model: a criterion passes when
every phrase it quotes ('...' or "...") appears in the transcript, and a criterion without quotes
passes when the agent answered at least once.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib import errors
from chalicelib.settings import get_settings

RUBRIC_PROMPT = (
    "You are a strict evaluator of phone conversations between an AI assistant and a caller. "
    "For each numbered criterion, decide from the transcript alone whether the assistant met it. "
    "Passing requires clear evidence in the transcript; when in doubt, fail. Give one short sentence "
    "of reasoning per criterion that cites what was (or was not) said. Answer with JSON only."
)
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"verdicts": {"type": "array", "items": {
        "type": "object",
        "properties": {"index": {"type": "integer"}, "passed": {"type": "boolean"}, "reasoning": {"type": "string"}},
        "required": ["index", "passed", "reasoning"], "additionalProperties": False}}},
    "required": ["verdicts"], "additionalProperties": False,
}
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"|“([^”]+)”")


def transcript_text(messages: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for m in messages:
        role = m.get("role")
        if role in ("user", "assistant"):
            lines.append(f"{'Caller' if role == 'user' else 'Assistant'}: {str(m.get('content') or '').strip()}")
        elif role == "tool_call":
            lines.append(f"Assistant called tool {m.get('name')} with {m.get('arguments')}")
    return "\n".join(lines)


def sandbox_verdict(criterion: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    text = transcript_text(messages).casefold()
    phrases = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(criterion)]
    if phrases:
        missing = [p for p in phrases if p.casefold() not in text]
        if missing:
            return {"criterion": criterion, "passed": False,
                    "reasoning": f"sandbox judge: {', '.join(repr(p) for p in missing)} not in the transcript"}
        return {"criterion": criterion, "passed": True,
                "reasoning": f"sandbox judge: {', '.join(repr(p) for p in phrases)} found in the transcript"}
    answered = any(m.get("role") == "assistant" and m.get("content") for m in messages)
    return {"criterion": criterion, "passed": answered,
            "reasoning": "sandbox judge: no quoted phrase to look for; the assistant "
                         + ("answered" if answered else "never answered")}


def _llm_verdicts(org_id: str, criteria: list[str], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from chalicelib.integrations.openai_judge import JudgeLLM
    from chalicelib.services.byok import provider_key

    key, _ = provider_key(org_id, "openai")
    if not key:
        raise errors.InvalidRequest("No OpenAI key for the judge: set a BYOK key for openai or OPENAI_API_KEY.")
    numbered = "\n".join(f"{i + 1}. {c}" for i, c in enumerate(criteria))
    user = f"Criteria:\n{numbered}\n\nTranscript:\n{transcript_text(messages) or '(nothing was said)'}"
    raw = JudgeLLM(key).judge(RUBRIC_PROMPT, user, VERDICT_SCHEMA)
    try:
        verdicts = {int(v["index"]): v for v in json.loads(raw)["verdicts"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise errors.UpstreamError(f"the judge's answer is not the expected JSON: {exc}") from exc
    out: list[dict[str, Any]] = []
    for i, c in enumerate(criteria):
        v = verdicts.get(i + 1)
        if v is None:
            out.append({"criterion": c, "passed": False, "reasoning": "the judge gave no verdict"})
        else:
            out.append({"criterion": c, "passed": bool(v.get("passed")), "reasoning": str(v.get("reasoning") or "")})
    return out


def judge(org_id: str, criteria: list[str], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{"criterion", "passed", "reasoning"}]``, one per criterion, in order."""
    if not criteria:
        return []
    if get_settings().eval_judge == "sandbox":
        return [sandbox_verdict(c, messages) for c in criteria]
    return _llm_verdicts(org_id, criteria, messages)
