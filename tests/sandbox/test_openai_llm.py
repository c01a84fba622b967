"""The OpenAI fake driven by the real openai SDK, plus raw SSE wire checks."""

from __future__ import annotations

import json
import time

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionToolParam
from pydantic import BaseModel

from sandbox.openai_llm import FakeOpenAI, ToolCall, example_for_schema

END_CALL: ChatCompletionToolParam = {"type": "function", "function": {"name": "endCall", "description": "hang up",
                                             "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture
def fake(registry):
    with FakeOpenAI(registry=registry, first_token_delay_ms=100, token_delay_ms=5) as server:
        yield server


def sdk(fake: FakeOpenAI, key: str = "sk-test") -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{fake.url}/v1", api_key=key, max_retries=0)


async def test_streaming_dev_responder_text_and_usage(fake):
    started = time.monotonic()
    stream = await sdk(fake).chat.completions.create(
        model="gpt-4o-mini", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "I want a table for two"}])
    chunks = [c async for c in stream]
    elapsed = time.monotonic() - started
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Got it, you said: I want a table for two."
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None and usage.completion_tokens == 10
    assert len({c.id for c in chunks}) == 1
    assert 0.1 <= elapsed < 1.5
    assert fake.completions[0].headers["authorization"] == "Bearer sk-test"


async def test_goodbye_calls_end_call_tool_with_fragments(fake):
    stream = await sdk(fake).chat.completions.create(
        model="gpt-4o-mini", stream=True, tools=[END_CALL],
        messages=[{"role": "user", "content": "Thanks, goodbye!"}])
    chunks = [c async for c in stream]
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    first = calls[0]
    assert first.function is not None and first.id is not None
    assert first.function.name == "endCall" and first.id.startswith("call_")
    assert "".join(tc.function.arguments or "" for tc in calls if tc.function) == "{}"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_scripted_rule_tool_call_arguments_split_on_wire(fake):
    fake.add_rule(call_id="call-42", contains="billing",
                  tool_calls=[ToolCall("transfer_call", {"reason": "billing issue", "priority": 2})])
    body = {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "system", "content": "You are an agent. call_id=call-42"},
                         {"role": "user", "content": "I have a billing question"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{fake.url}/v1/chat/completions", json=body,
                             headers={"Authorization": "Bearer k"}) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            raw = (await resp.read()).decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    first = chunks[0]["choices"][0]["delta"]
    assert first["role"] == "assistant" and first["content"] is None
    assert first["tool_calls"][0]["function"] == {"name": "transfer_call", "arguments": ""}
    frags = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-2]]
    assert len(frags) >= 2 and all(set(f) == {"index", "function"} for f in frags)
    assert json.loads("".join(f["function"]["arguments"] for f in frags)) == {"reason": "billing issue",
                                                                              "priority": 2}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls" and chunks[-2]["usage"] is None
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    # another call's conversation does not match the rule
    other = await sdk(fake).chat.completions.create(model="m", messages=[
        {"role": "system", "content": "call_id=call-7"}, {"role": "user", "content": "billing"}])
    assert other.choices[0].message.tool_calls is None


class Analysis(BaseModel):
    sentiment: str
    resolved: bool
    score: int
    topics: list[str]


async def test_structured_output_parse_and_scripted_json(fake):
    parsed = await sdk(fake).chat.completions.parse(
        model="gpt-4o-mini", response_format=Analysis,
        messages=[{"role": "system", "content": "Extract"}, {"role": "user", "content": "transcript..."}])
    value = parsed.choices[0].message.parsed
    assert isinstance(value, Analysis) and value.resolved is True and value.topics
    fake.add_rule(contains="transcript", json_content={"sentiment": "positive", "resolved": False, "score": 9,
                                                       "topics": ["booking"]})
    parsed = await sdk(fake).chat.completions.parse(
        model="gpt-4o-mini", response_format=Analysis, messages=[{"role": "user", "content": "transcript 2"}])
    analysis = parsed.choices[0].message.parsed
    assert analysis is not None and analysis.score == 9


@pytest.mark.integration  # serves a socket in the test body
async def test_auth_and_scripted_failure(registry):
    with FakeOpenAI(registry=registry, api_key="sk-right", first_token_delay_ms=0) as strict:
        with pytest.raises(openai.AuthenticationError):
            await sdk(strict, key="sk-wrong").chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}])
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{strict.url}/v1/chat/completions", json={}) as resp:
                assert resp.status == 401 and (await resp.json())["error"]["code"] == "invalid_api_key"


async def test_scripted_failure(fake):
    fake.add_rule(contains="boom", status=500, times=1)
    with pytest.raises(openai.InternalServerError):
        await sdk(fake).chat.completions.create(model="m", messages=[{"role": "user", "content": "boom"}])
    ok = await sdk(fake).chat.completions.create(model="m", messages=[{"role": "user", "content": "boom"}])
    assert ok.choices[0].message.content == "Got it, you said: boom."


def test_example_for_schema_handles_refs_and_nullable():
    schema = {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"anyOf": [{"type": "null"},
              {"type": "number"}]}, "c": {"type": "string", "enum": ["x", "y"]}},
              "$defs": {"A": {"type": "object", "properties": {"d": {"type": "string", "format": "date"}}}}}
    assert example_for_schema(schema) == {"a": {"d": "2025-01-01"}, "b": 1.0, "c": "x"}
