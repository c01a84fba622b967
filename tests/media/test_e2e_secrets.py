"""Tool-calls webhooks of transient assistants are signed with the secrets sent with the call."""

from __future__ import annotations

import asyncio
import uuid

from chalicelib.security import make_call_token
from chalicelib.settings import get_settings
from chalicelib.storage.calls import Call, CallRepository
from chalicelib.timeutil import now_iso
from sandbox.openai_llm import ToolCall
from sandbox.webhook_receiver import verify_signature
from tests.media.conftest import ORG

TOOL_SECRET = "tool-secret-transient-1"
HOOK_SECRET = "webhook-secret-transient-2"


def transient_call(stack, transient: dict) -> tuple[str, str]:
    """A call row written the way place_outbound_call writes one for a transient assistant."""
    from chalicelib.services.calls import encrypt_call_secrets, resolve_assistant

    resolved = resolve_assistant(ORG, assistant_id=None, transient=transient)
    call_id = str(uuid.uuid4())
    now = now_iso()
    sid = "CA" + uuid.uuid4().hex
    CallRepository().create(Call(ORG, call_id, "queued", "outbound", now, now, twilio_call_sid=sid, data={
        "assistant_id": None, "caller_phone": "+31612345678", "assistant_phone": "+31850000000",
        "config": resolved.config, "first_message": resolved.config.get("first_message"),
        "secret_assistant_id": None,
        "secrets_enc": encrypt_call_secrets(ORG, call_id, resolved.secrets) or None}))
    with stack.twilio.lock:
        stack.twilio.calls[sid] = {"sid": sid, "status": "in-progress", "account_sid": stack.twilio.account_sid}
    return call_id, make_call_token(get_settings().call_token_secret, call_id, ORG)


def _header(req, name: str) -> str | None:
    return next((v for k, v in req.headers.items() if k.lower() == name.lower()), None)


def test_transient_assistant_tool_webhooks_signed_with_call_secrets(stack):
    hooks = stack.hooks
    hooks.replies["lookup"] = (0.0, {"result": "sunny"})
    hooks.replies["shared"] = (0.0, {"result": "booked"})
    transient = {
        "first_message": "Hi, Acme here.",
        "webhook_url": hooks.url("shared"), "webhook_secret": HOOK_SECRET,
        "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
        "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                       "messages": [{"role": "system", "content": "Acme agent. ref secrets"}],
                       "tools": [{"type": "function", "name": "lookup", "description": "weather",
                                  "url": hooks.url("lookup"), "secret": TOOL_SECRET},
                                 {"type": "function", "name": "shared", "description": "booking"}]},
        "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1"},
    }
    stack.openai.add_rule(call_id="ref secrets", contains="weather", tool_calls=[ToolCall("lookup", {})])
    stack.openai.add_rule(call_id="ref secrets", contains="book", tool_calls=[ToolCall("shared", {})])
    call_id, token = transient_call(stack, transient)
    row = stack.row(call_id)
    assert TOOL_SECRET not in str(row.data) and HOOK_SECRET not in str(row.data["config"])

    async def scenario():
        c = stack.caller(call_id, token)
        await c.connect()
        await c.wait_agent_turn(c.log.started_at, timeout=10)
        for line in ("What is the weather?", "Please book a table."):
            end = await c.speak(line)
            await c.wait_agent_turn(end, quiet=1.0)
        await c.hang_up()

    asyncio.run(scenario())
    stack.wait_ended(call_id)
    reqs = {name: [r for r in hooks.server.requests if r.path == f"/tools/{name}"] for name in ("lookup", "shared")}
    (lookup,) = reqs["lookup"]
    (shared,) = reqs["shared"]
    # The tool with its own URL is signed with its own secret, the shared webhook with the webhook secret.
    for req, secret, wrong in ((lookup, TOOL_SECRET, HOOK_SECRET), (shared, HOOK_SECRET, TOOL_SECRET)):
        ts, sig = _header(req, "X-Webhook-Timestamp"), _header(req, "X-Webhook-Signature")
        assert sig, "tool-calls webhook is signed"
        assert ts is not None
        assert verify_signature(secret, ts, req.body, sig)
        assert not verify_signature(wrong, ts, req.body, sig)
        assert req.json()["message"]["type"] == "tool-calls"
    said = [m["content"] for m in stack.row(call_id).data["messages"] if m["role"] == "assistant"]
    assert 'Okay, done: "sunny"' in said and 'Okay, done: "booked"' in said
