"""The stored transcript: the conversation as the caller experienced it (system messages left out)."""

from __future__ import annotations

from typing import Any, TypedDict, cast

from pipecat.processors.aggregators.llm_context import LLMContext


class _ToolCallFunction(TypedDict, total=False):
    name: str
    arguments: str


class _ToolCall(TypedDict, total=False):
    """An assistant message's tool call, as the OpenAI-style context stores it."""

    id: str
    function: _ToolCallFunction


def _text(content: object) -> object:
    if isinstance(content, list):
        parts = cast("list[object]", content)
        return " ".join(cast("dict[str, str]", p).get("text", "") for p in parts if isinstance(p, dict))
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
        tool_calls = m.get("tool_calls")
        if role == "assistant" and tool_calls:
            for tc in cast("list[_ToolCall]", tool_calls):
                fn: _ToolCallFunction = tc.get("function") or {}
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
