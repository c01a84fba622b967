"""Fake OpenAI Chat Completions (``POST /v1/chat/completions``), protocols.md section 3.

Streaming: SSE ``data: <chunk>`` events (role chunk, content token by token, tool-call fragments by
index with arguments split, ``finish_reason``, a usage chunk with empty ``choices`` when
``stream_options.include_usage``, ``data: [DONE]``), first token after ``first_token_delay_ms``
(300) then ``token_delay_ms`` (10) per token. Non-streaming: a ``chat.completion`` object; with
``response_format: {"type": "json_schema"}`` the content is JSON that satisfies the schema (or a
scripted ``json`` reply), which is what the real SDK's ``parse()`` needs.

Scripting: ``fake.add_rule(contains="weather", text="Sunny.")``,
``fake.add_rule(call_id="...", tool_calls=[ToolCall("transfer_call", {"reason": "billing"})])``,
or ``reply=callable(request_body) -> Reply``. Rules are tried newest first; ``times`` limits uses.
Without a matching rule the dev responder answers: a greeting when there is no user message yet,
"Got it, you said: ..." for a user message, calls ``endCall`` (when offered in ``tools``) when the
caller says goodbye, and acknowledges tool results.

Role play: a system prompt that casts the model as the caller on a phone call ("You are the caller",
as an eval persona's prompt does; docs/evals.md) gets a caller's replies instead. The other side's
lines arrive as ``user`` messages and the caller's own earlier replies as ``assistant`` ones, as a
real client sends them. The caller says the phrases its prompt quotes ('...' or "..."), one per
turn in order (without quotes: that it has a question), then thanks and says goodbye; it hangs up
(calls an ``end_call``/``endCall`` tool when offered) once either side has said goodbye.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox import ids
from sandbox.aioserver import AsyncFakeServer

GOODBYE = re.compile(r"\b(good\s*-?\s*bye|bye|hang up|that's all)\b", re.IGNORECASE)
CALLER_ROLE = re.compile(r"\byou are the caller\b", re.IGNORECASE)
# '...', "..." or “...” (as the sandbox judge reads them); an apostrophe (don't) opens no quote.
QUOTED = re.compile(r"(?<!\w)'([^']+)'(?!\w)|\"([^\"]+)\"|“([^”]+)”")
CALLER_DONE = "Thank you so much, goodbye!"  # one stretch of speech for the STT fakes (no long pause inside)


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class Reply:
    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    json: Any = None  # structured-output content (non-streaming json_schema requests)
    first_token_delay_ms: float | None = None
    token_delay_ms: float | None = None
    status: int = 200  # != 200: an OpenAI-style error response (provider failure tests)
    error_message: str = "The server had an error while processing your request."


@dataclass
class Rule:
    contains: str | None = None  # case-insensitive substring of the last user message
    call_id: str | None = None  # found in the system prompt, ``user`` or ``metadata``
    reply: Reply | Callable[[dict[str, Any]], Reply] = field(default_factory=Reply)
    times: int | None = None  # None: unlimited
    used: int = 0

    def matches(self, body: dict[str, Any]) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.contains is not None:
            last = _last_message(body)
            if not last or last.get("role") != "user" or self.contains.lower() not in _text(last).lower():
                return False
        if self.call_id is not None and self.call_id not in _call_ids(body):
            return False
        return True


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _last_message(body: dict[str, Any]) -> dict[str, Any] | None:
    messages = [m for m in body.get("messages") or [] if m.get("role") != "system"]
    return messages[-1] if messages else None


def _call_ids(body: dict[str, Any]) -> str:
    """Everything a rule's call id may be found in, joined (substring search)."""
    parts = [_text(m) for m in body.get("messages") or [] if m.get("role") in ("system", "developer")]
    parts.append(str(body.get("user") or ""))
    metadata = body.get("metadata") or {}
    if isinstance(metadata, dict):
        parts.extend(str(v) for v in metadata.values())
    return "\n".join(parts)


def _tool_names(body: dict[str, Any]) -> list[str]:
    names = []
    for tool in body.get("tools") or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and fn.get("name"):
            names.append(fn["name"])
    return names


def _system_prompt(body: dict[str, Any]) -> str:
    return "\n".join(_text(m) for m in body.get("messages") or [] if m.get("role") in ("system", "developer"))


def caller_reply(body: dict[str, Any]) -> Reply:
    """The role-play responder (module docstring): a caller working through its prompt's quoted phrases."""
    messages = [m for m in body.get("messages") or [] if m.get("role") not in ("system", "developer")]
    said = [" ".join(_text(m).split()) for m in messages if m.get("role") == "assistant"]
    heard = " ".join(_text(messages[-1]).split()) if messages and messages[-1].get("role") == "user" else ""
    end = next((n for n in _tool_names(body) if n.replace("_", "").lower() == "endcall"), None)
    if GOODBYE.search(heard) or any(GOODBYE.search(s) for s in said):
        return Reply(tool_calls=[ToolCall(end, {})]) if end else Reply(text="Goodbye!")
    phrases = [a or b or c for a, b, c in QUOTED.findall(_system_prompt(body))] or ["Hi, I have a question."]
    return Reply(text=phrases[len(said)] if len(said) < len(phrases) else CALLER_DONE)


