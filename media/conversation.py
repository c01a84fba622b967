"""The call's opening conversation for the LLM: messages, tools and the Pipecat context built from them.

Shared by the pipeline (the call's context) and the ring-time realtime greeting (the session set up
while the phone rings), so neither imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
    from pipecat.processors.aggregators.llm_context import LLMContext, LLMContextMessage

    from media.plan import CallPlan


def tools_schema(plan: CallPlan) -> ToolsSchema | None:
    """The plan's tools as Pipecat's provider-neutral schema (None when it has none)."""
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

    if not plan.tools:
        return None
    return ToolsSchema(standard_tools=[
        FunctionSchema(name=t.name, description=t.description,
                       properties=(t.parameters or {}).get("properties") or {},
                       required=list((t.parameters or {}).get("required") or []))
        for t in plan.tools])


def initial_messages(plan: CallPlan) -> list[LLMContextMessage]:
    """System prompt, the call's history, and (speech-to-speech) the instruction to open with the first message."""
    messages: list[LLMContextMessage] = [{"role": "system", "content": plan.system_prompt}]
    # The plan's history is role/content messages (validated with the call's config).
    messages.extend(cast("list[LLMContextMessage]", plan.history))
    if plan.realtime and plan.first_message:
        messages.append({"role": "system", "content": f'Start the call by saying exactly: "{plan.first_message}"'})
    return messages


def new_context(plan: CallPlan) -> LLMContext:
    """A fresh LLM context holding the opening conversation and the tools."""
    from pipecat.processors.aggregators.llm_context import LLMContext

    schema = tools_schema(plan)
    messages = initial_messages(plan)
    return LLMContext(messages, tools=schema) if schema else LLMContext(messages)
