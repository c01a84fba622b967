"""Capacity of one media process (MEDIA_MAX_CALLS): readiness, prepare and stream admission (docs/media.md)."""

from __future__ import annotations

import asyncio

import pytest

from media.settings import CALLS_PER_CORE, MediaSettings, available_cpus
from tests.media.conftest import ORG, wait_for
from tests.media.test_e2e_basic import ASSISTANT
from tests.media.test_e2e_control import control
from tests.media.test_server_ops import _get


def test_capacity_setting_defaults_to_calls_per_core_times_cores(monkeypatch):
    monkeypatch.delenv("MEDIA_MAX_CALLS", raising=False)
    assert MediaSettings().max_calls == CALLS_PER_CORE * available_cpus()
    monkeypatch.setenv("MEDIA_CALLS_PER_CORE", "12")
    assert MediaSettings().max_calls == 12 * available_cpus()
    monkeypatch.setenv("MEDIA_MAX_CALLS", "7")
    assert MediaSettings().max_calls == 7
    monkeypatch.setenv("MEDIA_MAX_CALLS", "0")
    with pytest.raises(ValueError, match="media_max_calls"):
        MediaSettings()


def test_at_capacity_readiness_is_503_prepare_is_refused_and_extra_streams_are_closed(stack):
    stack.media.media.max_calls = 1
    live_id, live_token = stack.call(ASSISTANT)
    waiting_id, waiting_token = stack.call(ASSISTANT)
    url = stack.media.http_url
    assert _get(url + "/readyz") == (200, {"status": "ok", "active_calls": 0, "callers": 0, "reserved": 0,
                                           "max_calls": 1})

    async def scenario():
        c = stack.caller(live_id, live_token)
        await c.connect()
        assert await c.wait_agent_turn(c.log.started_at, timeout=10) is not None
        ready = await asyncio.to_thread(_get, url + "/readyz")
        health = await asyncio.to_thread(_get, url + "/healthz")
        refused = await control(stack, waiting_id, {"org_id": ORG}, path="prepare")
        extra = stack.caller(waiting_id, waiting_token)
        code = None
        try:
            await extra.connect()
            await asyncio.wait_for(extra.closed.wait(), 5)
        except Exception as exc:  # noqa: BLE001 - a refused upgrade shows as the client's handshake error
            code = getattr(getattr(exc, "rcvd", None), "code", type(exc).__name__)
        if code is None and extra._ws is not None:
            code = extra._ws.close_code
        await c.hang_up()
        return ready, health, refused, code

    ready, health, refused, code = asyncio.run(scenario())
    # The load balancer's readiness check says "no more"; liveness stays fine (the task is not broken).
    assert ready == (503, {"status": "full", "active_calls": 1, "callers": 0, "reserved": 0, "max_calls": 1})
    assert health == (200, {"status": "ok", "active_calls": 1})
    # Ring-time admission refused in the contract's error shape: the control plane asks another task.
    assert refused == (503, {"error": "capacity_exceeded", "message": "This media task is at capacity or draining."})
    assert waiting_id not in stack.media.media.prepared
    # A stream beyond capacity is closed with 1013 (try again later) and its call row is not touched.
    assert code == 1013
    assert stack.media.media.stats.refused_streams == 1 and stack.media.media.stats.refused_prepares == 1
    assert stack.row(waiting_id).status == "queued"
    row = stack.wait_ended(live_id)
    assert row.data["end_reason"] == "customer_hangup"
    wait_for(lambda: _get(url + "/readyz")[0] == 200, 5)


def test_ring_time_admissions_count_toward_capacity(stack):
    stack.media.media.max_calls = 1
    first, _ = stack.call(ASSISTANT)
    second, _ = stack.call(ASSISTANT)

    async def scenario():
        return (await control(stack, first, {"org_id": ORG}, path="prepare"),
                await control(stack, first, {"org_id": ORG}, path="prepare"),
                await control(stack, second, {"org_id": ORG}, path="prepare"))

    admitted, repeated, refused = asyncio.run(scenario())
    assert admitted[0] == 202 and repeated[0] == 200  # the same call asking again keeps its slot
    assert refused[0] == 503 and refused[1]["error"] == "capacity_exceeded"
    ready = _get(stack.media.http_url + "/readyz")
    assert ready[0] == 503 and ready[1]["reserved"] == 1