def dev_reply(body: dict[str, Any]) -> Reply:
    """The default responder: short, deterministic, and ends the call on goodbye."""
    if CALLER_ROLE.search(_system_prompt(body)):
        return caller_reply(body)
    last = _last_message(body)
    if last is None:
        return Reply(text="Hello! How can I help you today?")
    if last.get("role") == "tool":
        result = _text(last).strip()
        if result and len(result) <= 120:
            return Reply(text=f"Okay, done: {result}")
        return Reply(text="Okay, that is done.")
    said = " ".join(_text(last).split())
    if GOODBYE.search(said):
        end = next((n for n in _tool_names(body) if n.replace("_", "").lower() == "endcall"), None)
        if end:
            return Reply(tool_calls=[ToolCall(end, {})])
        return Reply(text="Goodbye, have a great day!")
    if not said:
        return Reply(text="Sorry, I did not catch that.")
    return Reply(text=f"Got it, you said: {said.rstrip('.!?')}.")


def tokens(text: str) -> list[str]:
    """Word-ish tokens that keep their leading whitespace (so they concatenate back exactly)."""
    return re.findall(r"\s*\S+|\s+$", text) or ([text] if text else [])


def example_for_schema(schema: Any, defs: dict[str, Any] | None = None, name: str = "") -> Any:
    """A JSON value that satisfies a (structured-outputs subset) JSON schema."""
    if not isinstance(schema, dict):
        return None
    defs = defs if defs is not None else {**schema.get("$defs", {}), **schema.get("definitions", {})}
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        return example_for_schema(defs.get(ref, {}), defs, name)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example_for_schema(options[0], defs, name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: example_for_schema(v, defs, k) for k, v in props.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [example_for_schema(schema.get("items", {}), defs, name) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2025-01-01T00:00:00Z"
    if fmt == "date":
        return "2025-01-01"
    if fmt == "email":
        return "caller@example.com"
    return f"example {name}".strip() if name else "example"


@dataclass
class CompletionRecord:
    body: dict[str, Any]
    headers: dict[str, str]
    reply: Reply
    received_at: float
    first_token_at: float | None = None
    finished: bool = False
    cancelled: bool = False  # client went away mid-stream (barge-in)


class ScriptedReplies:
    """Rules shared by the chat-completions and realtime fakes (``self.lock`` comes from the server base)."""

    lock: Any
    rules: list[Rule]

    def add_rule(self, *, contains: str | None = None, call_id: str | None = None, text: str | None = None,
                 tool_calls: list[ToolCall] | None = None, json_content: Any = None,
                 reply: Reply | Callable[[dict[str, Any]], Reply] | None = None, times: int | None = None,
                 first_token_delay_ms: float | None = None, status: int = 200) -> Rule:
        if reply is None:
            reply = Reply(text=text, tool_calls=list(tool_calls or []), json=json_content,
                          first_token_delay_ms=first_token_delay_ms, status=status)
        rule = Rule(contains=contains, call_id=call_id, reply=reply, times=times)
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        with self.lock:
            self.rules.clear()

    def choose(self, body: dict[str, Any]) -> Reply | None:
        """The newest matching rule's reply, or None (the dev responder answers)."""
        with self.lock:
            for rule in reversed(self.rules):
                if rule.matches(body):
                    rule.used += 1
                    reply = rule.reply
                    return reply(body) if callable(reply) else reply
        return None


class FakeOpenAI(ScriptedReplies, AsyncFakeServer):
    name = "openai"

    def __init__(self, *, first_token_delay_ms: float = 300, token_delay_ms: float = 10,
                 api_key: str | None = None, model: str | None = None, **kw: Any):
        super().__init__(**kw)
        self.first_token_delay_ms = first_token_delay_ms
        self.token_delay_ms = token_delay_ms
        self.api_key = api_key
        self.model = model
        self.rules: list[Rule] = []
        self.completions: list[CompletionRecord] = []
        self._ids = itertools.count(1)

    # -- HTTP -----------------------------------------------------------------------------------------
    def setup_routes(self, app: web.Application) -> None:
        self.add_route(app, "POST", "/v1/chat/completions", self._completions)
        self.add_route(app, "GET", "/v1/models", self._models)

    @staticmethod
    def _error(status: int, message: str, code: str | None, kind: str = "invalid_request_error") -> web.Response:
        return web.json_response({"error": {"message": message, "type": kind, "param": None, "code": code}},
                                 status=status)

    def _auth(self, request: web.Request) -> web.Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token or (self.api_key is not None and token != self.api_key):
            return self._error(401, "Incorrect API key provided.", "invalid_api_key")
        return None

    async def _models(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "sandbox"}
            for m in ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._auth(request)) is not None:
            self.record(request)
            return denied
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "We could not parse the JSON body of your request.", None)
        self.record(request, body)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            return self._error(400, "Missing required parameter: 'messages' or 'model'.", "missing_required_parameter")
        reply = self.choose(body)
        if reply is None:
            fmt = body.get("response_format")
            structured = isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object")
            # Structured requests without a rule get JSON made from the schema, not chat text.
            reply = Reply() if structured and not body.get("stream") else dev_reply(body)
        rec = CompletionRecord(body, {k.lower(): v for k, v in request.headers.items()}, reply, time.monotonic())
        with self.lock:
            self.completions.append(rec)
        if reply.status != 200:
            return self._error(reply.status, reply.error_message, None, "server_error")
        if body.get("stream"):
            return await self._stream(request, body, reply, rec)
        return await self._complete(body, reply, rec)

    def _usage(self, body: dict[str, Any], completion_tokens: int) -> dict[str, Any]:
        prompt = sum(len(_text(m).split()) + 4 for m in body.get("messages") or [])
        return {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                "total_tokens": prompt + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}

    def _ids_for(self, reply: Reply) -> list[str]:
        return [tc.id or f"call_{ids.token_hex(12)}" for tc in reply.tool_calls]

    async def _complete(self, body: dict[str, Any], reply: Reply, rec: CompletionRecord) -> web.Response:
        delay = reply.first_token_delay_ms if reply.first_token_delay_ms is not None else self.first_token_delay_ms
        await asyncio.sleep(delay / 1000)
        content = reply.text
        fmt = body.get("response_format") or {}
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            value = reply.json
            if value is None and content is None:
                value = example_for_schema((fmt.get("json_schema") or {}).get("schema") or {})
            if value is not None:
                content = json.dumps(value)
        elif isinstance(fmt, dict) and fmt.get("type") == "json_object" and content is None:
            content = json.dumps(reply.json if reply.json is not None else {})
        if content is None and not reply.tool_calls:
            content = dev_reply(body).text
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
        if reply.tool_calls:
            message["tool_calls"] = [{"id": cid, "type": "function",
                                      "function": {"name": tc.name, "arguments": tc.arguments_json()}}
                                     for cid, tc in zip(self._ids_for(reply), reply.tool_calls, strict=True)]
        rec.first_token_at = time.monotonic()
        rec.finished = True
        n_tokens = len(tokens(content or "")) + sum(len(tc.arguments_json()) // 4 + 1 for tc in reply.tool_calls)
        return web.json_response({
            "id": f"chatcmpl-{ids.token_hex(12)}", "object": "chat.completion", "created": int(time.time()),
            "model": self.model or body["model"], "system_fingerprint": "fp_sandbox", "service_tier": "default",
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
            "usage": self._usage(body, n_tokens)})

    async def _stream(self, request: web.Request, body: dict[str, Any], reply: Reply,
                      rec: CompletionRecord) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream; charset=utf-8",
                                                       "Cache-Control": "no-cache"})
        await resp.prepare(request)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {"id": f"chatcmpl-{ids.token_hex(12)}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": self.model or body["model"], "system_fingerprint": "fp_sandbox"}
        first_delay = reply.first_token_delay_ms if reply.first_token_delay_ms is not None \
            else self.first_token_delay_ms
        per_token = (reply.token_delay_ms if reply.token_delay_ms is not None else self.token_delay_ms) / 1000

        async def send(delta: dict[str, Any] | None, finish: str | None = None, usage: Any = None,
                       empty_choices: bool = False) -> None:
            chunk = dict(base)
            chunk["choices"] = [] if empty_choices else [
                {"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}]
            if include_usage:
                chunk["usage"] = usage
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())

        text = reply.text
        if text is None and not reply.tool_calls:
            text = dev_reply(body).text or ""
        n_tokens = 0
        try:
            await asyncio.sleep(first_delay / 1000)
            rec.first_token_at = time.monotonic()
            if text is not None:
                await send({"role": "assistant", "content": ""})
                for i, tok in enumerate(tokens(text)):
                    if i:
                        await asyncio.sleep(per_token)
                    await send({"content": tok})
                    n_tokens += 1
            for index, (cid, tc) in enumerate(zip(self._ids_for(reply), reply.tool_calls, strict=True)):
                first: dict[str, Any] = {"tool_calls": [{"index": index, "id": cid, "type": "function",
                                                         "function": {"name": tc.name, "arguments": ""}}]}
                if text is None and index == 0:
                    first = {"role": "assistant", "content": None, **first}
                await send(first)
                args = tc.arguments_json()
                for start in range(0, len(args), 8):
                    await asyncio.sleep(per_token)
                    await send({"tool_calls": [{"index": index, "function": {"arguments": args[start:start + 8]}}]})
                    n_tokens += 1
            await send({}, finish="tool_calls" if reply.tool_calls else "stop")
            if include_usage:
                await send(None, usage=self._usage(body, n_tokens), empty_choices=True)
            await resp.write(b"data: [DONE]\n\n")
            rec.finished = True
            with contextlib.suppress(ConnectionError):
                await resp.write_eof()
        except ConnectionError:
            rec.cancelled = True
        except asyncio.CancelledError:
            rec.cancelled = True
            raise
        return resp
