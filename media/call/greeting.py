"""The first message played straight onto the stream as its audio arrives, and what the caller heard of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from pipecat.processors.aggregators.llm_context import LLMContext

GREETING_CHUNK = 800  # bytes = 100 ms of mu-law per media message (one mark each)
MARK_PREFIX = "greet-"
# How long a call waits for the greeting's first audio before the pipeline's TTS says it instead.
FIRST_AUDIO_WAIT_SECONDS = 3.0


class GreetingAudio:
    """The first message's mu-law audio as it arrives from the TTS (or all at once from a cache or the
    store): readers get it from the start in ``GREETING_CHUNK`` pieces, then each new piece as it comes,
    so playback starts with the first chunk instead of waiting for the whole clip."""

    def __init__(self) -> None:
        self._data = bytearray()
        self.done = False
        self.failed = False
        self._changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None  # the synthesis feeding it (a strong reference)

    @classmethod
    def whole(cls, audio: bytes) -> GreetingAudio:
        """Audio that is already complete."""
        ready = cls()
        ready.feed(audio)
        ready.finish()
        return ready

    def feed(self, data: bytes) -> None:
        """More audio arrived."""
        if data and not self.done:
            self._data += data
            self._wake()

    def finish(self, *, failed: bool = False) -> None:
        """No more audio will come (``failed``: the synthesis broke off)."""
        if not self.done:
            self.done, self.failed = True, failed
            self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def audio(self) -> bytes:
        """Everything received so far."""
        return bytes(self._data)

    def complete(self) -> bytes | None:
        """The whole clip, once it arrived without a failure."""
        return bytes(self._data) if self.done and not self.failed and self._data else None

    def total_chunks(self) -> int | None:
        """How many chunks the whole clip makes (None while it is still arriving)."""
        return -(-len(self._data) // GREETING_CHUNK) if self.done else None

    async def first_audio(self, timeout: float) -> bool:  # noqa: ASYNC109 - a bound on the wait, not a deadline to share
        """Wait (bounded) for the first audio: False when none came (the synthesis failed or is too slow)."""
        try:
            async with asyncio.timeout(timeout):
                while not self._data and not self.done:
                    await self._changed.wait()
        except TimeoutError:
            pass
        return bool(self._data)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The audio from its start in ``GREETING_CHUNK`` pieces, each as soon as it is whole (the last
        one may be shorter), until the synthesis is done."""
        sent = 0
        while True:
            size = len(self._data)
            while size - sent >= GREETING_CHUNK or (self.done and sent < size):
                yield bytes(self._data[sent:sent + GREETING_CHUNK])
                sent = min(size, sent + GREETING_CHUNK)
            if self.done and sent >= len(self._data):
                return
            if len(self._data) == size:
                await self._changed.wait()


@dataclass
class Greeting:
    """A greeting sent as 100 ms chunks, each followed by a mark: the echoed marks tell exactly how
    much of it the caller heard if they barge in."""

    text: str
    chunks: int = 0  # sent so far
    heard: str = ""
    played_chunks: int = 0
    cleared_at: float | None = None
    index: int | None = None  # its message in the context, once recorded
    truncated: bool = False
    streaming: bool = True  # more chunks may still come
    total: int | None = None  # chunks of the whole clip, once known
    _context: LLMContext | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.heard = self.text

    @staticmethod
    def split(audio: bytes) -> list[bytes]:
        """The audio as the chunks sent, in order."""
        return [audio[i:i + GREETING_CHUNK] for i in range(0, len(audio), GREETING_CHUNK)]

    def sent_all(self, total: int | None) -> None:
        """Nothing more will be sent; ``total`` is the whole clip's chunk count when known (a greeting cut
        while its audio was still arriving learns its length later, and what was heard is recomputed)."""
        self.streaming = False
        self.total = total if total is not None else self.chunks
        if self.truncated:
            self._apply_heard()

    @staticmethod
    def mark_name(index: int) -> str:
        """The mark sent after chunk ``index``."""
        return f"{MARK_PREFIX}{index}"

    def on_mark(self, name: str) -> None:
        """A greeting mark echoed before any clear: that chunk was played."""
        if name.startswith(MARK_PREFIX) and self.cleared_at is None:
            self.played_chunks = max(self.played_chunks, int(name[len(MARK_PREFIX):]) + 1)

    def note_clear(self, now: float) -> None:
        """Marks echoed after a clear mean "discarded", not "played"."""
        if self.cleared_at is None:
            self.cleared_at = now

    def playing(self) -> bool:
        """Is some of it still queued at Twilio (or still arriving)?"""
        return self.cleared_at is None and (self.streaming or self.played_chunks < self.chunks)

    def record(self, context: LLMContext) -> None:
        """Add what was heard to the conversation, once."""
        if self.index is not None or not self.heard:
            return
        context.add_message({"role": "assistant", "content": self.heard})
        self.index = len(context.get_messages()) - 1

    def truncate(self, context: LLMContext | None, now: float) -> bool:
        """The caller barged in: keep only the words heard. True when Twilio must be told to clear."""
        if self.truncated or (not self.streaming and self.played_chunks >= self.chunks):
            return False
        self.truncated = True
        self.note_clear(now)
        self._context = context
        self._apply_heard()
        return True

    def _apply_heard(self) -> None:
        """The played share of the whole clip's chunks, as words, into the recorded message."""
        words = self.text.split()
        whole = max(1, self.total or self.chunks)
        self.heard = " ".join(words[: int(len(words) * min(self.played_chunks, whole) / whole)])
        context = self._context
        if self.index is not None and context is not None:
            msgs = context.get_messages()
            if self.index < len(msgs):
                if self.heard:
                    msgs[self.index]["content"] = self.heard  # pyright: ignore[reportIndexIssue] - the greeting the call added is a standard message
                else:
                    msgs.pop(self.index)
                    self.index = None
                context.set_messages(msgs)
