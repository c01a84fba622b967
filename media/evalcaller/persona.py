"""The persona: an LLM playing the scenario's caller, one reply per turn (docs/evals.md).

Its system prompt is the scenario's instructions inside a fixed frame ("you are the caller"); the
agent's lines reach it as ``user`` messages and its own replies are ``assistant`` messages, so the
conversation reads from the caller's side. It ends the call by calling the ``end_call`` tool (goal
met, or the agent said goodbye). Model ``EVAL_CALLER_MODEL`` through OpenAI's chat completions
(``OPENAI_BASE_URL``: the sandbox fake locally) with the org's OpenAI key, else the platform's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chalicelib.settings import get_settings
from media.providers.keys import provider_key
from media.providers.pool import shared_http_client
from media.settings import get_media_settings

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

# No quotation marks in the frame: the sandbox's caller speaks the phrases the instructions quote.
FRAME = ("You are the caller on a phone call with a company's voice assistant, acting as a real customer "
         "to test it. Play this persona and pursue its goal:\n\n{instructions}\n\n"
         "Speak as that person would on the phone: one or two short sentences per turn, no stage directions, "
         "no lists, never mention that this is a test. Reply to what the assistant just said. When your goal "
         "is met, or the assistant says goodbye, say goodbye and then call end_call.")
END_CALL: ChatCompletionToolParam = {"type": "function", "function": {
    "name": "end_call", "description": "Hang up the phone: the goal is met or the conversation is over.",
    "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}}


class PersonaFailed(RuntimeError):
    """The LLM could not be asked for the caller's next line."""


@dataclass
class Reply:
    text: str | None  # what the caller says (None: nothing)
    hang_up: bool  # end_call was called


@dataclass
class Persona:
    org_id: str
    instructions: str
    language: str | None = None  # BCP 47: the caller speaks it
    history: list[ChatCompletionMessageParam] = field(default_factory=list)

    def system_prompt(self) -> str:
        prompt = FRAME.format(instructions=self.instructions)
        return prompt + (f"\n\nSpeak in this language: {self.language}." if self.language else "")

    def messages(self) -> list[ChatCompletionMessageParam]:
        return [{"role": "system", "content": self.system_prompt()}, *self.history]

    async def reply(self, heard: str) -> Reply:
        """The caller's answer to ``heard`` (the agent's words since the caller last spoke; may be empty)."""
        from openai import AsyncOpenAI, OpenAIError

        if heard:
            self.history.append({"role": "user", "content": heard})
        key, _ = await asyncio.to_thread(provider_key, self.org_id, "openai")
        client = AsyncOpenAI(api_key=key, base_url=get_settings().openai_base_url, max_retries=1,
                             http_client=shared_http_client())
        try:
            done = await client.chat.completions.create(model=get_media_settings().eval_caller_model,
                                                        messages=self.messages(), tools=[END_CALL])
        except OpenAIError as exc:
            raise PersonaFailed(f"the caller's LLM failed: {type(exc).__name__}") from None
        message = done.choices[0].message
        text = (message.content or "").strip() or None
        hang_up = any(tc.type == "function" and tc.function.name == "end_call" for tc in message.tool_calls or [])
        self.history.append({"role": "assistant", "content": text or ""})
        return Reply(text, hang_up)
