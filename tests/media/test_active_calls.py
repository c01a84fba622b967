"""ActiveCalls: the per-task metric the autoscaling policy tracks, published to (moto's) CloudWatch."""

from __future__ import annotations

import asyncio
import datetime as dt
import time


def _datapoints(service: str) -> list[dict]:
    from chalicelib.aws import client

    now = dt.datetime.now(dt.UTC)
    out = client("cloudwatch").get_metric_statistics(
        Namespace="VoicePlatform", MetricName="ActiveCalls", Dimensions=[{"Name": "Service", "Value": service}],
        StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=5), Period=60,
        Statistics=["Maximum", "Minimum", "SampleCount"])
    return out["Datapoints"]


def test_publishes_on_change_and_periodically(aws):
    from chalicelib.aws import client
    from media.active_calls import ActiveCallsPublisher

    calls: list[str] = []
    publisher = ActiveCallsPublisher(namespace="VoicePlatform", name="ActiveCalls", service="voice-media-test",
                                     count=calls.__len__, period=0.05)

    async def scenario() -> None:
        periodic = asyncio.create_task(publisher.run())
        await asyncio.sleep(0.2)  # a few idle datapoints (0)
        calls.append("c1")
        publisher.changed()
        await asyncio.sleep(0.1)
        periodic.cancel()
        await publisher.publish()

    asyncio.run(scenario())
    metrics = client("cloudwatch").list_metrics(Namespace="VoicePlatform")["Metrics"]
    assert {"Namespace": "VoicePlatform", "MetricName": "ActiveCalls",
            "Dimensions": [{"Name": "Service", "Value": "voice-media-test"}]} in metrics
    [point] = _datapoints("voice-media-test")
    assert point["Maximum"] == 1.0 and point["SampleCount"] >= 3


def test_a_failing_put_never_raises(monkeypatch):
    from media.active_calls import ActiveCallsPublisher

    publisher = ActiveCallsPublisher(namespace="VoicePlatform", name="ActiveCalls", service="s", count=lambda: 1)

    def refuse(value: int) -> None:
        raise ConnectionError("no endpoint")

    monkeypatch.setattr(publisher, "_put", refuse)
    asyncio.run(publisher.publish())  # logged, not raised: calls go on


def test_dimension_matches_the_stack():
    from infra.config import ACTIVE_CALLS_DIMENSION
    from media.active_calls import DIMENSION

    assert DIMENSION == ACTIVE_CALLS_DIMENSION


def test_a_call_shows_in_the_metric(stack):
    from media.active_calls import ActiveCallsPublisher
    from tests.media.conftest import ASSISTANT_MIN

    media = stack.media.media
    media.active_calls = ActiveCallsPublisher(namespace="VoicePlatform", name="ActiveCalls",
                                              service="voice-media-call", count=media.sessions.__len__)
    call_id, token = stack.call(ASSISTANT_MIN)

    async def scenario() -> None:
        c = stack.caller(call_id, token)
        await c.connect()
        assert await c.wait_agent_turn(c.log.started_at, timeout=10) is not None
        await c.hang_up()

    asyncio.run(scenario())
    stack.wait_ended(call_id)
    for _ in range(100):  # the end-of-call datapoint is published from the server's loop
        points = _datapoints("voice-media-call")
        if points and points[0]["SampleCount"] >= 2:
            break
        time.sleep(0.05)
    [point] = _datapoints("voice-media-call")
    assert (point["Maximum"], point["Minimum"], point["SampleCount"]) == (1.0, 0.0, 2.0)
