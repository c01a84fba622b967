"""Interruptions (media/pipeline/interrupt.py) against a recording playback: when the agent's audio is held,
resumed or cut, for each stop_speaking_plan setting. The wire behaviour is in test_e2e_interruptions.py."""

from __future__ import annotations

import asyncio
from typing import Any

from media.pipeline.interrupt import Interruptions
from media.plan import TurnSettings


class Playback:
    """Records what the output would do: held or not, and how often it resumed."""

    def __init__(self) -> None:
        self.held = False
        self.resumes = 0

    def hold(self) -> None:
        self.held = True

    async def resume(self) -> None:
        if self.held:
            self.held = False
            self.resumes += 1


class Brain:
    """The processor side: owns the tasks, broadcasts the interruption (which drops a hold, as the output does)."""

    def __init__(self, playback: Playback) -> None:
        self.playback = playback
        self.interruptions = 0

    def create_task(self, coro: Any, name: str | None = None) -> asyncio.Task[Any]:
        return asyncio.get_running_loop().create_task(coro, name=name)

    async def broadcast_interruption(self) -> None:
        self.interruptions += 1
        self.playback.held = False


class Call:
    def __init__(self, *, interruptible: bool = True) -> None:
        self._interruptible = interruptible
        self.barge_ins = 0

    def interruptible(self) -> bool:
        return self._interruptible

    def on_barge_in(self) -> None:
        self.barge_ins += 1


def make(settings: TurnSettings | None = None, *, interruptible: bool = True):
    playback = Playback()
    brain = Brain(playback)
    call = Call(interruptible=interruptible)
    parts = Interruptions(brain, call, settings or TurnSettings(backoff_seconds=0.2), playback)  # type: ignore[arg-type]
    return parts, playback, brain, call


async def test_voice_holds_only_after_voice_seconds_while_the_agent_speaks():
    parts, playback, _, _ = make(TurnSettings(voice_seconds=0.3, backoff_seconds=0.2))
    parts.on_voice(0.2, agent_speaking=True)
    assert not playback.held
    parts.on_voice(0.3, agent_speaking=False)  # nothing of ours is playing (the greeting is not held)
    assert not playback.held
    parts.on_voice(0.3, agent_speaking=True)
    assert playback.held
    parts.cancel()


async def test_a_closing_line_is_never_held():
    parts, playback, _, _ = make(interruptible=False)
    parts.on_voice(1.0, agent_speaking=True)
    assert not playback.held


async def test_interrupting_words_cut_the_held_reply():
    parts, playback, brain, call = make()
    parts.on_voice(0.2, agent_speaking=True)
    assert await parts.on_words("Wait, I need", agent_audible=True) is True
    assert (brain.interruptions, call.barge_ins, playback.held) == (1, 1, False)
    await asyncio.sleep(0.3)  # the backoff was cancelled: nothing resumes a cut reply
    assert playback.resumes == 0


async def test_a_backchannel_resumes_at_once_in_any_spelling():
    for word in ("mhm", "Mm-hmm.", "yeah", "Okay."):
        parts, playback, brain, _ = make(TurnSettings(backoff_seconds=5.0))
        parts.on_voice(0.25, agent_speaking=True)
        assert await parts.on_words(word, agent_audible=True) is False
        assert (playback.held, playback.resumes, brain.interruptions) == (False, 1, 0), word
        parts.cancel()


async def test_no_words_within_backoff_resumes_the_reply():
    parts, playback, brain, _ = make(TurnSettings(backoff_seconds=0.2))
    parts.on_voice(0.25, agent_speaking=True)
    await asyncio.sleep(0.1)
    assert playback.held
    await asyncio.sleep(0.2)
    assert (playback.held, playback.resumes, parts.resumed_silent, brain.interruptions) == (False, 1, 1, 0)


async def test_too_few_words_keep_the_hold_until_enough_words_or_the_backoff():
    parts, playback, brain, _ = make(TurnSettings(num_words=3, backoff_seconds=0.3))
    parts.on_voice(0.25, agent_speaking=True)
    assert await parts.on_words("wait", agent_audible=True) is False
    assert playback.held and brain.interruptions == 0
    assert await parts.on_words("wait I need", agent_audible=True) is True
    assert brain.interruptions == 1 and not playback.held

    parts, playback, brain, _ = make(TurnSettings(num_words=3, backoff_seconds=0.2))
    parts.on_voice(0.25, agent_speaking=True)
    await parts.on_words("wait", agent_audible=True)
    await asyncio.sleep(0.3)
    assert (playback.held, playback.resumes, brain.interruptions) == (False, 1, 0)


async def test_acknowledgement_phrases_of_the_assistant_never_interrupt():
    parts, playback, brain, _ = make(TurnSettings(acknowledgement_phrases=("I see",), backoff_seconds=5.0))
    parts.on_voice(0.25, agent_speaking=True)
    assert await parts.on_words("I see.", agent_audible=True) is False
    assert (playback.held, brain.interruptions) == (False, 0)
    parts.cancel()
