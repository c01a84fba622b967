"""Powertools Logger, Tracer and Metrics: created once, used everywhere.

Locally (no Lambda, no X-Ray daemon) the tracer is disabled via POWERTOOLS_TRACE_DISABLED and
metrics are only flushed when a namespace is configured.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "voice-api")

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE, disabled=os.environ.get("POWERTOOLS_TRACE_DISABLED", "true") == "true")
metrics = Metrics(service=SERVICE, namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "VoicePlatform"))


def mask_number(number: str | None) -> str | None:
    """Mask a phone number for logs (GDPR mode): keep the country prefix and last two digits."""
    if not number:
        return number
    if len(number) <= 5:
        return "***"
    return number[:3] + "*" * (len(number) - 5) + number[-2:]
