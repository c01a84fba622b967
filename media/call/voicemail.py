"""Voicemail detection on outbound calls: Twilio's AMD verdict or the callee's first words decide."""

from __future__ import annotations

import asyncio
from typing import Literal

from media.call.greeting import GreetingAudio
from media.call.port import CallPort
from media.controlplane import control_plane
from media.utterances import looks_like_voicemail

DECIDE_TIMEOUT_SECONDS = 4.0  # silence this long after answer: assume a human (who waits for us)

State = Literal["off", "deciding", "human", "voicemail"]


class Voicemail:
    """Holds the greeting while deciding; a human gets it, a machine gets the voicemail message."""

    def __init__(self, call: CallPort) -> None:
        self.call = call
        self.state: State = "off"
        self.held_greeting: GreetingAudio | None = None

    def arm(self) -> None:
        """Hold agent speech until the verdict (outbound calls with voicemail detection)."""
        self.state = "deciding"

    @property
    def deciding(self) -> bool:
        """Is agent speech held back until the verdict?"""
        return self.state == "deciding"

    async def on_transcript(self, text: str, *, dtmf: bool) -> bool:
        """A caller turn while deciding. True when it was consumed (the turn must not reach the LLM)."""
        if not dtmf and looks_like_voicemail(text):
            await self.detected(source="transcript")
            return True
        if self.call.plan.first_message:
            # The caller's "hello?" is answered by the greeting.
            self.call.context.add_message({"role": "user", "content": text})
            await self.human(source="transcript")
            return True
        await self.human(source="transcript")
        return False

    async def human(self, source: str) -> None:
        """A person answered: play the held greeting."""
        if self.state != "deciding":
            return
        self.state = "human"
        self.call.extra["answered_by"] = "human"
        self.call.extra["amd_source"] = source
        await self.call.speak_greeting(self.held_greeting)

    async def detected(self, source: str) -> None:
        """A machine answered: leave the voicemail message (if any) and end."""
        if self.state not in ("deciding", "human") or self.call.ending:
            return
        self.state = "voicemail"
        self.call.extra["voicemail"] = True
        self.call.extra["amd_source"] = source
        msg = self.call.plan.voicemail_message
        if msg:
            self.call.extra["voicemail_message"] = msg
            self.call.context.add_message({"role": "assistant", "content": msg})
        # Spawned: this runs inside the brain's frame handling, which must keep flowing while we speak.
        self.call.spawn(self.call.end("voicemail", message=msg, append=False), "end")

    async def on_amd(self, answered_by: str) -> None:
        """Twilio's asynchronous AMD verdict."""
        self.call.extra["answered_by"] = answered_by
        if answered_by.startswith("machine") or answered_by == "fax":
            if self.state in ("deciding", "human") and self.call.plan.voicemail_detection:
                await self.detected(source="amd")
        elif answered_by == "human":
            await self.human(source="amd")

    async def amd_from_row(self) -> None:
        """A verdict that reached another media task before this one owned the call.

        Without sticky routing Twilio's early verdict may have reached another media task, which kept it
        in its own memory; the control plane also stored it on the row. Read after call_started set our
        control_url, so a verdict arriving later is forwarded here instead: none is missed.
        """
        setup = await asyncio.to_thread(control_plane().load_call, self.call.org_id, self.call.call_id)
        answered_by = setup.answered_by if setup is not None else None
        if answered_by:
            await self.on_amd(answered_by)

    async def timeout(self) -> None:
        """No verdict and no words for a while: a person waiting for us to speak."""
        await asyncio.sleep(DECIDE_TIMEOUT_SECONDS)
        await self.human(source="timeout")
