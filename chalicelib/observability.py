"""Powertools Logger, Tracer and Metrics: created once, used everywhere.

The Tracer imports the X-Ray SDK (~100 ms of cold start), so it is built only when tracing is on
(``POWERTOOLS_TRACE_DISABLED=false``, set per stage in .chalice/config.json). Metrics go out as
CloudWatch EMF lines on Lambda; locally ``POWERTOOLS_METRICS_DISABLED=true`` keeps them quiet.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "voice-api")

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "VoicePlatform"))


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() in {"false", "0", "no"}


@lru_cache(maxsize=1)
def get_tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def count_request(status: int) -> None:
    """One EMF count per API response, by status class (2xx/4xx/5xx).

    Only inside Lambda, where the log_metrics middleware flushes after every invocation; elsewhere
    (dev server, tests, benchmarks) nothing would flush them and they would pile up.
    """
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric(name=f"Api{status // 100}xx", unit=MetricUnit.Count, value=1)


def mask_number(number: str | None) -> str | None:
    """Mask a phone number for logs (GDPR mode): keep the country prefix and last two digits."""
    if not number:
        return number
    if len(number) <= 5:
        return "***"
    return number[:3] + "*" * (len(number) - 5) + number[-2:]
