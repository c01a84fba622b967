"""The stored transcript: the conversation as the caller experienced it (system messages left out)."""

from __future__ import annotations

from typing import Any

from pipecat.processors.aggregators.llm_context import LLMContext


def _text(content: Any) -> Any:
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))  # pyright: ignore
    return content


def transcript(context: LLMContext | None) -> list[dict[str, Any]]:
    """User and assistant turns, tool calls and tool results, in order."""
    out: list[dict[str, Any]] = []
    if context is None:
        return out
    for m in context.get_messages():
        if not isinstance(m, dict):
            continue
        role, content = m.get("role"), _text(m.get("content"))
        if role == "system":
            continue
        if role == "assistant" and m.get("tool_calls"):
            for tc in m["tool_calls"]:  # pyright: ignore
                fn = tc.get("function") or {}
                out.append({"role": "tool_call", "name": fn.get("name"), "arguments": fn.get("arguments"),
                            "tool_call_id": tc.get("id")})
            if content:
                out.append({"role": "assistant", "content": content})
            continue
        if role == "tool":
            out.append({"role": "tool", "tool_call_id": m.get("tool_call_id"), "content": content})
            continue
        if role in ("user", "assistant") and content:
            out.append({"role": role, "content": content})
    return out
