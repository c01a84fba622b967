"""Live control of a call: commands from the control plane, and transfers."""

from __future__ import annotations

import asyncio

from chalicelib.models.calls import EndCallCommand, InjectContextCommand, SayCommand, TransferCommand
from chalicelib.models.media import AmdVerdict, CommandResult, MediaCommand, TransferRequest
from media.call.port import CallPort
from media.call.voicemail import Voicemail
from media.controlplane import control_plane


class Controller:
    """Applies typed control commands to the call."""

    def __init__(self, call: CallPort, voicemail: Voicemail) -> None:
        self.call = call
        self.voicemail = voicemail
        self.transferred_to: str | None = None

    async def apply(self, command: MediaCommand) -> CommandResult:
        """Run one command; long actions (ending, transferring) run as the call's tasks."""
        call = self.call
        if isinstance(command, InjectContextCommand):
            call.context.add_message({"role": "system", "content": command.content})
            if command.trigger_response:
                if call.bot_speaking or call.greeting_playing():
                    await call.brain.barge_in()
                await call.brain.run_llm(call.context)
        elif isinstance(command, SayCommand):
            if command.end_after:
                call.spawn(call.end("control_end_call", message=command.content), "end")
            else:
                await call.say(command.content)
        elif isinstance(command, EndCallCommand):
            call.spawn(call.end("control_end_call", message=command.message or None), "end")
        elif isinstance(command, TransferCommand):
            call.spawn(call.transfer(command.destination, command.message), "transfer")
        elif isinstance(command, AmdVerdict):  # pyright: ignore[reportUnnecessaryIsInstance] - closed union
            await self.voicemail.on_amd(command.answered_by)
        return CommandResult(success=True, message="Command sent successfully")

    async def transfer(self, destination: str, message: str | None) -> None:
        """Say the handover line (if any), then redirect the call at Twilio and end our side."""
        call = self.call
        if call.ending or not destination:
            return
        plan = call.plan
        if message:
            await call.say(message, uninterruptible=True)
            await call.wait_playout()
        self.transferred_to = destination
        call.extra["transferred_to"] = destination
        ok = False
        if call.call_sid:
            caller_id = plan.assistant_phone if plan.direction == "outbound" else plan.caller_phone
            request = TransferRequest(org_id=plan.org_id, call_id=plan.call_id, call_sid=call.call_sid,
                                      destination=destination, caller_id=caller_id, number_id=plan.number_id)
            ok = await asyncio.to_thread(control_plane().transfer, request)
        if not ok:
            call.extra["transfer_error"] = "twilio update failed"
        await call.end("transferred", hang_up=False)
