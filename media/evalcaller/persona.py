"""The persona's system prompt: the scenario's instructions inside a fixed frame (docs/evals.md).

The agent's lines reach the persona's LLM as ``user`` messages and its own replies are ``assistant``
messages, so the conversation reads from the caller's side; it ends the call by calling ``end_call``
(goal met, or the agent said goodbye). The pipeline that runs it is ``media.evalcaller.pipecaller``.
"""

from __future__ import annotations

from dataclasses import dataclass

# No quotation marks in the frame: the sandbox's caller speaks the phrases the instructions quote.
FRAME = ("You are the caller on a phone call with a company's voice assistant, acting as a real customer "
         "to test it. Play this persona and pursue its goal:\n\n{instructions}\n\n"
         "Speak as that person would on the phone: one or two short sentences per turn, no stage directions, "
         "no lists, never mention that this is a test. Reply to what the assistant just said. When your goal "
         "is met, or the assistant says goodbye, say goodbye and then call end_call.")
END_CALL_DESCRIPTION = "Hang up the phone: the goal is met or the conversation is over."


@dataclass
class Persona:
    instructions: str
    language: str | None = None  # BCP 47: the caller speaks it

    def system_prompt(self) -> str:
        prompt = FRAME.format(instructions=self.instructions)
        return prompt + (f"\n\nSpeak in this language: {self.language}." if self.language else "")
