"""The call's clocks: its maximum duration, and prompting a caller who went silent."""

from __future__ import annotations

import asyncio
import time

from media.call.lines import GOODBYE, MAX_DURATION_MESSAGE, STILL_THERE
from media.call.port import CallPort
from media.call.voicemail import Voicemail

SILENCE_PROMPTS = 3
SILENCE_POLL_SECONDS = 0.25


class Timers:
    """Max duration and silence handling for one call."""

    def __init__(self, call: CallPort, voicemail: Voicemail) -> None:
        self.call = call
        self.voicemail = voicemail
        self.silence_prompts = 0

    def note_user_speech(self) -> None:
        """The caller spoke: the silence count starts over."""
        self.silence_prompts = 0

    async def max_duration(self) -> None:
        """End the call with a notice at the assistant's maximum duration."""
        await asyncio.sleep(self.call.plan.max_duration_seconds)
        await self.call.end("max_duration", message=MAX_DURATION_MESSAGE)

    async def silence_watch(self) -> None:
        """Ask "are you still there?" after the silence timeout, then say goodbye and end."""
        call = self.call
        timeout = call.plan.silence_timeout_seconds
        while not call.ending:
            await asyncio.sleep(SILENCE_POLL_SECONDS)
            brain = call.brain
            if call.bot_speaking or call.greeting_playing() or call.tools_running or self.voicemail.deciding:
                continue
            if time.monotonic() - brain.last_activity < timeout:
                continue
            self.silence_prompts += 1
            brain.last_activity = time.monotonic()
            if self.silence_prompts > SILENCE_PROMPTS:
                await call.end("silence_timeout", message=GOODBYE)
                return
            await call.say(STILL_THERE[(self.silence_prompts - 1) % len(STILL_THERE)])
