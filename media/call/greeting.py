"""The first message played straight onto the stream from ring-time audio, and what the caller heard of it."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.processors.aggregators.llm_context import LLMContext

GREETING_CHUNK = 800  # bytes = 100 ms of mu-law per media message (one mark each)
MARK_PREFIX = "greet-"


@dataclass
class Greeting:
    """A greeting sent as 100 ms chunks, each followed by a mark: the echoed marks tell exactly how
    much of it the caller heard if they barge in."""

    text: str
    chunks: int
    heard: str = ""
    played_chunks: int = 0
    cleared_at: float | None = None
    index: int | None = None  # its message in the context, once recorded
    truncated: bool = False

    def __post_init__(self) -> None:
        self.heard = self.text

    @staticmethod
    def split(audio: bytes) -> list[bytes]:
        """The audio as the chunks sent, in order."""
        return [audio[i:i + GREETING_CHUNK] for i in range(0, len(audio), GREETING_CHUNK)]

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
        """Is some of it still queued at Twilio?"""
        return self.cleared_at is None and self.played_chunks < self.chunks

    def record(self, context: LLMContext) -> None:
        """Add what was heard to the conversation, once."""
        if self.index is not None or not self.heard:
            return
        context.add_message({"role": "assistant", "content": self.heard})
        self.index = len(context.get_messages()) - 1

    def truncate(self, context: LLMContext | None, now: float) -> bool:
        """The caller barged in: keep only the words heard. True when Twilio must be told to clear."""
        if self.truncated or self.played_chunks >= self.chunks:
            return False
        self.truncated = True
        self.note_clear(now)
        words = self.text.split()
        self.heard = " ".join(words[: int(len(words) * self.played_chunks / max(1, self.chunks))])
        if self.index is not None and context is not None:
            msgs = context.get_messages()
            if self.index < len(msgs):
                if self.heard:
                    msgs[self.index]["content"] = self.heard  # pyright: ignore[reportIndexIssue] - the greeting the call added is a standard message
                else:
                    msgs.pop(self.index)
                context.set_messages(msgs)
        return True
