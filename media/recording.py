"""Call recording: the caller and the agent as a stereo track, stored at call end.

Hook points (wired in ``media/session.py`` and ``media/processors.py``):
- ``start(plan)`` returns a ``Recorder`` when this call is recorded, else None;
- ``Recorder.caller(ulaw, timestamp_ms)`` for every inbound Twilio media frame;
- ``Recorder.agent(ulaw)`` for every outbound media payload (pipeline speech and the greeting);
- ``Recorder.clear()`` when Twilio is told to drop queued agent audio;
- ``await store(session)`` at the end returns the fields to put on the call row (or {}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from media.plan import CallPlan
    from media.session import CallSession


class Recorder:
    def caller(self, ulaw: bytes, timestamp_ms: int | None) -> None:
        pass

    def agent(self, ulaw: bytes) -> None:
        pass

    def clear(self) -> None:
        pass


def start(plan: CallPlan) -> Recorder | None:
    return None


async def store(session: CallSession) -> dict[str, Any]:
    return {}
