"""A ring-time preparation whose connections are still opening when the stream takes it (``Prepared``)."""

from __future__ import annotations

import asyncio

from media.call.prepared import Prepared
from media.plan import build_plan
from media.providers.ringtime import Warm
from tests.media.conftest import ASSISTANT_MIN, ORG


def _plan():
    return build_plan(ORG, "call-1", "outbound", {"config": ASSISTANT_MIN})


def test_a_warm_up_still_opening_is_waited_for_briefly_then_closed_when_it_ends():
    async def scenario() -> tuple[Warm | None, Warm | None, bool]:
        opened = asyncio.Event()
        warm = Warm()

        async def slow_warm_up() -> Warm:
            await opened.wait()
            return warm

        task = asyncio.create_task(slow_warm_up())
        prepared = Prepared(plan=_plan(), greeting=None, warming=task)
        task.add_done_callback(prepared.warm_up_done)
        too_slow = await prepared.warmed(0.05)  # the call connects its own
        settled_before = prepared.settled()
        opened.set()
        await prepared.aclose()  # waits for it, then closes what no call adopted
        return too_slow, prepared.warm, settled_before

    too_slow, warm, settled_before = asyncio.run(scenario())
    assert too_slow is None and warm is not None and not settled_before


def test_a_failed_or_cancelled_warm_up_holds_nothing_and_never_raises():
    async def scenario() -> tuple[Warm | None, Warm | None]:
        async def broken() -> Warm:
            raise OSError("refused")

        failed = asyncio.create_task(broken())
        cancelled = asyncio.create_task(asyncio.sleep(10))
        cancelled.cancel()
        first = Prepared(plan=_plan(), greeting=None, warming=failed)
        second = Prepared(plan=_plan(), greeting=None, warming=cancelled)  # pyright: ignore[reportArgumentType]
        got = await first.warmed(1.0)
        await second.aclose()
        return got, second.warm

    assert asyncio.run(scenario()) == (None, None)
