"""This task's live-call count (eval callers running here included) as the CloudWatch metric the stack's
autoscaling policy tracks.

Published every ``period`` seconds and whenever the count changes (PutMetricData runs in a thread:
boto3 blocks). The stack passes namespace, metric name and service (``ACTIVE_CALLS_METRIC_*``); the
dimension name matches ``infra.config.ACTIVE_CALLS_DIMENSION`` (a test checks they agree).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("voice.media.active_calls")

DIMENSION = "Service"
PERIOD_SECONDS = 60.0


class ActiveCallsPublisher:
    def __init__(self, *, namespace: str, name: str, service: str, count: Callable[[], int],
                 period: float = PERIOD_SECONDS) -> None:
        self.namespace, self.name, self.service = namespace, name, service
        self.count = count
        self.period = period
        self._lock = asyncio.Lock()  # datapoints go out in the order the changes happened
        self._tasks: set[asyncio.Task[None]] = set()

    def changed(self) -> None:
        """The count changed: publish now, without blocking the caller (call on the event loop)."""
        task = asyncio.get_running_loop().create_task(self.publish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Publish every period until cancelled (an idle task still reports 0, so scale-in sees it)."""
        while True:
            await self.publish()
            await asyncio.sleep(self.period)

    async def publish(self) -> None:
        async with self._lock:
            value = self.count()
            try:
                await asyncio.to_thread(self._put, value)
            except Exception:  # a metric must never break calls; the next period retries
                log.warning("PutMetricData %s/%s failed", self.namespace, self.name, exc_info=True)

    def _put(self, value: int) -> None:
        from chalicelib.aws import client

        client("cloudwatch").put_metric_data(Namespace=self.namespace, MetricData=[{
            "MetricName": self.name, "Dimensions": [{"Name": DIMENSION, "Value": self.service}],
            "Value": float(value), "Unit": "Count"}])
