"""The greeting's audio as it arrives (``GreetingAudio``), what was heard of a greeting cut while it was
still arriving (``Greeting``), and the process's greeting cache (``GreetingCache``): bytes in, chunks out."""

from __future__ import annotations

import asyncio

from pipecat.processors.aggregators.llm_context import LLMContext

from media.call.greeting import GREETING_CHUNK, Greeting, GreetingAudio
from media.providers.greeting_cache import GreetingCache


def test_chunks_follow_the_audio_as_it_arrives_in_order_and_whole():
    data = bytes(range(256)) * 10  # 2560 bytes: three whole chunks and a 160-byte tail

    async def scenario() -> list[bytes]:
        audio = GreetingAudio()
        got: list[bytes] = []

        async def read() -> None:
            async for chunk in audio.chunks():
                got.append(chunk)

        reader = asyncio.create_task(read())
        for piece in (data[:100], data[100:1700], data[1700:1701], data[1701:]):  # odd sizes, like HTTP chunks
            audio.feed(piece)
            await asyncio.sleep(0)
        assert len(got) == 3  # whole chunks go out at once; the tail waits for more or the end
        audio.finish()
        await reader
        return got

    got = asyncio.run(scenario())
    assert b"".join(got) == data
    assert [len(c) for c in got] == [GREETING_CHUNK] * 3 + [160]


def test_a_late_reader_gets_the_audio_from_its_start():
    async def scenario() -> tuple[list[bytes], bool, int | None]:
        audio = GreetingAudio()
        audio.feed(b"a" * 1000)
        got = [c async for c in _take(audio, 1)]
        audio.feed(b"b" * 600)
        audio.finish()
        got += [c async for c in audio.chunks()][1:]
        return got, await audio.first_audio(0.1), audio.total_chunks()

    got, has_audio, total = asyncio.run(scenario())
    assert b"".join(got) == b"a" * 1000 + b"b" * 600 and has_audio and total == 2


async def _take(audio: GreetingAudio, n: int):
    i = 0
    async for chunk in audio.chunks():
        yield chunk
        i += 1
        if i == n:
            return


def test_first_audio_is_false_when_the_synthesis_failed_or_is_too_slow():
    async def scenario() -> tuple[bool, bool, bytes | None]:
        failed, slow = GreetingAudio(), GreetingAudio()
        failed.finish(failed=True)
        return await failed.first_audio(1.0), await slow.first_audio(0.05), failed.complete()

    assert asyncio.run(scenario()) == (False, False, None)


def test_a_greeting_cut_while_arriving_keeps_the_heard_share_of_the_whole_clip():
    text = "one two three four five six seven eight nine ten"
    context = LLMContext([{"role": "system", "content": "x"}])
    greeting = Greeting(text=text)
    greeting.record(context)
    greeting.chunks = 4  # sent so far; the clip is still arriving
    for i in range(2):
        greeting.on_mark(Greeting.mark_name(i))
    assert greeting.playing()
    assert greeting.truncate(context, now=1.0)
    assert last_content(context) == "one two three four five"  # 2 of 4 chunks known so far
    greeting.sent_all(total=10)  # the whole clip was 10 chunks: 2 played is a fifth of it
    assert last_content(context) == "one two"
    assert not greeting.playing()


def last_content(context) -> object:
    message = context.get_messages()[-1]
    assert isinstance(message, dict)
    return message.get("content")


def test_a_greeting_fully_played_is_not_cut():
    greeting = Greeting(text="hello there")
    greeting.chunks = 2
    greeting.sent_all(total=2)
    greeting.on_mark(Greeting.mark_name(1))
    assert not greeting.playing() and not greeting.truncate(None, now=1.0)


def test_cache_keeps_the_most_recently_used_within_its_byte_budget():
    cache = GreetingCache(max_bytes=3000, max_item_bytes=1500)
    cache.put(("org-a", "f1"), b"1" * 1000)
    cache.put(("org-a", "f2"), b"2" * 1000)
    assert cache.get(("org-a", "f1")) == b"1" * 1000  # now the most recently used
    cache.put(("org-a", "f3"), b"3" * 1500)  # over budget: the least recently used (f2) goes
    assert cache.get(("org-a", "f2")) is None
    assert cache.get(("org-a", "f1")) is not None and cache.get(("org-a", "f3")) is not None
    cache.put(("org-a", "big"), b"x" * 1501)  # longer than an item may be: not kept
    assert cache.get(("org-a", "big")) is None
    assert cache.get(("org-b", "f1")) is None  # keyed by org: nothing crosses tenants
