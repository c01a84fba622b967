"""The call as its parts see it: the coordinator's interface (``media.call.session.CallSession``).

Parts (voicemail, tools, control, timers) depend on this protocol, not on the session class, so the
session composes them without an import cycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol

from pipecat.processors.aggregators.llm_context import LLMContext

from media.call.greeting import GreetingAudio
from media.pipeline.brain import CallBrain
from media.plan import CallPlan


class CallPort(Protocol):
    """What a part may read and ask of the call it belongs to."""

    org_id: str
    call_id: str
    call_sid: str | None
    extra: dict[str, Any]
    bot_speaking: bool

    @property
    def plan(self) -> CallPlan:
        """The call's resolved assistant config."""
        ...

    @property
    def context(self) -> LLMContext:
        """The conversation (the LLM context)."""
        ...

    @property
    def brain(self) -> CallBrain:
        """The turn-taking processor (run the LLM, barge in)."""
        ...

    @property
    def tools_running(self) -> int:
        """Tool calls in flight."""
        ...

    @property
    def ending(self) -> bool:
        """Has the call started ending?"""
        ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a task owned by the call (cancelled when it ends)."""
        ...

    def greeting_playing(self) -> bool:
        """Is the greeting still being played to the caller?"""
        ...

    async def speak_greeting(self, audio: GreetingAudio | None) -> None:
        """Say the first message (from its synthesized audio as it arrives, when there is some)."""
        ...

    async def say(self, text: str, *, uninterruptible: bool = False, append: bool = True) -> None:
        """Speak a fixed line."""
        ...

    async def wait_playout(self, timeout: float = 15.0) -> None:  # noqa: ASYNC109 - one deadline shared by several waits
        """Wait until what was queued has been played to the caller."""
        ...

    async def transfer(self, destination: str, message: str | None) -> None:
        """Hand the caller over to another line."""
        ...

    async def end(self, reason: str, *, message: str | None = None, error: str | None = None,
                  hang_up: bool = True, append: bool = True) -> None:
        """End the call (optionally after a last line)."""
        ...
