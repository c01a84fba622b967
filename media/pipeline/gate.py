"""Small processors around the LLM: latency probes and the gate that holds a speculative reply."""

from __future__ import annotations

from collections.abc import Callable

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    StartFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


class Probe(FrameProcessor):
    """Passes every frame on; reports the first frame of a kind to the session (latency marks)."""

    def __init__(self, name: str, on_frame: Callable[[str, Frame], None]) -> None:
        super().__init__(name=f"probe-{name}")  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self._probe = name
        self._on_frame = on_frame

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, (LLMTextFrame, TTSAudioRawFrame, LLMFullResponseEndFrame)):
            self._on_frame(self._probe, frame)
        await self.push_frame(frame, direction)


class SpeculationGate(FrameProcessor):
    """Between LLM and TTS: holds a speculative reply until the final transcript confirms it.

    ``hold()`` starts buffering downstream frames; ``release()`` lets them (and what follows) through;
    ``drop()`` discards them (the brain interrupts the speculative LLM run separately).
    """

    def __init__(self) -> None:
        super().__init__(name="speculation-gate")  # pyright: ignore[reportUnknownMemberType] - Pipecat's **kwargs
        self.holding = False
        self._held: list[Frame] = []

    def hold(self) -> None:
        self.holding = True
        self._held = []

    async def release(self) -> None:
        self.holding = False
        held, self._held = self._held, []
        for frame in held:
            await self.push_frame(frame)

    def drop(self) -> None:
        self.holding = False
        self._held = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            self._held = []
        if (self.holding and direction == FrameDirection.DOWNSTREAM
                and not isinstance(frame, (InterruptionFrame, StartFrame, EndFrame, CancelFrame))
                and not frame.__class__.__name__.endswith("SystemFrame")):
            self._held.append(frame)
            return
        await self.push_frame(frame, direction)
