"""Tool calls from the LLM: function tools through the tool-calls webhook, and the built-ins."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from pipecat.frames.frames import FunctionCallResultProperties
from pipecat.services.llm_service import FunctionCallParams

from chalicelib.models.media import ToolInvocation
from chalicelib.timeutil import now_iso
from media.call.lines import FILLERS, GOODBYE
from media.call.port import CallPort
from media.controlplane import control_plane
from media.plan import ToolSpec

log = logging.getLogger("voice.media.tools")

FILLER_AFTER_SECONDS = 1.0  # a tool slower than this gets a spoken filler
TOOL_TIMEOUT_SECONDS = 10.0  # the contract's tool-calls timeout
SPECULATION_POLL_SECONDS = 0.01


class ToolRunner:
    """Runs the LLM's tool calls for one call."""

    def __init__(self, call: CallPort, *, rng: random.Random | None = None) -> None:
        self.call = call
        self.running = 0
        self._rng = rng or random.Random()  # noqa: S311 - picks a filler phrase, not a secret

    async def handle(self, params: FunctionCallParams) -> None:
        """Pipecat's function-call handler for every tool of the call."""
        call = self.call
        # A tool call from a speculative reply runs only once the final transcript confirmed it
        # (a withdrawn speculation cancels this handler through the interruption).
        while call.brain.spec_text is not None:  # noqa: ASYNC110 - polls the brain's speculation state; no event to await
            await asyncio.sleep(SPECULATION_POLL_SECONDS)
        spec = call.plan.tool(params.function_name)
        args = dict(params.arguments or {})
        if spec is None:
            await params.result_callback({"error": f"Unknown tool {params.function_name}"})
            return
        no_reply = FunctionCallResultProperties(run_llm=False)
        if spec.kind == "endCall":
            await params.result_callback({"ok": True}, properties=no_reply)
            call.spawn(call.end("assistant_hangup", message=spec.message or GOODBYE), "end")
            return
        if spec.kind == "transferCall":
            dest, message = self._destination(spec, str(args.get("destination") or ""))
            await params.result_callback({"ok": True, "transferring_to": dest}, properties=no_reply)
            call.spawn(call.transfer(dest, message), "transfer")
            return
        if spec.is_async:
            await params.result_callback({"status": "accepted"}, properties=no_reply)
            if spec.async_response:
                await call.say(spec.async_response)
            else:
                await call.brain.run_llm(call.context)
            call.spawn(self.run_function(spec, params.tool_call_id, args), f"tool-{spec.name}")
            return
        self.running += 1
        filler = call.spawn(self._filler_after(FILLER_AFTER_SECONDS), "filler")
        try:
            result = await self.run_function(spec, params.tool_call_id, args)
        finally:
            self.running -= 1
            filler.cancel()
        await params.result_callback(result)

    @staticmethod
    def _destination(spec: ToolSpec, dest: str) -> tuple[str, str | None]:
        """The configured destination the model named (else the first one) and its message."""
        match = next((d for d in spec.destinations if dest in (d.get("number"), d.get("sip_uri"))), None)
        if match is None and spec.destinations:
            match = spec.destinations[0]
            dest = match.get("number") or match.get("sip_uri") or ""
        return dest, (match or {}).get("message")

    async def _filler_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        text = self._rng.choice(FILLERS)
        self.call.extra.setdefault("fillers", []).append(text)
        # Not in the context: it would land after the tool result and confuse the next reply.
        await self.call.say(text, append=False)

    def payload(self, spec: ToolSpec, tool_call_id: str, args: dict[str, Any]) -> dict[str, Any]:
        """The tool-calls webhook body (snake_case form of the Flireo envelope)."""
        plan = self.call.plan
        assistant = {k: v for k, v in plan.config.items() if k != "webhook_secret"}
        assistant["metadata"] = plan.metadata
        calls = [{"id": tool_call_id, "type": "function", "function": {"name": spec.name, "arguments": args}}]
        return {"message": {
            "type": "tool-calls", "timestamp": now_iso(),
            "call": {"id": self.call.call_id, "type": f"{plan.direction}_phone_call", "status": "in-progress"},
            "phone_number": {"number": plan.assistant_phone}, "customer": {"number": plan.caller_phone},
            "assistant": assistant, "tool_call_list": calls, "tool_calls": calls}}

    async def run_function(self, spec: ToolSpec, tool_call_id: str, args: dict[str, Any]) -> Any:
        """Call a function tool's URL; any failure becomes an error result the LLM can speak."""
        plan = self.call.plan
        url = spec.url or plan.webhook_url
        if not url:
            return {"error": f"Tool {spec.name} has no URL configured."}
        invocation = ToolInvocation(
            org_id=plan.org_id, call_id=plan.call_id, assistant_id=plan.assistant_id, tool_name=spec.name,
            url=url, own_url=bool(spec.url), payload=self.payload(spec, tool_call_id, args),
            timeout_seconds=TOOL_TIMEOUT_SECONDS)
        try:
            return await asyncio.to_thread(control_plane().invoke_tool, invocation)
        except Exception as exc:  # noqa: BLE001 - any tool failure is spoken as an error; the call goes on
            log.warning("tool %s failed: %s", spec.name, type(exc).__name__)
            return {"error": "The tool could not be reached."}
