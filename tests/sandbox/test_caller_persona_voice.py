"""What the eval callers need from the sandbox: the OpenAI fake playing a persona caller (through the real
openai SDK), speech at a pace (espeak-ng's rate; ElevenLabs' ``voice_settings.speed``), an espeak-ng voice
for a caller's voice/language, and scripts posted with them."""

from __future__ import annotations

import aiohttp
import pytest
from elevenlabs import AsyncElevenLabs
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from sandbox import audio
from sandbox.elevenlabs import FakeElevenLabsStream
from sandbox.openai_llm import CALLER_DONE, FakeOpenAI

END_CALL: ChatCompletionToolParam = {"type": "function", "function": {
    "name": "end_call", "description": "hang up", "parameters": {"type": "object", "properties": {}}}}
PERSONA = ("You are the caller on a phone call. You don't know your policy number; ask to 'book a cleaning' "
           "and say \"Tuesday afternoon works\" when asked for a time.")


@pytest.fixture
def openai_fake(registry):
    with FakeOpenAI(registry=registry, first_token_delay_ms=0, token_delay_ms=0) as server:
        yield server


async def _reply(fake: FakeOpenAI, history: list[ChatCompletionMessageParam]) -> tuple[str | None, list[str]]:
    sdk = AsyncOpenAI(base_url=f"{fake.url}/v1", api_key="sk-test", max_retries=0)
    done = await sdk.chat.completions.create(model="gpt-4o-mini", tools=[END_CALL],
                                             messages=[{"role": "system", "content": PERSONA}, *history])
    message = done.choices[0].message
    return message.content, [tc.function.name for tc in message.tool_calls or [] if tc.type == "function"]


async def test_a_persona_prompt_gets_the_callers_quoted_phrases_in_turn_then_goodbye_and_hang_up(openai_fake):
    history: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi, thanks for calling Acme."}]
    said = []
    for agent_line in ["When would you like to come?", "Booked. Anything else?"]:
        text, tools = await _reply(openai_fake, history)
        assert tools == []
        said.append(text)
        history.append({"role": "assistant", "content": text or ""})
        history.append({"role": "user", "content": agent_line})
    text, _ = await _reply(openai_fake, history)
    said.append(text)
    assert said == ["book a cleaning", "Tuesday afternoon works", CALLER_DONE]
    # Once a goodbye was said, the caller hangs up through the tool it was offered.
    history.append({"role": "assistant", "content": CALLER_DONE})
    history.append({"role": "user", "content": "Goodbye!"})
    assert await _reply(openai_fake, history) == (None, ["end_call"])


async def test_an_agents_prompt_still_gets_the_agent_responder(openai_fake):
    sdk = AsyncOpenAI(base_url=f"{openai_fake.url}/v1", api_key="sk-test", max_retries=0)
    done = await sdk.chat.completions.create(model="gpt-4o-mini", messages=[
        {"role": "system", "content": "You are the receptionist of Acme Dental."},
        {"role": "user", "content": "book a cleaning"}])
    assert done.choices[0].message.content == "Got it, you said: book a cleaning."


def test_pace_changes_the_speech_duration_and_the_voice_follows_voice_and_language():
    text = "I would like to book a cleaning next week."
    slow, normal, fast = (audio.duration_ms(audio.speak(text, speed=s)) for s in (0.6, 1.0, 1.6))
    assert slow > normal * 1.3 and fast < normal * 0.8
    assert audio.espeak_voice() == audio.DEFAULT_VOICE
    assert audio.espeak_voice(None, "de-DE") == "de"
    assert audio.espeak_voice("f3", "fr") == "fr+f3"
    assert audio.espeak_voice("en-gb") == "en-gb"
    assert audio.espeak_voice("21m00Tcm4TlvDq8ikWAM", "es") == "es"  # an ElevenLabs id: the language's voice
    assert audio.speak("Hola", audio.espeak_voice(None, "es")) != audio.speak("Hola")


async def test_elevenlabs_fake_speaks_at_the_requested_voice_settings_speed(registry):
    with FakeElevenLabsStream(registry=registry, first_byte_delay_ms=0) as fake:
        el = AsyncElevenLabs(api_key="xi-test-key", base_url=fake.url)

        async def render(speed: float) -> bytes:
            chunks = [c async for c in el.text_to_speech.stream(
                voice_id="caller-voice", text="Tuesday afternoon works for me.", output_format="ulaw_8000",
                voice_settings={"speed": speed})]  # type: ignore[arg-type] - the SDK accepts the dict form
            return b"".join(chunks)

        slow, fast = await render(0.7), await render(1.2)
    assert audio.duration_ms(slow) > audio.duration_ms(fast) * 1.3
    assert [r["body"]["voice_settings"]["speed"] for r in fake.http_requests] == [0.7, 1.2]


async def test_scripts_carry_the_callers_voice_and_pace():
    from sandbox.run import SandboxControl

    with SandboxControl() as control:
        async with aiohttp.ClientSession() as http:
            ok = await http.post(f"{control.url}/sandbox/scripts", json={
                "to": "+12025550101", "lines": ["Hi"], "voice": "f3", "language": "de-DE", "pace": 1.5})
            bad = await http.post(f"{control.url}/sandbox/scripts", json={
                "to": "+12025550102", "lines": ["Hi"], "pace": 3})
            assert ok.status == 201 and bad.status == 400
            assert (await bad.json())["error"] == "invalid_request"
    assert control.book.take_voice("+12025550101") == {"voice": "de+f3", "speed": 1.5}
    assert control.book.take_voice("+12025550102") == {}
